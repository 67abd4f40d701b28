"""The send planner: free-form inside the window, the mapped template outside it, or nothing and why; async failures."""

import json
from datetime import timedelta

import pytest
import redis
import time_machine
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from conversations.models import DeadLetter, Message, MessageTemplate, StaffAlert
from conversations.services.delivery import capped_sends_release, reply_deliver
from conversations.services.replies import StaffReplyRefused
from conversations.states import Perm, State
from pyloto.pipeline.dispatch import staff_reply_send
from pyloto.queues import Queue
from tests.factories import ConversationFactory, MessageFactory, UserFactory
from tests.support import ingest_stored

pytestmark = pytest.mark.django_db(transaction=True)

STAFF_BODY = "Olá, {{1}}! Retomando o seu atendimento: {{2}}"
HANDOFF_BODY = "Olá! Uma pessoa da equipe da {{1}} vai continuar o seu atendimento."


@pytest.fixture
def agent():
    return UserFactory(
        staff=True, permissions=[Perm.HANDLE, "conversations.view_conversation", "conversations.change_conversation"]
    )


def staff_template(**fields) -> MessageTemplate:
    values = {
        "name": "resposta_atendimento",
        "language": "pt_BR",
        "status": MessageTemplate.Status.APPROVED,
        "components": [{"type": "BODY", "text": STAFF_BODY}],
        "parameter_sources": ["contact_name", "message_text"],
        "purpose": "staff_reply",
    }
    return MessageTemplate.objects.create(**{**values, **fields})


def handoff_template() -> MessageTemplate:
    return MessageTemplate.objects.create(
        name="aviso_transferencia",
        language="pt_BR",
        status=MessageTemplate.Status.APPROVED,
        components=[{"type": "BODY", "text": HANDOFF_BODY}],
        parameter_sources=["company_name"],
        purpose="handoff_notice",
    )


def bot_reply(conversation, *, purpose="reply", text="Nosso horário é de 8h às 18h.") -> Message:
    return MessageFactory(
        pending_reply=True,
        conversation=conversation,
        text=text,
        run_key="run-planner",
        purpose=purpose,
    )


def post_fake_webhooks(fake_graph, count: int) -> None:
    """Hand the status webhooks the fake emitted to our webhook, signed as the fake signed them."""
    hooks = fake_graph.wait_for_webhooks(count)
    assert len(hooks) >= count, hooks
    for hook in hooks:
        response = Client().post(
            "/webhooks/whatsapp/",
            data=json.dumps(hook["body"]),
            content_type="application/json",
            HTTP_X_HUB_SIGNATURE_256=hook["signature"],
        )
        assert response.status_code == 200
    ingest_stored()


def test_a_staff_reply_after_the_window_closed_goes_out_as_the_mapped_template(agent, fake_graph):
    template = staff_template()
    conversation = ConversationFactory(state=State.HUMAN_ACTIVE, last_inbound_at=timezone.now() - timedelta(hours=30))
    message = staff_reply_send(
        conversation_id=conversation.pk, user=agent, text="Seu boleto saiu.\nQualquer dúvida, chame."
    )
    assert reply_deliver(message_id=message.pk) == "sent"
    sent = fake_graph.sent_messages()
    assert len(sent) == 1 and sent[0]["type"] == "template"
    assert sent[0]["template"]["name"] == "resposta_atendimento"
    assert sent[0]["template"]["language"] == {"policy": "deterministic", "code": "pt_BR"}
    parameters = [p["text"] for p in sent[0]["template"]["components"][0]["parameters"]]
    # Line breaks are not allowed in a template parameter: folded, the words all arrive.
    assert parameters == [conversation.contact.profile_name, "Seu boleto saiu. · Qualquer dúvida, chame."]
    message.refresh_from_db()
    assert message.status == "sent" and message.template == template


