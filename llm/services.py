"""Writes for the LLM app: recording each LLM call with its estimated cost."""

import functools
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, ParamSpec

import structlog

from llm.models import LLMCall
from llm.pricing import estimate_cost
from pyloto.observability import metrics

log = structlog.get_logger(__name__)

P = ParamSpec("P")

_ERROR_MAX_CHARS = 2000


def _as_datetime(value: float | datetime) -> datetime:
    # The DB-free LLM tasks return epoch floats (JSON primitives); admin and tests may pass datetimes.
    if isinstance(value, datetime):
        return value
    return datetime.fromtimestamp(float(value), tz=UTC)


def llm_calls_record(
    *,
    calls: list[dict[str, Any]],
    conversation_id: int,
    run_key: str = "",
    release_number: int | None,
    correlation_id: str = "",
) -> None:
    """Store a run's calls as the LLM tasks returned them (JSON primitives), variant and shadow included.

    One INSERT for all of them (a run records three to five calls in finalize's transaction).
    """
    built = [
        llm_call_build(
            task=call["task"],
            model=call.get("model", ""),
            prompt_version=call.get("prompt_version", ""),
            release_number=release_number,
            tokens_in=call.get("tokens_in", 0),
            tokens_out=call.get("tokens_out", 0),
            latency_ms=call.get("latency_ms", 0),
            outcome=call.get("outcome", "ok"),
            started_at=call["started_at"],
            finished_at=call["finished_at"],
            correlation_id=correlation_id,
            conversation_id=conversation_id,
            run_key=run_key,
            provider=call.get("provider", "openai"),
            error=call.get("error", ""),
            variant=call.get("variant", ""),
            shadow=bool(call.get("shadow", False)),
        )
        for call in calls
    ]
    if not built:
        return
    for stored in LLMCall.objects.bulk_create(built):
        _recorded(stored)


def llm_call_build(
    *,
    task: str,
    model: str,
    prompt_version: str,
    release_number: int | None,
    tokens_in: int,
    tokens_out: int,
    latency_ms: int,
    outcome: str,
    started_at: float | datetime,
    finished_at: float | datetime,
    correlation_id: str = "",
    conversation_id: int | None = None,
    run_key: str = "",
    provider: str = LLMCall.Provider.OPENAI,
    error: str = "",
    variant: str = "",
    shadow: bool = False,
    estimated_cost: Decimal | None = None,
) -> LLMCall:
    """One LLM call's row, not saved yet; the cost comes from the `LLM_PRICES` table (offline calls cost nothing).

    A call not priced by tokens (a transcription, priced by the minute) passes its `estimated_cost`.
    """
    if outcome not in LLMCall.Outcome.values:
        raise ValueError(f"unknown LLM call outcome {outcome!r}")
    if provider not in LLMCall.Provider.values:
        raise ValueError(f"unknown LLM provider {provider!r}")
    tokens_in = max(int(tokens_in), 0)
    tokens_out = max(int(tokens_out), 0)
    if estimated_cost is not None:
        cost = estimated_cost
    else:
        cost = estimate_cost(model, tokens_in, tokens_out) if provider == LLMCall.Provider.OPENAI else Decimal(0)
    return LLMCall(
        task=task,
        model=model,
        prompt_version=prompt_version,
        release_number=release_number,
        provider=provider,
        outcome=outcome,
        error=error[:_ERROR_MAX_CHARS],
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        latency_ms=max(int(latency_ms), 0),
        estimated_cost=cost,
        started_at=_as_datetime(started_at),
        finished_at=_as_datetime(finished_at),
        correlation_id=correlation_id,
        conversation_id=conversation_id,
        run_key=run_key,
        variant=variant[:40],
        shadow=shadow,
    )


def _stored(build: Callable[P, LLMCall]) -> Callable[P, LLMCall]:
    """`build`, then the row inserted and reported: one keyword list serves one call and a run's batch."""

    @functools.wraps(build)
    def record(*args: P.args, **kwargs: P.kwargs) -> LLMCall:
        call = build(*args, **kwargs)
        call.save(force_insert=True)
        _recorded(call)
        return call

    return record


# Store one LLM call (the fields of `llm_call_build`); a run's calls go through `llm_calls_record` instead.
llm_call_record = _stored(llm_call_build)


def _recorded(call: LLMCall) -> None:
    """The metrics and the log line of one stored call."""
    task, outcome = call.task, call.outcome
    metrics.LLM_CALLS.labels(task=task, outcome=outcome).inc()
    if call.provider == LLMCall.Provider.OPENAI and outcome != LLMCall.Outcome.CIRCUIT_OPEN:
        metrics.LLM_CALL_LATENCY.labels(task=task).observe(call.latency_ms / 1000)
        metrics.LLM_TOKENS.labels(task=task, direction="prompt").inc(call.tokens_in)
        metrics.LLM_TOKENS.labels(task=task, direction="completion").inc(call.tokens_out)
    log.info(
        "llm_call_recorded",
        llm_call_id=call.pk,
        task=task,
        model=call.model,
        outcome=outcome,
        provider=call.provider,
        tokens_in=call.tokens_in,
        tokens_out=call.tokens_out,
        latency_ms=call.latency_ms,
        conversation_id=call.conversation_id,
        run_key=call.run_key,
        variant=call.variant,
        shadow=call.shadow,
    )
