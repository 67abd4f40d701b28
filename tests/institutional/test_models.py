"""Model rules the admin relies on: one profile, valid patterns and template variables; the seed command."""

from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command

from institutional.builtin import BUILTIN_SLUGS
from institutional.models import CompanyProfile, Constraint, PromptTemplate, Release

from .factories import CompanyProfileFactory, ConstraintFactory

pytestmark = pytest.mark.django_db


def test_there_is_only_ever_one_company_profile():
    CompanyProfileFactory(name="Pyloto")
    CompanyProfile(name="Outra", description="x").save()
    assert CompanyProfile.objects.count() == 1
    assert CompanyProfile.objects.get().name == "Outra"


def test_a_constraint_with_an_invalid_pattern_or_no_check_is_refused():
    with pytest.raises(ValidationError, match="Expressão inválida"):
        ConstraintFactory.build(patterns="(aberto").full_clean()
    with pytest.raises(ValidationError, match="pelo menos uma frase"):
        ConstraintFactory.build(phrases="", patterns="").full_clean()
    ConstraintFactory.build(phrases="", patterns=r"\bpromo\w*").full_clean()


def test_a_template_accepts_only_the_variables_its_task_receives():
    PromptTemplate(name="decide_state", version="1", text="$context $allowed_states").full_clean()
    with pytest.raises(ValidationError, match="Variáveis desconhecidas"):
        PromptTemplate(name="write_reply", version="1", text="$context $allowed_states").full_clean()
    with pytest.raises(ValidationError, match=r"\$\$"):
        PromptTemplate(name="write_reply", version="1", text="custa $ 10").full_clean()


def test_seed_demo_command_publishes_once_then_reports_nothing_to_do(django_capture_on_commit_callbacks):
    out = StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("seed_demo", stdout=out)
    assert "Published institutional release 1" in out.getvalue()
    assert set(Constraint.objects.filter(is_builtin=True).values_list("slug", flat=True)) == BUILTIN_SLUGS

    out = StringIO()
    call_command("seed_demo", stdout=out)
    assert "nothing published" in out.getvalue()
    assert Release.objects.count() == 1