def test_without_a_mapped_template_staff_see_why_it_cannot_be_sent(agent, client, fake_graph):
    staff_template(status=MessageTemplate.Status.PAUSED)  # mapped, but WhatsApp paused it: not usable
    conversation = ConversationFactory(state=State.HUMAN_ACTIVE, last_inbound_at=timezone.now() - timedelta(hours=30))
    with pytest.raises(StaffReplyRefused) as refused:
        staff_reply_send(conversation_id=conversation.pk, user=agent, text="Olá")
    assert refused.value.code == "no_template"
    assert "24 horas" in str(refused.value) and "Modelos de mensagem" in str(refused.value)
    assert not Message.objects.filter(direction="out").exists()
    client.force_login(agent)
    page = client.get(reverse("admin:conversations_conversation_change", args=[conversation.pk])).content.decode()
    assert "não há modelo aprovado" in page  # shown above the reply box before anyone types
    answer = client.post(reverse("admin:conversations_reply", args=[conversation.pk]), {"text": "Oi"}, follow=True)
    assert "não há modelo aprovado" in answer.content.decode()
    assert fake_graph.sent_messages() == []


def test_a_staff_reply_too_long_for_the_template_is_refused_with_the_numbers(agent):
    staff_template()
    conversation = ConversationFactory(state=State.HUMAN_ACTIVE, last_inbound_at=timezone.now() - timedelta(hours=30))
    with pytest.raises(StaffReplyRefused) as refused:
        staff_reply_send(conversation_id=conversation.pk, user=agent, text="palavra " * 200)
    assert refused.value.code == "too_long_for_template" and "1024" in str(refused.value)


def test_the_window_is_computed_at_send_time_when_it_closes_after_finalize(fake_graph):
    conversation = ConversationFactory(state=State.ANSWERING, last_inbound_at=timezone.now() - timedelta(hours=23))
    reply = bot_reply(conversation)
    inbound = MessageFactory(conversation=conversation, status="answered", run_key="run-planner")
    # Finalized inside the window; the send runs 90 minutes later, after the window closed.
    with time_machine.travel(timezone.now() + timedelta(minutes=90)):
        assert reply_deliver(message_id=reply.pk) == "outside_window"
    reply.refresh_from_db()
    inbound.refresh_from_db()
    assert reply.status == "failed" and inbound.status == "dropped"
    assert StaffAlert.objects.get(message=reply).kind == "not_sent"
    assert fake_graph.sent_messages() == []


def test_a_handoff_notice_whose_window_closed_goes_out_as_its_template(fake_graph, settings):
    handoff_template()
    conversation = ConversationFactory(
        state=State.HANDOFF_REQUESTED, last_inbound_at=timezone.now() - timedelta(hours=23, minutes=59)
    )
    notice = bot_reply(conversation, purpose="handoff_notice", text="Vou te transferir para uma pessoa.")
    with time_machine.travel(timezone.now() + timedelta(minutes=5)):
        assert reply_deliver(message_id=notice.pk) == "sent"
    sent = fake_graph.sent_messages()
    assert sent[0]["type"] == "template" and sent[0]["template"]["name"] == "aviso_transferencia"


def test_inside_the_window_a_staff_reply_goes_free_form_even_with_a_template_mapped(agent, fake_graph):
    staff_template()
    conversation = ConversationFactory(state=State.HUMAN_ACTIVE)
    message = staff_reply_send(conversation_id=conversation.pk, user=agent, text="Oi!")
    assert reply_deliver(message_id=message.pk) == "sent"
    assert fake_graph.sent_messages()[0]["type"] == "text"


