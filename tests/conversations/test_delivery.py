"""Delivery: the send claim, the 24-hour window, ambiguous timeouts, and the post-send constraint audit."""

import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from prometheus_client import REGISTRY

from conversations.models import DeadLetter, DeliveryStatus, Message
from conversations.services.delivery import reply_deliver
from pyloto.whatsapp.client import WhatsAppClient
from pyloto.whatsapp.errors import WhatsAppTransientError
from tests.factories import ConversationFactory, MessageFactory

pytestmark = pytest.mark.django_db


def outbound(text: str, **conversation_fields) -> Message:
    conversation = ConversationFactory(**conversation_fields)
    return MessageFactory(
        pending_reply=True,
        conversation=conversation,
        text=text,
        run_key="run-x",
        idempotency_key=f"run:{uuid.uuid4().hex}",
    )


def sample(name: str) -> float:
    return REGISTRY.get_sample_value(name) or 0.0


def sample_labelled(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_a_sent_reply_gets_its_wamid_and_a_second_send_is_skipped(fake_graph):
    message = outbound("Olá! Como posso ajudar?")
    assert reply_deliver(message_id=message.pk) == "sent"
    message.refresh_from_db()
    assert message.status == "sent" and message.wamid.startswith("wamid.") and message.send_attempts == 1
    assert reply_deliver(message_id=message.pk) == "skipped"
    assert len(fake_graph.sent_messages()) == 1


def test_a_sent_reply_and_its_conversation_s_activity_are_recorded_in_one_statement(fake_graph):
    message = outbound("Olá! Como posso ajudar?", last_activity_at=timezone.now() - timedelta(hours=2))
    before = timezone.now()

    with CaptureQueriesContext(connection) as queries:
        assert reply_deliver(message_id=message.pk) == "sent"

    message.refresh_from_db()
    message.conversation.refresh_from_db()
    assert message.status == "sent" and message.sent_at >= before and message.status_reason == ""
    assert message.template_id is None and message.updated_at == message.sent_at
    assert message.conversation.last_activity_at == message.sent_at
    # The reply's `sent` and the conversation's activity: one statement (no transaction around two).
    recorded = [q["sql"] for q in queries.captured_queries if "SET" in q["sql"] and message.wamid in q["sql"]]
    assert len(recorded) == 1 and "last_activity_at" in recorded[0]


def test_statuses_meta_sent_before_the_send_returned_reach_the_reply_in_order(fake_graph, monkeypatch):
    message = outbound("Olá! Como posso ajudar?")
    real_send = WhatsAppClient.send

    def send_and_race(self, **kwargs):
        wamid = real_send(self, **kwargs)
        # Meta's status webhooks, read while our send's answer was still on its way: stored unlinked.
        for status in ("sent", "delivered"):
            DeliveryStatus.objects.create(
                wamid=wamid, status=status, timestamp=timezone.now(), raw={}, dedup_key=f"{wamid}:{status}"
            )
        return wamid

    monkeypatch.setattr(WhatsAppClient, "send", send_and_race)

    assert reply_deliver(message_id=message.pk) == "sent"

    message.refresh_from_db()
    assert message.status == "delivered"
    assert set(DeliveryStatus.objects.filter(wamid=message.wamid).values_list("message_id", flat=True)) == {message.pk}


def test_no_free_form_send_outside_the_24_hour_window(fake_graph):
    message = outbound("Olá!", last_inbound_at=timezone.now() - timedelta(hours=25))
    inbound = MessageFactory(conversation=message.conversation, status="answered", run_key="run-x")
    assert reply_deliver(message_id=message.pk) == "outside_window"
    message.refresh_from_db()
    inbound.refresh_from_db()
    assert message.status == "failed" and "24 horas" in message.status_reason
    assert inbound.status == "dropped" and "24 horas" in inbound.status_reason
    assert fake_graph.sent_messages() == []
    # Staff are told why nothing went out.
    assert message.staff_alerts.get().kind == "not_sent"


def test_a_timeout_after_the_request_went_out_is_ambiguous_not_resent_at_once(fake_graph, settings):
    settings.WHATSAPP_TIMEOUT_S = 0.2
    fake_graph.configure(latency_ms=1000)
    message = outbound("Olá!")
    before = sample_labelled("pyloto_ambiguous_sends_total", event="detected_timeout")
    assert reply_deliver(message_id=message.pk) == "ambiguous"
    message.refresh_from_db()
    # Meta may have it: the reply stays claimed, marked ambiguous since the attempt, for the sweeper's policy.
    assert message.status == "sending" and message.status_reason.startswith("ambiguous (timeout)")
    assert message.send_ambiguous_since is not None and message.send_ambiguous_since <= message.updated_at
    assert sample_labelled("pyloto_ambiguous_sends_total", event="detected_timeout") == before + 1
    assert reply_deliver(message_id=message.pk) == "skipped"
    assert DeadLetter.objects.count() == 0


def test_every_send_carries_its_idempotency_key_for_the_status_webhooks(fake_graph):
    message = outbound("Olá!")
    reply_deliver(message_id=message.pk)
    assert fake_graph.sent_messages()[0]["biz_opaque_callback_data"] == message.idempotency_key


def test_a_transient_refusal_puts_the_claim_back_with_its_reason(fake_graph):
    fake_graph.configure(script=[{"code": 130429, "status": 429, "retry_after": 7}])
    message = outbound("Olá!")
    with pytest.raises(WhatsAppTransientError) as raised:
        reply_deliver(message_id=message.pk)
    assert raised.value.retry_after >= 7  # honoured (the pacing adds its own jitter on top)
    message.refresh_from_db()
    assert message.status == "pending" and message.status_reason.startswith("transient")
    assert message.send_attempts == 1
    assert message.send_ambiguous_since is None  # refused, so certainly not delivered: a plain retry


def test_the_post_send_audit_counts_a_violation_that_reached_the_customer(fake_graph):
    before = sample("pyloto_constraint_violations_sent_total")
    clean = outbound("Nosso horário é das 8h às 18h.")
    reply_deliver(message_id=clean.pk)
    assert sample("pyloto_constraint_violations_sent_total") == before
    # A reply that slipped past finalize (e.g. written before a stricter release went live).
    slipped = outbound("Seu contrato está fechado, parabéns!")
    assert reply_deliver(message_id=slipped.pk) == "sent"
    assert sample("pyloto_constraint_violations_sent_total") == before + 1


def test_the_audit_trusts_only_what_this_process_passed_under_the_same_release(fake_graph):
    from dataclasses import replace

    from conversations.services.guarded import reply_check, reply_known_allowed
    from institutional.selectors import current_release

    release = current_release()
    text = "Nosso horário de atendimento é das 9h às 17h."
    assert not reply_known_allowed(release=release, text=text)
    assert reply_check(release=release, text=text).allowed
    assert reply_known_allowed(release=release, text=text)
    # Another text, other labels or another release's content: checked again, never taken from memory.
    assert not reply_known_allowed(release=release, text=text + " ")
    assert not reply_known_allowed(release=release, text=text, labels=["Falar com alguém"])
    assert not reply_known_allowed(release=replace(release, content_hash="another"), text=text)
    # What the guard blocks is never remembered as allowed.
    blocked = "Seu contrato está fechado, parabéns!"
    assert not reply_check(release=release, text=blocked).allowed
    assert not reply_known_allowed(release=release, text=blocked)
    # So the audit still counts a blocked text that reached the customer, after finalize checked it.
    before = sample("pyloto_constraint_violations_sent_total")
    assert reply_deliver(message_id=outbound(blocked).pk) == "sent"
    assert sample("pyloto_constraint_violations_sent_total") == before + 1


def test_a_send_whose_recipient_is_busy_for_long_goes_back_to_pending_without_holding_a_slot(fake_graph, settings):
    from pyloto.resilience.pacing import SendPaced, pacing_reserve_number, pacing_reset

    settings.WHATSAPP_PAIR_INTERVAL_S = 30.0
    settings.WHATSAPP_PAIR_BURST = 1
    first = outbound("Primeira")
    second = MessageFactory(
        conversation=first.conversation,
        direction="out",
        wamid=None,
        status="pending",
        text="Segunda",
        raw={"kind": "text", "body": "Segunda", "preview_url": False},
    )
    assert reply_deliver(message_id=first.pk) == "sent"
    with pytest.raises(SendPaced) as paced:
        reply_deliver(message_id=second.pk)
    assert 25 < paced.value.wait_s <= 30
    second.refresh_from_db()
    assert second.status == "pending" and second.send_attempts == 0
    # When its slot comes, so the sweeper knows it is waiting its turn, not lost.
    assert 25 < (second.next_attempt_at - timezone.now()).total_seconds() <= 30
    # Waiting for the customer spent no slot of the number: other customers go at once.
    number_id = settings.WHATSAPP_PHONE_NUMBER_ID
    assert pacing_reserve_number(phone_number_id=number_id, max_wait_s=60).wait_s < 0.1
    assert len(fake_graph.sent_messages()) == 1
    # Once the customer's slot is free again the send goes.
    pacing_reset(phone_number_id=number_id, recipient=first.conversation.contact.wa_id)
    assert reply_deliver(message_id=second.pk) == "sent"
    assert len(fake_graph.sent_messages()) == 2


@pytest.mark.parametrize("code", [130429, 131056])
def test_whatsapps_throttling_never_retries_at_once(fake_graph, code, settings):
    from pyloto.resilience.pacing import pacing_reserve_number
    from pyloto.whatsapp.errors import WhatsAppTransientError

    fake_graph.configure(script=[code])
    message = outbound("Olá!")
    with pytest.raises(WhatsAppTransientError) as refused:
        reply_deliver(message_id=message.pk)
    floor = settings.WHATSAPP_PAIR_INTERVAL_S if code == 131056 else 1.0
    assert refused.value.retry_after >= floor
    message.refresh_from_db()
    assert message.status == "pending"
    if code == 130429:  # every worker now waits for the number, not only this one
        assert pacing_reserve_number(phone_number_id=settings.WHATSAPP_PHONE_NUMBER_ID, max_wait_s=60).wait_s >= 0.9


def test_a_frequency_cap_refused_at_once_is_capped_not_failed(fake_graph):
    fake_graph.configure(script=[{"code": 131049, "status": 400}])
    message = outbound("Promoção de Natal")
    assert reply_deliver(message_id=message.pk) == "capped"
    message.refresh_from_db()
    assert message.status == "capped" and message.next_attempt_at is not None


def test_the_finalizing_worker_hands_a_throttled_send_to_the_delivery_queue_instead_of_sleeping(
    fake_graph, monkeypatch
):
    from django.conf import settings

    from pyloto.pipeline import dispatch
    from pyloto.resilience.pacing import pacing_penalize

    queued: list[tuple[int, float | None]] = []
    monkeypatch.setattr(
        dispatch, "reply_send_enqueue", lambda *, message_id, countdown=None: queued.append((message_id, countdown))
    )
    message = outbound("Olá! Como posso ajudar?")
    # WhatsApp answered 130429 a moment ago: every worker's slot on the number is pushed back 3 s.
    pacing_penalize(phone_number_id=settings.WHATSAPP_PHONE_NUMBER_ID, recipient=None, pause_s=3.0)

    assert dispatch.reply_send_here(message_id=message.pk) == "paced"

    message.refresh_from_db()
    assert message.status == "pending" and message.send_attempts == 0
    assert fake_graph.sent_messages() == []
    ((message_id, countdown),) = queued
    assert message_id == message.pk and countdown is not None and countdown > dispatch.SEND_HERE_MAX_WAIT_S
