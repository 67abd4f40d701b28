"""The release page reads as the product team wrote it: sections, not the stored JSON."""

import pytest
from django.core.management import call_command
from django.urls import reverse

from institutional.models import Release
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_the_release_page_shows_profile_faq_policies_constraints_and_prompts_as_sections(client):
    call_command("seed_demo", verbosity=0)
    release = Release.objects.order_by("-number").first()
    client.force_login(UserFactory(staff=True, permissions=["institutional.view_release"]))
    page = client.get(reverse("admin:institutional_release_change", args=[release.pk])).content.decode()
    for heading in ("Perfil da empresa", "Perguntas frequentes", "Políticas", "Restrições", "Modelos de prompt"):
        assert f"<h3>{heading}" in page
    first_faq = release.snapshot["faqs"][0]
    assert f"<strong>{first_faq['question']}</strong>" in page
    # No JSON dump: the stored document's keys are not on the page.
    assert '"safe_replacement"' not in page and '"faqs"' not in page
