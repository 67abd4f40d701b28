"""The product team's admin flow: edit, preview, publish, see it live, roll back; and what they cannot do."""

import pytest
from django.contrib.auth.models import Group
from django.test import RequestFactory
from django.urls import reverse

from institutional import selectors, services
from institutional.models import Faq, Release, ReleaseActivation
from institutional.permissions import PRODUCT_TEAM_GROUP, PRODUCT_TEAM_PERMISSIONS

from .factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def seeded(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        return services.demo_content_seed()


def _faq_form(faq: Faq, *, new_translations: tuple[dict, ...] = (), **changes) -> dict:
    """The FAQ's change form as the browser posts it, its translations inline (plus any new ones)."""
    data = {
        "question": faq.question,
        "answer": faq.answer,
        "keywords": faq.keywords,
        "priority": faq.priority,
        "is_active": "on" if faq.is_active else "",
    }
    data.update(changes)
    existing = [
        {"id": t.pk, "language": t.language, "question": t.question, "answer": t.answer, "keywords": t.keywords}
        for t in faq.translations.all()
    ]
    rows = [*existing, *new_translations]
    data.update(
        {
            "translations-TOTAL_FORMS": str(len(rows)),
            "translations-INITIAL_FORMS": str(len(existing)),
            "translations-MIN_NUM_FORMS": "0",
            "translations-MAX_NUM_FORMS": "1000",
        }
    )
    for index, row in enumerate(rows):
        data.update({f"translations-{index}-{key}": value for key, value in row.items()})
        data[f"translations-{index}-faq"] = faq.pk
    return {key: value for key, value in data.items() if value != ""}


def test_the_product_team_group_holds_exactly_its_permissions(product_user):
    group = Group.objects.get(name=PRODUCT_TEAM_GROUP)
    held = {
        f"{app}.{codename}" for app, codename in group.permissions.values_list("content_type__app_label", "codename")
    }
    assert held == set(PRODUCT_TEAM_PERMISSIONS)
    codenames = {permission.split(".", 1)[1] for permission in held}
    assert "delete_release" not in codenames and "change_release" not in codenames
    assert not any(codename.startswith("delete_") for codename in codenames)


def test_product_team_edits_an_faq_previews_publishes_sees_it_live_and_rolls_back(
    client, product_user, seeded, django_capture_on_commit_callbacks
):
    # django-axes watches every login: the test client passes a request like the login form does.
    assert client.login(request=RequestFactory().post("/admin/login/"), username="produto", password="s3cret-pass")
    faq = Faq.objects.get(question="Qual é o horário de atendimento?")

    # Edit the draft: nothing changes for the assistant yet.
    response = client.post(
        reverse("admin:institutional_faq_change", args=[faq.pk]),
        _faq_form(faq, answer="Atendemos de segunda a sábado, das 8h às 20h."),
    )
    assert response.status_code == 302, response.content[:2000]
    assert "segunda a sábado" not in selectors.current_release().prompt_context()

    # The preview shows the draft's context exactly as the LLM gets it, next to the live one.
    response = client.get(reverse("admin:institutional_release_preview"))
    assert response.status_code == 200
    draft_context = selectors.draft_snapshot().prompt_context()
    assert draft_context in response.content.decode() or _escaped(draft_context) in response.content.decode()
    assert "segunda a sábado" in response.content.decode()

    # The publish page shows what changes before it goes live.
    response = client.get(reverse("admin:institutional_release_publish"))
    assert response.status_code == 200
    assert "Qual é o horário de atendimento?" in response.content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("admin:institutional_release_publish"), {"note": "novo horário"})
    assert response.status_code == 302
    published = Release.objects.get(number=seeded.number + 1)
    assert published.created_by == product_user and published.note == "novo horário"
    # Live to the loader at once, without any restart.
    assert "segunda a sábado" in selectors.current_release().prompt_context()

    response = client.get(reverse("admin:institutional_release_change", args=[published.pk]))
    assert response.status_code == 200
    assert "Qual é o horário de atendimento?" in response.content.decode()  # the diff against the previous one

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("admin:institutional_release_rollback", args=[seeded.pk]), {"note": "horário errado"}
        )
    assert response.status_code == 302
    assert selectors.current_release().number == seeded.number
    assert "segunda a sábado" not in selectors.current_release().prompt_context()
    assert ReleaseActivation.objects.first().user == product_user


def _escaped(text: str) -> str:
    from django.utils.html import escape

    return escape(text)


