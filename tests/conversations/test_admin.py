"""The admin: the staff queue filter, the timeline, and transition buttons only where allowed."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from django.utils.timesince import timesince

from conversations.models import Conversation, TransitionDecision
from conversations.services.state import conversation_apply_decision
from conversations.states import State
from tests.factories import ConversationFactory, MessageFactory, UserFactory

pytestmark = pytest.mark.django_db


def _change_url(conversation: Conversation) -> str:
    return reverse("admin:conversations_conversation_change", args=[conversation.pk])


def _buttons(html: str) -> set[str]:
    return set(re.findall(r'name="_fsm_transition_to" value="(\w+)"', html))


def test_the_change_page_shows_the_timeline_and_only_the_allowed_transitions(client, bot, support_agent):
    conversation = ConversationFactory(state=State.TRIAGE)
    message = MessageFactory(conversation=conversation, text="Quero falar com atendente")
    conversation_apply_decision(
        conversation_id=conversation.pk,
        target_state=State.HANDOFF_REQUESTED,
        actor=bot,
        reason="customer asked for a person",
        message_id=message.pk,
    )
    client.force_login(support_agent)

    response = client.get(_change_url(conversation))

    assert response.status_code == 200
    html = response.content.decode()
    assert "Quero falar com atendente" in html
    assert "Triagem → Aguardando uma pessoa (Passar para uma pessoa)" in html
    assert "customer asked for a person" in html
    # Waiting for a human: take, return or resolve; no bot transitions, no price or contract.
    assert _buttons(html) == {"take", "return_to_bot", "resolve_handoff"}


def test_a_staff_member_without_the_price_permission_gets_no_proposal_button(client, agent, support_agent):
    conversation = ConversationFactory(state=State.HUMAN_ACTIVE)
    client.force_login(support_agent)
    assert _buttons(client.get(_change_url(conversation)).content.decode()) == {"return_to_bot", "resolve_handoff"}
    client.force_login(agent)
    assert _buttons(client.get(_change_url(conversation)).content.decode()) == {
        "return_to_bot",
        "resolve_handoff",
        "send_proposal",
        "close_contract",
    }


def test_pressing_take_runs_the_service_and_records_the_staff_member(client, support_agent):
    conversation = ConversationFactory(state=State.HANDOFF_REQUESTED, handoff_requested_at=timezone.now())
    client.force_login(support_agent)

    response = client.post(_change_url(conversation), {"_fsm_transition_to": "take"})

    assert response.status_code == 302
    conversation.refresh_from_db()
    assert conversation.state == State.HUMAN_ACTIVE and conversation.assigned_to == support_agent
    decision = TransitionDecision.objects.get(conversation=conversation)
    assert (decision.actor_kind, decision.actor, decision.transition) == ("staff", support_agent, "take")
    # The notice reads as a sentence, with the button's label and the states' names.
    notice = client.get(response["Location"]).content.decode()
    assert "“Assumir” feito: a conversa passou de “Aguardando uma pessoa” para “Com uma pessoa”." in notice


def test_resolving_asks_for_a_note_and_keeps_it_in_the_audit(client, support_agent):
    conversation = ConversationFactory(state=State.HUMAN_ACTIVE)
    client.force_login(support_agent)

    response = client.post(_change_url(conversation), {"_fsm_transition_to": "resolve_handoff"})
    form_url = reverse("admin:conversations_conversation_transition", args=[conversation.pk, "resolve_handoff"])
    assert response.status_code == 302 and response.url == form_url
    assert client.get(form_url).status_code == 200

    response = client.post(form_url, {"note": "sent the invoice copy"})

    assert response.status_code == 302
    conversation.refresh_from_db()
    assert conversation.state == State.RESOLVED
    assert TransitionDecision.objects.get(conversation=conversation).reason == "sent the invoice copy"


def test_a_forged_button_for_a_forbidden_transition_changes_nothing(client, support_agent):
    conversation = ConversationFactory(state=State.HUMAN_ACTIVE)
    client.force_login(support_agent)
    client.post(
        reverse("admin:conversations_conversation_transition", args=[conversation.pk, "close_contract"]),
        {"note": "forged"},
    )
    assert Conversation.objects.get(pk=conversation.pk).state == State.HUMAN_ACTIVE


def test_a_user_without_permissions_sees_no_buttons_and_cannot_post(client):
    viewer = UserFactory(staff=True, permissions=["conversations.view_conversation"])
    conversation = ConversationFactory(state=State.HANDOFF_REQUESTED)
    client.force_login(viewer)
    assert _buttons(client.get(_change_url(conversation)).content.decode()) == set()
    assert client.post(_change_url(conversation), {"_fsm_transition_to": "take"}).status_code == 403
    assert Conversation.objects.get(pk=conversation.pk).state == State.HANDOFF_REQUESTED


def test_the_list_filters_by_state_and_by_waiting_for_a_human_with_age(client, support_agent):
    now = timezone.now()
    long_wait = ConversationFactory(state=State.HANDOFF_REQUESTED, handoff_requested_at=now - timedelta(hours=2))
    short_wait = ConversationFactory(state=State.HANDOFF_REQUESTED, handoff_requested_at=now - timedelta(minutes=5))
    answering = ConversationFactory(state=State.ANSWERING)
    client.force_login(support_agent)
    url = reverse("admin:conversations_conversation_changelist")

    def listed(query: dict) -> set[int]:
        response = client.get(url, query)
        assert response.status_code == 200
        return {obj.pk for obj in response.context["cl"].result_list}

    assert listed({"waiting": "any"}) == {long_wait.pk, short_wait.pk}
    assert listed({"waiting": "1h"}) == {long_wait.pk}
    assert listed({"state__exact": "answering"}) == {answering.pk}
    assert timesince(long_wait.handoff_requested_at) in client.get(url, {"waiting": "1h"}).content.decode()


def test_lists_mask_phone_numbers(client):
    admin_user = UserFactory(is_staff=True, is_superuser=True)
    message = MessageFactory(conversation__contact__wa_id="5511987654321")
    client.force_login(admin_user)
    contacts = client.get(reverse("admin:conversations_contact_changelist")).content.decode()
    conversations = client.get(reverse("admin:conversations_conversation_changelist")).content.decode()
    assert "•••4321" in contacts and "5511987654321" not in contacts
    assert "•••4321" in conversations and "5511987654321" not in conversations
    for name in ("message", "deliverystatus", "unhandledevent", "transitiondecision"):
        assert client.get(reverse(f"admin:conversations_{name}_changelist")).status_code == 200
    detail = client.get(reverse("admin:conversations_message_change", args=[message.pk])).content.decode()
    assert message.wamid in detail  # the raw JSON, read-only


def test_the_admin_pages_read_in_portuguese(client, support_agent):
    conversation = ConversationFactory(state=State.HANDOFF_REQUESTED, handoff_requested_at=timezone.now())
    client.force_login(support_agent)
    listing = client.get(reverse("admin:conversations_conversation_changelist")).content.decode()
    assert "Selecione conversa para modificar" in listing
    assert ">Início</a>" in listing and ">Home<" not in listing
    assert "Aguardando uma pessoa" in listing
    page = client.get(_change_url(conversation)).content.decode()
    assert "Linha do tempo" in page and ">Início</a>" in page
    assert ">Assumir<" in page and ">Devolver ao assistente<" in page
