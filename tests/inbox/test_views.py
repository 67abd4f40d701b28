"""The inbox pages through Django's test client: access, the queue, the chat, and each one-click action."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from conversations.models import Message, MessageTemplate, TransitionDecision
from conversations.services.state import Actor, conversation_request_handoff
from conversations.states import Perm, State
from tests.factories import ConversationFactory, MessageFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent():
    return UserFactory(username="ana", permissions=["inbox.use_inbox", Perm.HANDLE, "conversations.view_conversation"])


@pytest.fixture
def client_as(client):
    def login(user):
        client.force_login(user)
        return client

    return login


def waiting_conversation(**extra):
    conversation = ConversationFactory(state=State.ANSWERING, **extra)
    MessageFactory(conversation=conversation, text="Quero falar com um atendente", status=Message.Status.ANSWERED)
    MessageFactory(
        conversation=conversation, outbound=True, text="Claro! Vou chamar alguém da equipe.", provider="offline"
    )
    conversation_request_handoff(
        conversation_id=conversation.pk, actor=Actor.bot(), reason="customer asked for a person"
    )
    conversation.refresh_from_db()
    return conversation


def test_the_inbox_asks_for_a_login_and_its_own_permission(client, client_as):
    response = client.get(reverse("inbox:queue"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    # Staff without the inbox permission are refused, not shown an empty queue.
    outsider = UserFactory(staff=True, permissions=[Perm.HANDLE])
    assert client_as(outsider).get(reverse("inbox:queue")).status_code == 403


def test_the_atendimento_group_grants_everything_a_shift_needs(client_as):
    from django.contrib.auth.models import Group

    user = UserFactory(username="turno")
    user.groups.add(Group.objects.get(name="Atendimento"))
    assert user.has_perm("inbox.use_inbox") and user.has_perm(Perm.HANDLE)
    assert client_as(user).get(reverse("inbox:queue")).status_code == 200


def test_the_queue_lists_waiting_conversations_oldest_first_with_age_and_last_message(agent, client_as):
    newer = waiting_conversation()
    older = waiting_conversation()
    older.__class__.objects.filter(pk=older.pk).update(handoff_requested_at=timezone.now() - timedelta(minutes=42))
    page = client_as(agent).get(reverse("inbox:queue")).content.decode()
    assert page.index(f'data-conversation="{older.pk}"') < page.index(f'data-conversation="{newer.pk}"')
    assert "42 min" in page
    assert "Claro! Vou chamar alguém da equipe." in page
    # Only the last four digits of the customer's number are ever on screen.
    assert older.contact.wa_id not in page and older.contact.wa_id[-4:] in page


def test_the_queue_partial_is_what_htmx_polls(agent, client_as):
    waiting_conversation()
    response = client_as(agent).get(reverse("inbox:queue"), HTTP_HX_REQUEST="true")
    assert "<html" not in response.content.decode()
    assert 'data-testid="waiting-count">1<' in response.content.decode()


def test_the_chat_tells_customer_bot_and_staff_apart_and_reads_button_taps(agent, client_as):
    conversation = waiting_conversation()
    MessageFactory(
        conversation=conversation,
        type="interactive",
        text="Quero saber mais",
        raw={
            "type": "interactive",
            "interactive": {"type": "button_reply", "button_reply": {"title": "Quero saber mais"}},
        },
    )
    MessageFactory(
        conversation=conversation,
        outbound=True,
        type="button",
        text="Escolha uma opção",
        provider="openai",
        raw={"kind": "button", "body": "Escolha uma opção", "buttons": [{"id": "a", "title": "Planos"}]},
    )
    MessageFactory(conversation=conversation, outbound=True, text="Oi, aqui é a Ana.", provider="staff")
    page = client_as(agent).get(reverse("inbox:conversation", args=[conversation.pk])).content.decode()
    assert page.count('data-author="customer"') == 2
    assert page.count('data-author="bot"') == 2
    assert page.count('data-author="staff"') == 1
    assert "<li>Planos</li>" in page
    # The handoff summary sits at the top, from the timeline.
    assert 'data-testid="handoff-summary"' in page
    assert page.index("handoff-summary") < page.index('id="chat"')
    assert "customer asked for a person" in page


def test_take_reply_and_return_are_each_one_post_and_audited(agent, client_as, settings):
    conversation = waiting_conversation()
    client = client_as(agent)
    response = client.post(reverse("inbox:take", args=[conversation.pk]))
    assert response.status_code == 302
    conversation.refresh_from_db()
    assert conversation.state == State.HUMAN_ACTIVE and conversation.assigned_to == agent

    client.post(reverse("inbox:reply", args=[conversation.pk]), {"text": "Olá, sou a Ana."})
    reply = Message.objects.get(provider="staff")
    assert reply.text == "Olá, sou a Ana." and reply.status == Message.Status.PENDING

    client.post(reverse("inbox:return", args=[conversation.pk]), {"note": "dúvida resolvida"})
    conversation.refresh_from_db()
    assert conversation.state == State.TRIAGE and conversation.assigned_to is None
    staff_decisions = TransitionDecision.objects.filter(conversation=conversation, actor=agent).order_by("pk")
    assert [d.transition for d in staff_decisions] == ["take", "return_to_bot"]
    assert staff_decisions.last().reason == "dúvida resolvida"


def test_resolve_closes_the_conversation(agent, client_as):
    conversation = waiting_conversation()
    client = client_as(agent)
    client.post(reverse("inbox:take", args=[conversation.pk]))
    response = client.post(reverse("inbox:resolve", args=[conversation.pk]))
    assert response["Location"] == reverse("inbox:queue")
    conversation.refresh_from_db()
    assert conversation.state == State.RESOLVED and conversation.closed_at is not None


def test_a_reply_that_cannot_go_out_says_why_before_and_keeps_the_text(agent, client_as):
    conversation = waiting_conversation(last_inbound_at=timezone.now() - timedelta(hours=30))
    client = client_as(agent)
    client.post(reverse("inbox:take", args=[conversation.pk]))
    page = client.get(reverse("inbox:conversation", args=[conversation.pk])).content.decode()
    # No approved template is mapped to staff replies: nothing can go out, and the page says so first.
    assert 'data-code="no_template"' in page
    assert "24 horas" in page
    response = client.post(reverse("inbox:reply", args=[conversation.pk]), {"text": "Ainda está aí?"})
    assert response.status_code == 400
    assert "Ainda está aí?" in response.content.decode()
    assert not Message.objects.filter(provider="staff").exists()


def test_before_taking_the_reply_box_says_take_first(agent, client_as):
    conversation = waiting_conversation()
    page = client_as(agent).get(reverse("inbox:conversation", args=[conversation.pk])).content.decode()
    assert 'data-code="not_taken"' in page


def test_take_next_takes_the_longest_waiting_and_says_when_nobody_waits(agent, client_as):
    client = client_as(agent)
    response = client.post(reverse("inbox:take-next"))
    assert response["Location"] == reverse("inbox:queue")
    first = waiting_conversation()
    waiting_conversation()
    first.__class__.objects.filter(pk=first.pk).update(handoff_requested_at=timezone.now() - timedelta(hours=1))
    response = client.post(reverse("inbox:take-next"))
    assert response["Location"] == reverse("inbox:conversation", args=[first.pk])
    first.refresh_from_db()
    assert first.state == State.HUMAN_ACTIVE and first.assigned_to == agent


def test_an_action_without_the_handle_permission_is_refused_and_said(client_as):
    viewer = UserFactory(permissions=["inbox.use_inbox"])
    conversation = waiting_conversation()
    client = client_as(viewer)
    response = client.post(reverse("inbox:take", args=[conversation.pk]), follow=True)
    conversation.refresh_from_db()
    assert conversation.state == State.HANDOFF_REQUESTED
    assert "notice-error" in response.content.decode()


def test_the_live_partial_carries_new_messages_and_the_reply_status(agent, client_as):
    conversation = waiting_conversation()
    MessageFactory(conversation=conversation, text="Alguém aí?")
    response = client_as(agent).get(reverse("inbox:conversation-live", args=[conversation.pk]))
    body = response.content.decode()
    assert "Alguém aí?" in body
    assert 'id="reply-status"' in body and 'hx-swap-oob="true"' in body


def test_outside_the_window_the_mapped_template_is_offered_and_used(agent, client_as):
    MessageTemplate.objects.create(
        name="resposta_atendimento",
        language="pt_BR",
        status=MessageTemplate.Status.APPROVED,
        components=[{"type": "BODY", "text": "Olá {{1}}, sobre seu contato: {{2}}"}],
        parameter_sources=["contact_name", "message_text"],
        purpose="staff_reply",
    )
    conversation = waiting_conversation(last_inbound_at=timezone.now() - timedelta(hours=30))
    client = client_as(agent)
    client.post(reverse("inbox:take", args=[conversation.pk]))
    page = client.get(reverse("inbox:conversation", args=[conversation.pk])).content.decode()
    assert 'data-code="template"' in page and "resposta_atendimento" in page
    client.post(reverse("inbox:reply", args=[conversation.pk]), {"text": "Seu pedido saiu."})
    assert Message.objects.get(provider="staff").text == "Seu pedido saiu."


def test_an_opted_out_customer_cannot_be_written_to_and_the_page_says_so(agent, client_as):
    conversation = waiting_conversation()
    client = client_as(agent)
    client.post(reverse("inbox:take", args=[conversation.pk]))
    conversation.contact.__class__.objects.filter(pk=conversation.contact_id).update(opted_out_at=timezone.now())
    page = client.get(reverse("inbox:conversation", args=[conversation.pk])).content.decode()
    assert 'data-code="opted_out"' in page
    response = client.post(reverse("inbox:reply", args=[conversation.pk]), {"text": "Oi?"})
    assert response.status_code == 400 and not Message.objects.filter(provider="staff").exists()


def test_a_voice_note_reads_as_its_transcript(agent, client_as):
    conversation = waiting_conversation()
    MessageFactory(conversation=conversation, type="audio", text="", transcript="Queria remarcar a reunião de amanhã")
    page = client_as(agent).get(reverse("inbox:conversation", args=[conversation.pk])).content.decode()
    assert "Queria remarcar a reunião de amanhã" in page and "Mensagem de voz, transcrita" in page
