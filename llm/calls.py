"""The three LLM calls, DB-free: build the prompt from the run payload, call, return JSON primitives.

Each returns a `StepResult`-shaped dict: the output (or None) plus the call's accounting, so the
finalizer can record every call — failed ones included — and fall back when an output is missing.
The shared circuit breaker is consulted before each call and told about transient failures.
"""

import time
from typing import Any

import structlog
from django.conf import settings

from llm import prompts
from llm.client import structured_completion
from llm.errors import LLMNotConfigured
from llm.schemas import HandoffSummaryDraft, MessageTypeChoice, ReplyDraft, StateDecision
from pyloto.errors import PylotoError, TransientError
from pyloto.resilience.breaker import breaker_allows_call, breaker_record_failure, breaker_record_success, llm_breaker

log = structlog.get_logger(__name__)


def _call(*, task: str, payload: dict[str, Any], messages: list[dict], schema: type) -> dict[str, Any]:
    """Run one structured call; raise TransientError to let the task retry, return a failure dict otherwise."""
    breaker = llm_breaker()
    version = prompts.prompt_version(payload, task)
    variant = _variant_fields(payload)
    # A shadow variant's failures are its own: they never open the breaker the live path depends on.
    shadow = variant["shadow"]
    if not breaker_allows_call(breaker):
        log.info("llm_call_skipped", task=task, reason="circuit_open")
        return failure_result(task, version, outcome="circuit_open", error="circuit breaker open", variant=variant)
    try:
        result = structured_completion(task=task, messages=messages, schema=schema, model=_vision_model(messages))
    except TransientError as exc:
        if not shadow:
            breaker_record_failure(breaker, exc)
        raise
    except LLMNotConfigured as exc:
        return failure_result(task, version, outcome="fallback", error=str(exc), variant=variant)
    except PylotoError as exc:
        # The provider answered (a refusal or an invalid output): that ends a failure run and, in
        # half-open, is the successful trial that closes the circuit.
        breaker_record_failure(breaker, exc)
        outcome = "invalid_output" if exc.code == "invalid_output" else "permanent_error"
        return failure_result(task, version, outcome=outcome, error=str(exc), details=exc.details, variant=variant)
    if not shadow:
        breaker_record_success(breaker)
    return {
        "output": result.output.model_dump(mode="json"),
        "call": {
            **result.to_json(),
            "task": task,
            "prompt_version": version,
            "outcome": "ok",
            "provider": "openai",
            **variant,
        },
    }


def _variant_fields(payload: dict[str, Any]) -> dict[str, Any]:
    """Which prompt variant made a call (empty: the base prompts) and whether it ran in shadow."""
    return {"variant": str(payload.get("variant", "")), "shadow": bool(payload.get("shadow", False))}


def failure_result(
    task: str,
    version: str,
    *,
    outcome: str,
    error: str,
    details: dict | None = None,
    variant: dict[str, Any] | None = None,
) -> dict[str, Any]:
    details = details or {}
    # A step that never reached the LLM (breaker open, no key) still happened at a moment: record it.
    now = time.time()
    call = {
        "task": task,
        "prompt_version": version,
        "outcome": outcome,
        "error": error[:500],
        "provider": "openai",
        "model": details.get("model", ""),
        "tokens_in": details.get("tokens_in", 0),
        "tokens_out": details.get("tokens_out", 0),
        "latency_ms": details.get("latency_ms", 0),
        "started_at": details.get("started_at") or now,
        "finished_at": details.get("finished_at") or now,
        **(variant or {}),
    }
    return {"output": None, "call": call}


def transient_failure(task: str, payload: dict[str, Any], exc: TransientError) -> dict[str, Any]:
    """The step result once retries of a transient failure are exhausted."""
    return failure_result(
        task,
        prompts.prompt_version(payload, task),
        outcome="transient_error",
        error=str(exc),
        details=exc.details,
        variant=_variant_fields(payload),
    )


def _vision_model(messages: list[dict]) -> str | None:
    """LLM_VISION_MODEL when the prompt carries the customer's images, else the task's own model."""
    has_images = any(isinstance(message.get("content"), list) for message in messages)
    return str(settings.LLM_VISION_MODEL) if has_images and settings.LLM_VISION_MODEL else None


def decide_state_call(payload: dict[str, Any]) -> dict[str, Any]:
    return _call(
        task="decide_state", payload=payload, messages=prompts.build_decide_state(payload), schema=StateDecision
    )


def write_reply_call(payload: dict[str, Any], *, next_state: str) -> dict[str, Any]:
    messages = prompts.build_write_reply(payload, next_state=next_state)
    return _call(task="write_reply", payload=payload, messages=messages, schema=ReplyDraft)


def choose_message_type_call(payload: dict[str, Any], *, next_state: str) -> dict[str, Any]:
    messages = prompts.build_choose_message_type(payload, next_state=next_state)
    return _call(task="choose_message_type", payload=payload, messages=messages, schema=MessageTypeChoice)


def summarize_handoff_call(payload: dict[str, Any]) -> dict[str, Any]:
    """The handoff summary: an output (or None) and the call's accounting, like the three pipeline calls.

    Not a reply: a failure here only means staff read the summary built from the timeline instead.
    """
    task = "summarize_handoff"
    version = prompts.HANDOFF_SUMMARY_VERSION
    breaker = llm_breaker()
    if not breaker_allows_call(breaker):
        return failure_result(task, version, outcome="circuit_open", error="circuit breaker open", variant={})
    try:
        result = structured_completion(
            task=task, messages=prompts.handoff_summary_messages(payload), schema=HandoffSummaryDraft
        )
    except TransientError as exc:
        breaker_record_failure(breaker, exc)
        raise
    except LLMNotConfigured as exc:
        return failure_result(task, version, outcome="fallback", error=str(exc), variant={})
    except PylotoError as exc:
        outcome = "invalid_output" if exc.code == "invalid_output" else "permanent_error"
        return failure_result(task, version, outcome=outcome, error=str(exc), details=exc.details, variant={})
    breaker_record_success(breaker)
    call = {**result.to_json(), "task": task, "prompt_version": version, "outcome": "ok", "provider": "openai"}
    return {"output": result.output.model_dump(mode="json"), "call": call}


def summary_transient_failure(exc: TransientError) -> dict[str, Any]:
    """The summary's result once retries of a transient failure are exhausted."""
    return failure_result(
        "summarize_handoff",
        prompts.HANDOFF_SUMMARY_VERSION,
        outcome="transient_error",
        error=str(exc),
        details=exc.details,
        variant={},
    )
