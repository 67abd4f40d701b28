"""The handoff summary: what the LLM is given when a conversation is handed to a person, and storing its answer.

The pipeline asks for it after the run that handed over commits (`pyloto/pipeline/dispatch.py`); the LLM
call itself is a DB-free task on the `llm` queue. A summary that never arrives is no loss: the inbox
builds the same three parts from the timeline (`inbox.selectors.handoff_summary`).
"""

from __future__ import annotations

from typing import Any

import structlog
from django.db import IntegrityError, transaction

from conversations.models import HandoffSummary, Message, TransitionDecision
from conversations.states import State
from llm.services import llm_calls_record

log = structlog.get_logger(__name__)

# The summary reads at most this many of the newest messages before the handoff.
SUMMARY_MESSAGES = 30


def handoff_summary_payload(*, conversation_id: int) -> dict[str, Any] | None:
    """JSON primitives for the summary of the conversation's latest handoff; None when it has one already."""
    decision = (
        TransitionDecision.objects.filter(
            conversation_id=conversation_id,
            outcome=TransitionDecision.Outcome.APPLIED,
            proposed_state=State.HANDOFF_REQUESTED,
        )
        .order_by("-created_at", "-pk")
        .first()
    )
    if decision is None or HandoffSummary.objects.filter(decision=decision).exists():
        return None
    newest = (
        Message.objects.filter(conversation_id=conversation_id)
        .exclude(text="")
        .order_by("-created_at", "-pk")
        .values("direction", "text", "provider")[:SUMMARY_MESSAGES]
    )
    messages = [
        {"role": "customer" if row["direction"] == Message.Direction.INBOUND else "assistant", "text": row["text"]}
        for row in reversed(list(newest))
    ]
    return {
        "conversation_id": conversation_id,
        "decision_id": decision.pk,
        "messages": messages,
        "reason": decision.reason,
    }


def handoff_summary_store(*, conversation_id: int, decision_id: int, result: dict[str, Any]) -> HandoffSummary | None:
    """Record the call (as every LLM call is) and keep the summary when there is one; idempotent per handoff."""
    call = result.get("call") or {}
    with transaction.atomic():
        if call:
            llm_calls_record(calls=[call], conversation_id=conversation_id, release_number=None)
        output = result.get("output")
        if not output:
            log.info("handoff_summary_missing", conversation_id=conversation_id, outcome=call.get("outcome", ""))
            return None
        try:
            with transaction.atomic():
                summary = HandoffSummary.objects.create(
                    conversation_id=conversation_id,
                    decision_id=decision_id,
                    customer_wants=output["customer_wants"][:2000],
                    bot_said=output["bot_said"][:2000],
                    why=output["why"][:1000],
                )
        except IntegrityError:
            # A redelivered task: the first one stored it.
            return HandoffSummary.objects.filter(decision_id=decision_id).first()
    log.info("handoff_summary_stored", conversation_id=conversation_id, decision_id=decision_id)
    return summary
