"""The admin shows what the webhook stored: transcripts on the timeline, quarantine with replay, audits."""

from unittest import mock

import pytest
from django.urls import reverse

from conversations.models import Contact, QuarantinedElement
from pyloto.whatsapp import simulator
from tests.conversations.test_webhook import post_signed
from tests.factories import ConversationFactory, MessageFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_the_timeline_shows_a_voice_notes_transcript_language_and_duration(client, support_agent):
    conversation = ConversationFactory()
    MessageFactory(
        conversation=conversation,
        type="audio",
        text="Quais serviços vocês oferecem?",
        transcript="Quais serviços vocês oferecem?",
        transcript_language="portuguese",
        media_duration_s=2.0,
    )
    client.force_login(support_agent)
    html = client.get(reverse("admin:conversations_conversation_change", args=[conversation.pk])).content.decode()
    assert "Quais serviços vocês oferecem?" in html
    assert "transcrição de mensagem de voz · portuguese · 2,0 s" in html


def test_a_quarantined_element_is_listed_and_replayed_from_the_admin(client):
    body = simulator.text_webhook(text="oi", wa_id="5511900000321", wamid="wamid.ADMINQ")
    with mock.patch("conversations.services.ingestion.conversation_get_or_start", side_effect=ValueError("bug")):
        assert post_signed(client, body).status_code == 200
    element = QuarantinedElement.objects.get()
    operator = UserFactory(staff=True, is_superuser=True)
    client.force_login(operator)
    listing = client.get(reverse("admin:conversations_quarantinedelement_changelist")).content.decode()
    assert "ValueError: bug" in listing
    response = client.post(
        reverse("admin:conversations_quarantinedelement_changelist"),
        {"action": "replay", "_selected_action": [element.pk]},
        follow=True,
    )
    assert "Reprocessados: 1" in response.content.decode()
    element.refresh_from_db()
    assert element.resolved_at is not None


def test_the_contact_page_shows_opt_out_and_its_audit(client):
    post_signed(client, simulator.text_webhook(text="PARAR", wa_id="5511900000322"))
    contact = Contact.objects.get()
    client.force_login(UserFactory(staff=True, is_superuser=True))
    html = client.get(reverse("admin:conversations_contact_change", args=[contact.pk])).content.decode()
    assert "Descadastrou-se (opt-out)" in html
    assert "5511900000322" not in html  # ids are masked
    listing = client.get(reverse("admin:conversations_contact_changelist") + "?opted_out=yes").content.decode()
    assert "•••0322" in listing
