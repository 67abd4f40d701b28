"""Celery tasks of the pipeline (thin: unpack ids and JSON, call a service)."""

from typing import Any

import structlog
from celery import Task, shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError

# Imported for their signal handlers: run heartbeats, queued markers (in every process that publishes
# these tasks, the web too), and dropping unusable DB connections.
import pyloto.pipeline.db_connections
import pyloto.pipeline.heartbeat
import pyloto.pipeline.queued  # noqa: F401
from conversations.selectors import webhook_elements_waiting
from conversations.services.delivery import reply_deliver
from conversations.services.handoff import handoff_summary_store
from conversations.services.ingestion import webhook_elements_ingest
from pyloto.pipeline import dispatch
from pyloto.pipeline.finalize import run_finalize, run_recover, shadow_record
from pyloto.pipeline.run import run_launch
from pyloto.pipeline.sweeper import pipeline_sweep
from pyloto.queues import Queue
from pyloto.resilience.backoff import backoff_seconds
from pyloto.resilience.pacing import SendPaced
from pyloto.whatsapp.errors import WhatsAppTransientError

log = structlog.get_logger(__name__)

# A PostgreSQL restart or a dropped connection is transient: the task runs again on a checked connection
# (`db_connections` drops the dead one after the failed attempt) instead of leaving its run stranded until
# the sweeper reclaims it. Every step it retries is idempotent: the lease and the stored reply say what
# an earlier attempt already did.
DATABASE_RETRY: dict[str, Any] = {
    "autoretry_for": (OperationalError, InterfaceError),
    "retry_backoff": 1,
    "retry_backoff_max": 10,
    "retry_jitter": True,
    "max_retries": 5,
}


# After its retries the sweeper re-drives the elements still unread.
@shared_task(route_queue=Queue.INGEST, acks_late=True, soft_time_limit=60, time_limit=90, **DATABASE_RETRY)
def ingest_webhook(element_ids: list[int]) -> None:
    """Read what the webhook stored (contacts, conversations, messages, statuses), then start the runs."""
    dispatch.ingested_follow_ups_enqueue(webhook_elements_ingest(element_ids=element_ids))


@shared_task(route_queue=Queue.INGEST, acks_late=True, soft_time_limit=60, time_limit=90, **DATABASE_RETRY)
def ingest_waiting_elements() -> int:
    """Read every stored element still unread, up to a batch: the statuses of a window, in one task (ADR 0022)."""
    dispatch.status_batch_begin()
    element_ids = webhook_elements_waiting(received_before=None, limit=dispatch.STATUS_BATCH_LIMIT)
    if element_ids:
        dispatch.ingested_follow_ups_enqueue(webhook_elements_ingest(element_ids=element_ids))
    if len(element_ids) == dispatch.STATUS_BATCH_LIMIT:
        dispatch.status_batch_continue()
    return len(element_ids)


# A new run waits behind the finalize of runs already started (Redis serves priority 0 first): under
# a backlog, started runs finish before new ones start, so goodput holds instead of every run stalling.
NEW_RUN_PRIORITY = 6


@shared_task(
    route_queue=Queue.PIPELINE,
    route_priority=NEW_RUN_PRIORITY,
    acks_late=True,
    soft_time_limit=60,
    time_limit=90,
    **DATABASE_RETRY,
)
def run_conversation(conversation_id: int) -> str:
    """Claim the conversation's run lease and launch its pipeline (or answer offline at once)."""
    step = run_launch(conversation_id=conversation_id)
    dispatch.run_step_follow(step)
    return step.outcome


@shared_task(route_queue=Queue.PIPELINE, acks_late=True, soft_time_limit=60, time_limit=90, **DATABASE_RETRY)
def finalize_reply(parts: list[dict[str, Any]], *, run_key: str, conversation_id: int, expected_state: str) -> None:
    """Chord body: merge the decision, the reply and the message type into one guarded reply."""
    finalized = run_finalize(parts, run_key=run_key, conversation_id=conversation_id, expected_state=expected_state)
    dispatch.finalized_follow(finalized, conversation_id=conversation_id)


@shared_task(route_queue=Queue.PIPELINE, acks_late=True, soft_time_limit=60, time_limit=90, **DATABASE_RETRY)
def record_shadow_run(parts: list[dict[str, Any]], *, run_key: str, conversation_id: int, release_number: int) -> None:
    """Chord body of a shadow variant: record its calls for comparison; nothing is sent."""
    shadow_record(parts, run_key=run_key, conversation_id=conversation_id, release_number=release_number)


@shared_task(route_queue=Queue.PIPELINE, acks_late=True, soft_time_limit=60, time_limit=90)
def recover_run(
    request: Any, exc: BaseException, traceback: Any, *, run_key: str, conversation_id: int, expected_state: str
) -> None:
    """Error callback of the canvas: a task failed outright, so the offline provider answers the run."""
    finalized = run_recover(run_key=run_key, conversation_id=conversation_id, expected_state=expected_state)
    dispatch.finalized_follow(finalized, conversation_id=conversation_id)


@shared_task(
    bind=True,
    route_queue=Queue.DELIVERY,
    acks_late=True,
    max_retries=settings.SEND_MAX_RETRIES,
    soft_time_limit=60,
    time_limit=90,
)
def send_reply(self: Task, message_id: int) -> str:
    """Send a finalized reply; transient errors retry for minutes, with jitter and Retry-After.

    With the defaults (12 retries, waits capped at 60 s) a send keeps trying for about 3.5 to 7
    minutes; then the reply stays pending and the sweeper sends it again, up to its dead-letter budget.
    """
    try:
        return reply_deliver(message_id=message_id)
    except SendPaced as paced:
        # Waiting its turn is not a failure: a fresh task at the slot's time, with every retry left.
        send_reply.apply_async((message_id,), countdown=paced.wait_s)
        return "paced"
    except WhatsAppTransientError as exc:
        if self.request.retries >= self.max_retries:
            log.warning("send_retries_spent", message_id=message_id, retries=self.request.retries, error=str(exc))
            return "deferred"
        countdown = backoff_seconds(
            self.request.retries, cap_s=settings.SEND_BACKOFF_MAX_S, retry_after_s=exc.retry_after
        )
        raise self.retry(exc=exc, countdown=countdown) from exc


@shared_task(route_queue=Queue.MAINTENANCE, acks_late=True, soft_time_limit=120, time_limit=150)
def sweep_pipeline() -> dict[str, int]:
    """Beat: re-drive stranded messages and replies, reclaim expired leases, dead-letter the hopeless."""
    return pipeline_sweep()


@shared_task(route_queue=Queue.PIPELINE, acks_late=True, soft_time_limit=30, time_limit=45, **DATABASE_RETRY)
def store_handoff_summary(result: dict[str, Any]) -> None:
    """Keep the LLM's handoff summary (and record its call)."""
    handoff_summary_store(conversation_id=result["conversation_id"], decision_id=result["decision_id"], result=result)