def test_a_131047_failed_status_after_an_accepted_send_fails_the_reply_and_tells_staff(agent, fake_graph):
    fake_graph.configure(async_failures=[131047], app_secret=settings.WHATSAPP_APP_SECRET)
    conversation = ConversationFactory(state=State.HUMAN_ACTIVE)
    message = staff_reply_send(conversation_id=conversation.pk, user=agent, text="Seguem os detalhes.")
    assert reply_deliver(message_id=message.pk) == "sent"
    post_fake_webhooks(fake_graph, 1)
    message.refresh_from_db()
    assert message.status == "failed" and "131047" in message.status_reason
    assert message.errors[0]["code"] == 131047
    alert = StaffAlert.objects.get(message=message)
    assert alert.kind == "failed" and alert.error_code == "131047"
    assert DeadLetter.objects.get(message=message).error_code == "131047"  # an operator can replay it
    # A late "delivered" for the same wamid never turns it into a delivered message.
    body = fake_graph.webhooks()[0]["body"]
    status = body["entry"][0]["changes"][0]["value"]["statuses"][0]
    status.update(status="delivered")
    status.pop("errors")
    from tests.support import post_webhook

    post_webhook(body)
    ingest_stored()
    message.refresh_from_db()
    assert message.status == "failed"


@pytest.mark.parametrize(("code", "dead_lettered"), [(131026, True), (131050, False)])
def test_other_async_failures_fail_by_their_policy(agent, fake_graph, code, dead_lettered):
    fake_graph.configure(async_failures=[code], app_secret=settings.WHATSAPP_APP_SECRET)
    conversation = ConversationFactory(state=State.HUMAN_ACTIVE)
    message = staff_reply_send(conversation_id=conversation.pk, user=agent, text="Olá")
    reply_deliver(message_id=message.pk)
    post_fake_webhooks(fake_graph, 1)
    message.refresh_from_db()
    assert message.status == "failed" and str(code) in message.status_reason
    assert DeadLetter.objects.filter(message=message).exists() is dead_lettered
    assert StaffAlert.objects.filter(message=message, kind="failed").exists()


def test_the_marketing_frequency_cap_is_capped_not_failed_and_sent_again_hours_later(agent, fake_graph):
    fake_graph.configure(async_failures=[131049], app_secret=settings.WHATSAPP_APP_SECRET)
    conversation = ConversationFactory(state=State.HUMAN_ACTIVE)
    message = staff_reply_send(conversation_id=conversation.pk, user=agent, text="Olá")
    reply_deliver(message_id=message.pk)
    post_fake_webhooks(fake_graph, 1)
    message.refresh_from_db()
    assert message.status == "capped" and not DeadLetter.objects.filter(message=message).exists()
    hours = (message.next_attempt_at - timezone.now()).total_seconds() / 3600
    assert (
        settings.WHATSAPP_FREQUENCY_CAP_RETRY_HOURS * 0.99
        <= hours
        <= settings.WHATSAPP_FREQUENCY_CAP_RETRY_HOURS * 1.26
    )
    assert capped_sends_release() == 0  # not before its time
    assert capped_sends_release(now=message.next_attempt_at + timedelta(seconds=1)) == 1
    message.refresh_from_db()
    assert message.status == "pending"


def test_a_template_status_webhook_applies_at_once_and_queues_a_full_sync(fake_graph):
    template = staff_template(graph_id="777")
    from tests.support import post_webhook

    post_webhook(
        {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": "WABA",
                    "time": 1764583200,
                    "changes": [
                        {
                            "field": "message_template_status_update",
                            "value": {
                                "event": "PAUSED",
                                "message_template_id": 777,
                                "message_template_name": "resposta_atendimento",
                                "message_template_language": "pt_BR",
                                "reason": "LOW_QUALITY",
                            },
                        }
                    ],
                }
            ],
        }
    )
    ingest_stored()
    template.refresh_from_db()
    assert template.status == "PAUSED" and template.status_reason == "LOW_QUALITY"
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    tasks = [
        json.loads(raw)["headers"]["task"]
        for key in broker.keys(f"{Queue.DELIVERY.value}*")
        for raw in broker.lrange(key, 0, -1)
    ]
    assert tasks == ["conversations.tasks.sync_message_templates"]