def test_product_team_cannot_delete_or_edit_a_release_nor_delete_content(client, product_user, seeded):
    client.force_login(product_user)
    assert client.get(reverse("admin:institutional_release_delete", args=[seeded.pk])).status_code == 403
    response = client.post(
        reverse("admin:institutional_release_changelist"),
        {"action": "delete_selected", "_selected_action": [seeded.pk]},
    )
    assert Release.objects.filter(pk=seeded.pk).exists()
    assert response.status_code in (200, 302)
    faq = Faq.objects.first()
    assert client.get(reverse("admin:institutional_faq_delete", args=[faq.pk])).status_code == 403
    # The release page is read-only: posting changes does nothing to the frozen content.
    client.post(reverse("admin:institutional_release_change", args=[seeded.pk]), {"note": "outra"})
    seeded.refresh_from_db()
    assert seeded.note != "outra"


def test_the_test_text_form_shows_which_constraints_fire(client, product_user, seeded):
    client.force_login(product_user)
    response = client.post(
        reverse("admin:institutional_release_test_text"),
        {"text": "Pronto, seu c0ntr4t0 está f3ch4d0!", "labels": "Garanto o desconto", "against": "current"},
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert "Bloqueado" in body and "no-unlisted-price-or-deadline" in body
    response = client.post(
        reverse("admin:institutional_release_test_text"),
        {"text": "Posso te explicar como funciona o contrato", "labels": "", "against": "draft"},
    )
    assert "Permitido" in response.content.decode()


def test_staff_without_the_group_cannot_publish_roll_back_or_preview(client, seeded):
    client.force_login(UserFactory(username="outro"))
    assert client.post(reverse("admin:institutional_release_publish"), {"note": "x"}).status_code == 403
    assert client.post(reverse("admin:institutional_release_rollback", args=[seeded.pk])).status_code == 403
    assert client.get(reverse("admin:institutional_release_preview")).status_code == 403
    assert Release.objects.count() == 1


def test_publishing_unchanged_drafts_is_refused_with_a_message(client, product_user, seeded):
    client.force_login(product_user)
    response = client.post(reverse("admin:institutional_release_publish"), {"note": "nada"}, follow=True)
    assert "Nada mudou" in response.content.decode()
    assert Release.objects.count() == 1


def test_an_invalid_regex_or_template_variable_is_refused_with_a_clear_message(client, product_user):
    client.force_login(product_user)
    response = client.post(
        reverse("admin:institutional_constraint_add"),
        {
            "title": "Quebrada",
            "slug": "quebrada",
            "description": "x",
            "patterns": "(sem fechar",
            "severity": "high",
            "action": "replace",
            "is_active": "on",
        },
    )
    assert response.status_code == 200 and "Expressão inválida" in response.content.decode()
    response = client.post(
        reverse("admin:institutional_prompttemplate_add"),
        {"name": "write_reply", "version": "x", "text": "Olá $cliente"},
    )
    assert response.status_code == 200 and "Variáveis desconhecidas" in response.content.decode()


def test_the_release_list_and_violation_list_render_for_the_product_team(client, product_user, seeded):
    client.force_login(product_user)
    response = client.get(reverse("admin:institutional_release_changelist"))
    assert response.status_code == 200 and "release 1" in response.content.decode()
    assert client.get(reverse("admin:institutional_guardviolation_changelist")).status_code == 200
    assert client.get(reverse("admin:institutional_faq_changelist")).status_code == 200


def test_the_product_team_adds_a_faq_translation_that_goes_live_on_publish(
    client, product_user, seeded, django_capture_on_commit_callbacks
):
    # django-axes watches every login: the test client passes a request like the login form does.
    assert client.login(request=RequestFactory().post("/admin/login/"), username="produto", password="s3cret-pass")
    faq = Faq.objects.get(question="Qual é o horário de atendimento?")
    faq.translations.filter(language="it").delete()
    italian = {
        "language": "it",
        "question": "Qual è l'orario?",
        "answer": "Il nostro team risponde dal lunedì al venerdì, dalle 8 alle 18.",
        "keywords": "orario, aperto",
    }
    response = client.post(
        reverse("admin:institutional_faq_change", args=[faq.pk]), _faq_form(faq, new_translations=(italian,))
    )
    assert response.status_code == 302, response.content[:2000]
    assert faq.translations.get(language="it").answer == italian["answer"]
    live = next(f for f in selectors.current_release().faqs if f.question == faq.question)
    assert all(item.language != "it" for item in live.translations)  # a draft until published

    with django_capture_on_commit_callbacks(execute=True):
        services.release_publish(user=product_user, note="orario in italiano")
    live = next(f for f in selectors.current_release().faqs if f.question == faq.question)
    assert live.in_language("it", "pt-BR").answer == italian["answer"]


def test_publishing_is_refused_while_a_constraint_example_fails_then_goes_through(
    client, product_user, seeded, django_capture_on_commit_callbacks
):
    from institutional.models import Constraint

    client.force_login(product_user)
    rule = Constraint.objects.get(slug="no-contract-closure")
    rule.must_block_examples = "Posso fechar o seu contrato agora mesmo.\nOlá, tudo bem?"
    rule.must_pass_examples = "Quem fecha contratos é a nossa equipe comercial.\nPronto, contrato fechado!"
    rule.phrases = "selamos o acordo"
    rule.save()

    response = client.post(reverse("admin:institutional_release_publish"), {"note": "exemplos"}, follow=True)
    body = response.content.decode()
    assert "Publicação recusada" in body
    assert "deveria bloquear “Olá, tudo bem?”" in body
    assert "“Pronto, contrato fechado!” da restrição" in body
    assert "Posso fechar o seu contrato" not in body and "Quem fecha contratos" not in body  # those hold
    assert Release.objects.count() == 1

    rule.must_block_examples = "Posso fechar o seu contrato agora mesmo."
    rule.must_pass_examples = "Quem fecha contratos é a nossa equipe comercial."
    rule.save()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("admin:institutional_release_publish"), {"note": "exemplos"}, follow=True)
    assert Release.objects.count() == 2


