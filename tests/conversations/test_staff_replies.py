"""A person who took the conversation answers the customer: service rules, the admin box and the API."""

import json
from datetime import timedelta

import pytest
import redis
from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from conversations.models import Message
from conversations.services.delivery import reply_deliver
from conversations.services.replies import StaffReplyRefused
from conversations.states import Perm, State
from pyloto.pipeline.dispatch import staff_reply_send
from pyloto.queues import Queue
from tests.factories import ConversationFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def agent():
    return UserFactory(
        staff=True, permissions=[Perm.HANDLE, "conversations.view_conversation", "conversations.change_conversation"]
    )


def queued_sends() -> int:
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    return sum(
        json.loads(raw)["headers"]["task"] == "pyloto.pipeline.tasks.send_reply"
        for key in client.keys(f"{Queue.DELIVERY.value}*")
        for raw in client.lrange(key, 0, -1)
    )


def test_a_taken_conversation_gets_the_staff_reply_queued_once_and_sent_unguarded(agent, fake_graph):
    conversation = ConversationFactory(state=State.HUMAN_ACTIVE)
    message = staff_reply_send(conversation_id=conversation.pk, user=agent, text="  Seu contrato está assinado!  ")
    assert message.provider == "staff" and message.status == "pending" and message.text == "Seu contrato está assinado!"
    assert queued_sends() == 1
    # People may say what the bot may not: sent as written, not counted as a constraint violation.
    assert reply_deliver(message_id=message.pk) == "sent"
    assert fake_graph.sent_messages()[0]["text"]["body"] == "Seu contrato está assinado!"


@pytest.mark.parametrize(
    ("state", "hours_ago", "text", "code"),
    [
        (State.HANDOFF_REQUESTED, 1, "Olá", "not_taken"),
        (State.ANSWERING, 1, "Olá", "not_taken"),
        (State.HUMAN_ACTIVE, 25, "Olá", "no_template"),
        (State.HUMAN_ACTIVE, 1, "   ", "invalid_text"),
        (State.HUMAN_ACTIVE, 1, "x" * 4097, "invalid_text"),
    ],
)
def test_refusals_say_why_and_queue_nothing(agent, state, hours_ago, text, code):
    conversation = ConversationFactory(state=state, last_inbound_at=timezone.now() - timedelta(hours=hours_ago))
    with pytest.raises(StaffReplyRefused) as refused:
        staff_reply_send(conversation_id=conversation.pk, user=agent, text=text)
    assert refused.value.code == code
    assert not Message.objects.filter(direction="out").exists()
    assert queued_sends() == 0


def test_someone_without_the_handle_permission_cannot_reply():
    viewer = UserFactory(staff=True, permissions=["conversations.view_conversation"])
    conversation = ConversationFactory(state=State.HUMAN_ACTIVE)
    with pytest.raises(StaffReplyRefused) as refused:
        staff_reply_send(conversation_id=conversation.pk, user=viewer, text="Olá")
    assert refused.value.code == "not_permitted"


def test_the_admin_page_shows_the_reply_box_only_when_taken_and_sends(client, agent):
    taken = ConversationFactory(state=State.HUMAN_ACTIVE)
    waiting = ConversationFactory(state=State.HANDOFF_REQUESTED)
    client.force_login(agent)
    page = client.get(reverse("admin:conversations_conversation_change", args=[taken.pk])).content.decode()
    assert "Send to customer" in page
    # The reply form stands after the change form closes (a nested form would be dropped by browsers).
    assert page.index('<form id="staff-reply"') > page.index("</form></div>")
    assert (
        "Send to customer"
        not in client.get(reverse("admin:conversations_conversation_change", args=[waiting.pk])).content.decode()
    )
    response = client.post(
        reverse("admin:conversations_reply", args=[taken.pk]), {"text": "Oi, aqui é a Ana."}, follow=True
    )
    assert "Enviada ao cliente." in response.content.decode()
    assert Message.objects.get(direction="out").text == "Oi, aqui é a Ana."
    refused = client.post(reverse("admin:conversations_reply", args=[waiting.pk]), {"text": "Oi"}, follow=True)
    assert "Assuma a conversa antes de responder." in refused.content.decode()


def test_the_api_answers_201_403_409_and_400(agent):
    taken = ConversationFactory(state=State.HUMAN_ACTIVE)
    waiting = ConversationFactory(state=State.HANDOFF_REQUESTED)
    api = APIClient()
    url = lambda c: reverse("api-conversation-reply", args=[c.pk])  # noqa: E731
    assert api.post(url(taken), {"text": "Oi"}, format="json").status_code == 401
    api.force_authenticate(agent)
    created = api.post(url(taken), {"text": "Oi, aqui é a Ana."}, format="json")
    assert created.status_code == 201 and created.json()["status"] == "pending"
    assert api.post(url(waiting), {"text": "Oi"}, format="json").json()["code"] == "not_taken"
    assert api.post(url(waiting), {"text": "Oi"}, format="json").status_code == 409
    assert api.post(url(taken), {"text": ""}, format="json").status_code == 400
    api.force_authenticate(UserFactory(staff=True))
    assert api.post(url(taken), {"text": "Oi"}, format="json").status_code == 403
