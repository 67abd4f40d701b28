"""Queued markers: which conversations have a run task waiting and which replies a send task, in Redis.

A message still `received` after `SWEEP_REDRIVE_AFTER_S` (or a reply still `pending`) may have lost
its task, or its task may only be waiting behind a backlog: the database cannot tell. Re-driving the
waiting ones adds a duplicate to the very queue they wait in, every period, and a backlog grows
faster than any worker drains it (the fault run's delivery queue held five sends per reply). So each
published `run_conversation` and `send_reply` leaves a marker here (`after_task_publish`, in the
publishing process) that the task removes when a worker starts it (`task_prerun`), and the sweeper
re-drives only what has no marker:
- a marker lives as long as its task can still be delivered: the broker's visibility timeout, plus
  its countdown (a send retry, a paced send);
- a Redis restart without persistence loses the queued tasks and their markers together, so the
  sweeper re-drives them at its next pass;
- a killed worker's started tasks have no marker (the lease heartbeat and the send claim recover
  them); the few it had reserved but not started keep theirs until Redis hands them out again;
- a marker that could not be written (Redis down) is missing: the task, if it was published at all,
  may be re-driven once more, and the lease or the send claim turns the duplicate away.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import redis
import structlog
from celery.signals import after_task_publish, task_prerun
from django.conf import settings

from pyloto.resilience.store import resilience_redis

log = structlog.get_logger(__name__)

KEY_PREFIX = "pyloto:queued:"
RUN = "run"
SEND = "send"
# The tasks whose queued state the sweeper asks about, and the kind of id their one argument is.
TRACKED_TASKS = {
    "pyloto.pipeline.tasks.run_conversation": RUN,
    "pyloto.pipeline.tasks.send_reply": SEND,
}


def _key(kind: str, object_id: int) -> str:
    return f"{KEY_PREFIX}{kind}:{object_id}"


def queued_among(kind: str, object_ids: list[int]) -> set[int] | None:
    """The ids among these with a task queued; None when Redis cannot say (then re-drive nothing)."""
    if not object_ids:
        return set()
    try:
        pipe = resilience_redis().pipeline(transaction=False)
        for object_id in object_ids:
            pipe.exists(_key(kind, object_id))
        found = pipe.execute()
    except redis.RedisError as exc:
        log.warning("queued_markers_unreadable", kind=kind, count=len(object_ids), error=str(exc))
        return None
    return {object_id for object_id, exists in zip(object_ids, found, strict=True) if exists}


def _tracked(task_name: str | None, args: Any) -> tuple[str, int] | None:
    kind = TRACKED_TASKS.get(task_name or "")
    if kind is None or not isinstance(args, list | tuple) or not args or not isinstance(args[0], int):
        return None
    return kind, args[0]


def _countdown_s(eta: Any) -> float:
    if not isinstance(eta, str):
        return 0.0
    try:
        due = datetime.fromisoformat(eta)
    except ValueError:
        return 0.0
    if due.tzinfo is None:
        due = due.replace(tzinfo=UTC)
    return max(0.0, (due - datetime.now(UTC)).total_seconds())


@after_task_publish.connect(weak=False)
def _mark_queued(sender: str | None = None, headers: Any = None, body: Any = None, **_: Any) -> None:
    args = body[0] if isinstance(body, list | tuple) and body else None
    tracked = _tracked(sender, args)
    if tracked is None or settings.EMBEDDED:
        return
    eta = headers.get("eta") if isinstance(headers, dict) else None
    ttl_s = settings.CELERY_VISIBILITY_TIMEOUT_S + _countdown_s(eta)
    try:
        resilience_redis().set(_key(*tracked), 1, px=int(ttl_s * 1000))
    except redis.RedisError as exc:
        log.warning("queued_marker_failed", kind=tracked[0], error=str(exc))


@task_prerun.connect(weak=False)
def _unmark_started(sender: Any = None, args: Any = (), **_: Any) -> None:
    tracked = _tracked(getattr(sender, "name", None), args)
    if tracked is None or settings.EMBEDDED:
        return
    try:
        resilience_redis().delete(_key(*tracked))
    except redis.RedisError as exc:
        log.warning("queued_marker_failed", kind=tracked[0], error=str(exc))
