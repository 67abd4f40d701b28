"""LLM-call accounting: the record service, the price table and the read-only admin."""

import time
from decimal import Decimal

import pytest
from django.utils import timezone

from conversations.models import Contact, Conversation
from llm import pricing
from llm.models import LLMCall
from llm.pricing import estimate_cost
from llm.services import llm_call_record

pytestmark = pytest.mark.django_db


def _record(**overrides) -> LLMCall:
    now = time.time()
    fields = {
        "task": "decide_state",
        "model": "gpt-4o-mini",
        "prompt_version": "decide_state@3",
        "release_number": 7,
        "tokens_in": 1200,
        "tokens_out": 300,
        "latency_ms": 850,
        "outcome": LLMCall.Outcome.OK,
        "started_at": now - 0.85,
        "finished_at": now,
        "correlation_id": "corr-1",
        "run_key": "run-42",
    }
    fields.update(overrides)
    return llm_call_record(**fields)


def test_record_stores_the_call_with_its_cost_from_the_price_table():
    call = _record()

    stored = LLMCall.objects.get(pk=call.pk)
    # 1200 × 0.15 + 300 × 0.60 USD per million tokens
    assert stored.estimated_cost == Decimal("0.00036000")
    assert (stored.task, stored.outcome, stored.provider) == ("decide_state", "ok", "openai")
    assert (stored.tokens_in, stored.tokens_out, stored.latency_ms) == (1200, 300, 850)
    assert stored.release_number == 7
    assert stored.run_key == "run-42"
    assert stored.conversation is None
    assert 0.8 < (stored.finished_at - stored.started_at).total_seconds() < 0.9
    assert stored.started_at.tzinfo is not None


def test_price_table_comes_from_settings(settings):
    settings.LLM_PRICES = {"my-model": {"input": 1, "output": 2}}

    call = _record(model="my-model", tokens_in=1_000_000, tokens_out=500_000)

    assert call.estimated_cost == Decimal("2.00000000")


def test_dated_snapshot_uses_its_base_model_price():
    snapshot = estimate_cost("gpt-4o-mini-2024-07-18", 1_000_000, 0)

    assert snapshot == Decimal("0.15000000"), "must not be priced as gpt-4o"
    assert estimate_cost("gpt-4o-2024-08-06", 1_000_000, 0) == Decimal("2.50000000")


class _RecordingLog:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict]] = []

    def warning(self, event: str, **fields) -> None:
        self.events.append((event, fields))


def test_unknown_model_costs_zero_and_is_logged_once(monkeypatch):
    # A recording logger rather than structlog's capture: configured loggers are cached on first use.
    recorder = _RecordingLog()
    monkeypatch.setattr(pricing, "log", recorder)
    monkeypatch.setattr(pricing, "_unpriced_logged", set())

    first = _record(model="llama-3.1-8b-instruct")
    second = _record(model="llama-3.1-8b-instruct")

    assert first.estimated_cost == second.estimated_cost == Decimal(0)
    assert recorder.events == [("llm_model_unpriced", {"model": "llama-3.1-8b-instruct"})]


def test_offline_calls_cost_nothing_and_failures_keep_their_error():
    offline = _record(provider=LLMCall.Provider.OFFLINE, outcome=LLMCall.Outcome.FALLBACK)
    failed = _record(outcome=LLMCall.Outcome.TRANSIENT_ERROR, error="LLM request timed out", tokens_out=0)

    assert offline.estimated_cost == 0
    assert failed.error == "LLM request timed out"
    assert failed.estimated_cost == Decimal("0.00018000")


def test_unknown_outcome_is_refused():
    with pytest.raises(ValueError, match="outcome"):
        _record(outcome="great")
    assert LLMCall.objects.count() == 0


def test_conversation_link_survives_conversation_deletion():
    contact = Contact.objects.create(wa_id="5511900000001")
    conversation = Conversation.objects.create(contact=contact, last_activity_at=timezone.now())
    call = _record(conversation_id=conversation.pk)
    assert call.conversation == conversation

    conversation.delete()

    call.refresh_from_db()
    assert call.conversation_id is None


def test_admin_lists_calls_read_only(admin_client):
    contact = Contact.objects.create(wa_id="5511900000002")
    conversation = Conversation.objects.create(contact=contact, last_activity_at=timezone.now())
    call = _record(task="write_reply", conversation_id=conversation.pk)

    listing = admin_client.get("/admin/llm/llmcall/?outcome__exact=ok&task=write_reply")
    assert listing.status_code == 200
    assert b"write_reply" in listing.content
    assert f"#{conversation.pk}".encode() in listing.content

    assert admin_client.get("/admin/llm/llmcall/add/").status_code == 403
    detail = admin_client.get(f"/admin/llm/llmcall/{call.pk}/change/")
    assert detail.status_code == 200
    assert b'name="tokens_in"' not in detail.content, "fields must render read-only"


def test_a_runs_calls_are_stored_in_one_insert_with_their_costs():
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from llm.services import llm_calls_record
    from tests.factories import ConversationFactory

    conversation = ConversationFactory()
    now = time.time()
    calls = [
        {
            "task": task,
            "model": "gpt-4o-mini",
            "tokens_in": 1000,
            "tokens_out": 100,
            "started_at": now,
            "finished_at": now,
        }
        for task in ("decide_state", "write_reply", "choose_message_type")
    ]
    with CaptureQueriesContext(connection) as queries:
        llm_calls_record(calls=calls, conversation_id=conversation.pk, run_key="r1", release_number=2)
    assert [q["sql"].split()[0] for q in queries.captured_queries] == ["INSERT"]
    stored = list(LLMCall.objects.filter(run_key="r1").order_by("pk"))
    assert [c.task for c in stored] == ["decide_state", "write_reply", "choose_message_type"]
    assert all(c.estimated_cost == estimate_cost("gpt-4o-mini", 1000, 100) > 0 for c in stored)
    assert {c.release_number for c in stored} == {2}
    with pytest.raises(ValueError):
        llm_calls_record(calls=[{**calls[0], "outcome": "nonsense"}], conversation_id=conversation.pk, release_number=2)
