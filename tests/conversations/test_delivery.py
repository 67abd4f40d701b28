"""Delivery: the send claim, the 24-hour window, ambiguous timeouts, and the post-send constraint audit."""

from datetime import timedelta

import pytest
from django.utils import timezone
from prometheus_client import REGISTRY

from conversations.models import DeadLetter, Message
from conversations.services.delivery import reply_deliver
from tests.factories import ConversationFactory, MessageFactory

pytestmark = pytest.mark.django_db


def outbound(text: str, **conversation_fields) -> Message:
    conversation = ConversationFactory(**conversation_fields)
    return MessageFactory(
        conversation=conversation,
        direction="out",
        wamid=None,
        status="pending",
        type="text",
        text=text,
        raw={"kind": "text", "body": text, "preview_url": False},
        run_key="run-x",
    )


def sample(name: str) -> float:
    return REGISTRY.get_sample_value(name) or 0.0


def test_a_sent_reply_gets_its_wamid_and_a_second_send_is_skipped(fake_graph):
    message = outbound("Olá! Como posso ajudar?")
    assert reply_deliver(message_id=message.pk, final_attempt=False) == "sent"
    message.refresh_from_db()
    assert message.status == "sent" and message.wamid.startswith("wamid.") and message.send_attempts == 1
    assert reply_deliver(message_id=message.pk, final_attempt=False) == "skipped"
    assert len(fake_graph.sent_messages()) == 1


def test_no_free_form_send_outside_the_24_hour_window(fake_graph):
    message = outbound("Olá!", last_inbound_at=timezone.now() - timedelta(hours=25))
    inbound = MessageFactory(conversation=message.conversation, status="answered", run_key="run-x")
    assert reply_deliver(message_id=message.pk, final_attempt=False) == "outside_window"
    message.refresh_from_db()
    inbound.refresh_from_db()
    assert message.status == "failed" and "24 horas" in message.status_reason
    assert inbound.status == "dropped" and "24 horas" in inbound.status_reason
    assert fake_graph.sent_messages() == []
    # Staff are told why nothing went out.
    assert message.staff_alerts.get().kind == "not_sent"


def test_a_timeout_after_the_request_went_out_is_not_resent(fake_graph, settings):
    settings.WHATSAPP_TIMEOUT_S = 0.2
    fake_graph.configure(latency_ms=1000)
    message = outbound("Olá!")
    assert reply_deliver(message_id=message.pk, final_attempt=False) == "ambiguous"
    message.refresh_from_db()
    assert message.status == "failed" and message.status_reason.startswith("ambiguous")
    assert DeadLetter.objects.get().stage == "send"


def test_the_post_send_audit_counts_a_violation_that_reached_the_customer(fake_graph):
    before = sample("pyloto_constraint_violations_sent_total")
    clean = outbound("Nosso horário é das 8h às 18h.")
    reply_deliver(message_id=clean.pk, final_attempt=False)
    assert sample("pyloto_constraint_violations_sent_total") == before
    # A reply that slipped past finalize (e.g. written before a stricter release went live).
    slipped = outbound("Seu contrato está fechado, parabéns!")
    assert reply_deliver(message_id=slipped.pk, final_attempt=False) == "sent"
    assert sample("pyloto_constraint_violations_sent_total") == before + 1
