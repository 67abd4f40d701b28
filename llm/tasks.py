"""The three DB-free LLM tasks on the `llm` queue (threads pool): JSON in, JSON out.

`decide_state` runs first; Celery passes its result to both header tasks of the chord, which run in
parallel, and the chord body (`finalize_reply`, on the pipeline queue) receives both results.
Transient failures are retried with backoff; once retries are spent, or on a permanent failure, a
task returns its failure instead of raising, so the finalizer answers with the offline fallback.
"""

from collections.abc import Callable
from typing import Any

from celery import Task, shared_task
from django.conf import settings

from llm import calls
from pyloto.errors import TransientError
from pyloto.queues import Queue
from pyloto.resilience.backoff import backoff_seconds

LLM_TASK_OPTIONS: dict[str, Any] = {
    "bind": True,
    "route_queue": Queue.LLM,
    "acks_late": True,
    "max_retries": settings.LLM_TASK_MAX_RETRIES,
    "soft_time_limit": settings.LLM_TIMEOUT_S * 4,
    "time_limit": settings.LLM_TIMEOUT_S * 4 + 15,
}


# LLM retries are short: a run's reply is waiting, and after the SDK's and these retries the fallback answers.
LLM_RETRY_BACKOFF_MAX_S = 8.0


def _with_retries(task: Task, name: str, payload: dict[str, Any], call: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    try:
        return call()
    except TransientError as exc:
        if task.request.retries < task.max_retries:
            raise task.retry(
                exc=exc, countdown=backoff_seconds(task.request.retries, cap_s=LLM_RETRY_BACKOFF_MAX_S)
            ) from exc
        return calls.transient_failure(name, payload, exc)


def _next_state(step: dict[str, Any]) -> str | None:
    decision = step["decision"]["output"]
    return decision["target_state"] if decision else None


@shared_task(**LLM_TASK_OPTIONS)
def decide_state(self: Task, payload: dict[str, Any]) -> dict[str, Any]:
    """Task 1: propose the next state. Its result (with the payload) feeds both header tasks."""
    decision = _with_retries(self, "decide_state", payload, lambda: calls.decide_state_call(payload))
    return {"payload": payload, "decision": decision}


# Chord header tasks keep their results: the chord counts them in the result backend.
@shared_task(**LLM_TASK_OPTIONS, ignore_result=False)
def write_reply(self: Task, step: dict[str, Any]) -> dict[str, Any]:
    """Task 2: the reply text for the decided state (skipped when the decision already failed)."""
    next_state = _next_state(step)
    if next_state is None:
        return {"part": "reply", "result": None, "decision": step["decision"]}
    payload = step["payload"]
    result = _with_retries(self, "write_reply", payload, lambda: calls.write_reply_call(payload, next_state=next_state))
    return {"part": "reply", "result": result, "decision": step["decision"]}


@shared_task(**LLM_TASK_OPTIONS, ignore_result=False)
def choose_message_type(self: Task, step: dict[str, Any]) -> dict[str, Any]:
    """Task 3: how the reply is presented (buttons, list, media or text)."""
    next_state = _next_state(step)
    if next_state is None:
        return {"part": "choice", "result": None}
    payload = step["payload"]
    result = _with_retries(
        self, "choose_message_type", payload, lambda: calls.choose_message_type_call(payload, next_state=next_state)
    )
    return {"part": "choice", "result": result}


@shared_task(**LLM_TASK_OPTIONS)
def summarize_handoff(self: Task, payload: dict[str, Any]) -> dict[str, Any]:
    """The handoff summary for staff; its result (with the ids) goes to `store_handoff_summary`."""
    try:
        result = calls.summarize_handoff_call(payload)
    except TransientError as exc:
        if self.request.retries < self.max_retries:
            raise self.retry(
                exc=exc, countdown=backoff_seconds(self.request.retries, cap_s=LLM_RETRY_BACKOFF_MAX_S)
            ) from exc
        result = calls.summary_transient_failure(exc)
    return {"conversation_id": payload["conversation_id"], "decision_id": payload["decision_id"], **result}