def test_the_tester_names_the_layer_that_fired_and_why(client, product_user, seeded):
    client.force_login(product_user)
    response = client.post(
        reverse("admin:institutional_release_test_text"),
        {"text": "O plano Profissional custa R$ 199 por mês.", "labels": "", "against": "current"},
    )
    body = response.content.decode()
    assert "valor de outro item" in body and "price published for plano essencial" in body
    response = client.post(
        reverse("admin:institutional_release_test_text"),
        {"text": "Posso fechar o contrato agora mesmo pra você.", "labels": "", "against": "current"},
    )
    body = response.content.decode()
    assert "detector de compromissos" in body and "first-person close of the contract" in body


def test_the_ledger_lists_blocks_filtered_by_layer(client, product_user, seeded):
    from institutional.models import GuardViolation

    client.force_login(product_user)
    GuardViolation.objects.create(
        constraint_slug="no-contract-closure",
        severity="critical",
        action="handoff",
        layer="detector",
        rule="detector: first-person close",
    )
    GuardViolation.objects.create(
        constraint_slug="promo", severity="high", action="replace", layer="phrase", rule="phrase:promoção"
    )
    url = reverse("admin:institutional_guardviolation_changelist")
    detector = client.get(url, {"layer": "detector"})
    assert [row.constraint_slug for row in detector.context["cl"].result_list] == ["no-contract-closure"]
    phrase = client.get(url, {"layer": "phrase"})
    assert [row.constraint_slug for row in phrase.context["cl"].result_list] == ["promo"]


def test_the_groups_migration_grants_what_the_code_says():
    """The data migration freezes its own list; it must match the live one the sync and the tests use."""
    import importlib

    migration = importlib.import_module("institutional.migrations.0010_spending_budget_and_product_team_permissions")
    assert {f"{app}.{codename}" for app, codename in migration.PERMISSIONS} == set(PRODUCT_TEAM_PERMISSIONS)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("admin:conversations_messagetemplate_changelist", 200),
        ("admin:conversations_messagetemplate_add", 200),
        ("admin:institutional_spendingbudget_add", 200),
        ("admin:institutional_businesshours_add", 200),
        ("admin:conversations_deadletter_changelist", 403),
    ],
)
def test_the_product_team_edits_templates_budget_and_hours_but_not_operations(client, product_user, url, expected):
    client.force_login(product_user)
    assert client.get(reverse(url)).status_code == expected


def test_the_product_team_sets_the_monthly_budget_in_the_admin(client, product_user):
    from institutional.models import SpendingBudget

    client.force_login(product_user)
    response = client.post(
        reverse("admin:institutional_spendingbudget_add"), {"monthly_limit_brl": "1500.00", "usd_to_brl": "5.2"}
    )
    assert response.status_code == 302, response.content
    budget = SpendingBudget.objects.get()
    assert str(budget.monthly_limit_brl) == "1500.00" and str(budget.usd_to_brl) == "5.2000"
    # One row: a second budget cannot be added, and a negative one is refused with a reason.
    assert client.get(reverse("admin:institutional_spendingbudget_add")).status_code == 403
    change = reverse("admin:institutional_spendingbudget_change", args=[budget.pk])
    refused = client.post(change, {"monthly_limit_brl": "-1", "usd_to_brl": "5.2"})
    assert refused.status_code == 200 and "maior ou igual a 0" in refused.content.decode()


def test_a_staff_member_outside_the_product_team_cannot_add_business_hours(client):
    client.force_login(UserFactory(username="suporte"))
    assert client.get(reverse("admin:institutional_businesshours_add")).status_code == 403
