"""Correlation ids: one per inbound message, bound to every log line and carried through Celery.

The id lives in structlog's context variables (so every log line of the request or task carries
`correlation_id`) and travels between processes in a Celery message header. The header is named
`pyloto_correlation_id`, not `correlation_id`: Celery's worker overwrites `task.request.correlation_id`
with the AMQP correlation property, which is the task id.

Propagation through a canvas needs no help from the caller: `before_task_publish` copies the id of
whatever context publishes a message into its headers — the web request for the first task, the
running task for the next link of a chain, the chord header tasks and the chord callback (Celery
publishes those from inside the task that completes the previous step, before `task_postrun`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sentry_sdk
import structlog
from celery.signals import before_task_publish, task_postrun, task_prerun

CONTEXT_KEY = "correlation_id"
TASK_HEADER = "pyloto_correlation_id"
HTTP_HEADER = "X-Correlation-ID"

log = structlog.get_logger(__name__)


def new_correlation_id() -> str:
    """A fresh id: 32 hex characters, fits `Message.correlation_id`."""
    return uuid.uuid4().hex


def bind_correlation_id(cid: str) -> None:
    """Bind `cid` to every later log line of this context (request, task or thread)."""
    structlog.contextvars.bind_contextvars(**{CONTEXT_KEY: cid})
    if sentry_sdk.get_client().is_active():
        sentry_sdk.set_tag(CONTEXT_KEY, cid)


def current_correlation_id() -> str:
    """The id bound in this context, or "" when none is."""
    return str(structlog.contextvars.get_contextvars().get(CONTEXT_KEY) or "")


def clear_correlation_id() -> None:
    structlog.contextvars.unbind_contextvars(CONTEXT_KEY)


@contextmanager
def correlation_scope(cid: str | None = None) -> Iterator[str]:
    """Bind `cid` (a new one when None) for the block, restoring the previous id afterwards."""
    cid = cid or new_correlation_id()
    with structlog.contextvars.bound_contextvars(**{CONTEXT_KEY: cid}):
        if sentry_sdk.get_client().is_active():
            sentry_sdk.set_tag(CONTEXT_KEY, cid)
        yield cid


def _task_header(task: Any) -> str:
    request = task.request
    # Protocol 2 merges custom headers into the request; `headers` holds them on some paths (eager).
    cid = getattr(request, TASK_HEADER, None) or (getattr(request, "headers", None) or {}).get(TASK_HEADER)
    return str(cid or "")


def _on_before_task_publish(headers: dict[str, Any] | None = None, **kwargs: Any) -> None:
    cid = current_correlation_id()
    if cid and headers is not None and not headers.get(TASK_HEADER):
        headers[TASK_HEADER] = cid


def _on_task_prerun(task_id: str | None = None, task: Any = None, **kwargs: Any) -> None:
    if task is None:
        return
    cid = _task_header(task)
    if task.request.is_eager:
        # Eager tasks run inside the caller (embedded mode): keep its context, restore it after.
        tokens = structlog.contextvars.bind_contextvars(**({CONTEXT_KEY: cid} if cid else {}), task_id=task_id)
        task.request.pyloto_context_tokens = tokens
        return
    # A worker thread or process runs many tasks: start each from a clean context.
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(task_id=task_id, task_name=task.name)
    if cid:
        bind_correlation_id(cid)


def _on_task_postrun(task: Any = None, **kwargs: Any) -> None:
    if task is None:
        return
    tokens = getattr(task.request, "pyloto_context_tokens", None)
    if task.request.is_eager:
        if tokens:
            structlog.contextvars.reset_contextvars(**tokens)
        return
    structlog.contextvars.clear_contextvars()


def install_celery_propagation() -> None:
    """Connect the Celery signal handlers (idempotent; called from `PylotoConfig.ready`)."""
    before_task_publish.connect(_on_before_task_publish, weak=False, dispatch_uid="pyloto_cid_publish")
    task_prerun.connect(_on_task_prerun, weak=False, dispatch_uid="pyloto_cid_prerun")
    task_postrun.connect(_on_task_postrun, weak=False, dispatch_uid="pyloto_cid_postrun")
