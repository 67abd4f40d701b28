"""Enqueue pipeline work after commit, never failing the caller when the broker is unreachable.

Every caller's data is already durable when these run. If the broker cannot be reached we log and
return: the sweeper re-drives inbound messages left without a terminal status and pending replies,
so nothing is lost.
"""

import structlog
from django.conf import settings

from conversations.services.handoff import handoff_summary_payload
from conversations.services.ingestion import IngestResult
from conversations.services.runs import run_has_new_inbound
from llm.client import llm_configured

log = structlog.get_logger(__name__)


def _enqueue(task_name: str, *args: int, retry_policy: dict | None = None, **fields: int) -> bool:
    from pyloto.pipeline import tasks

    try:
        getattr(tasks, task_name).apply_async(args, retry_policy=retry_policy or settings.REDIS_OUTAGE_RETRY_POLICY)
    except Exception:
        log.exception("enqueue_failed", task=task_name, **fields)
        return False
    return True


def webhook_elements_enqueue(*, element_ids: list[int]) -> bool:
    """The webhook's one enqueue: read the elements it just stored (contacts, messages, statuses…).

    Short retries: Meta's request waits on this, and the sweeper re-drives what it misses.
    """
    from pyloto.pipeline import tasks

    try:
        tasks.ingest_webhook.apply_async((element_ids,), retry_policy=settings.WEBHOOK_PUBLISH_RETRY_POLICY)
    except Exception:
        log.exception("enqueue_failed", task="ingest_webhook", elements=len(element_ids))
        return False
    return True


def ingested_follow_ups_enqueue(result: IngestResult) -> None:
    """What an ingestion asks for once it committed: runs for new messages, a template sync."""
    if result.conversations_to_run:
        inbound_follow_ups_enqueue(newest_message_by_conversation=result.conversations_to_run)
    if result.templates_changed:
        templates_sync_enqueue()


def inbound_follow_ups_enqueue(*, newest_message_by_conversation: dict[int, int]) -> None:
    """Per conversation: mark the newest message read (typing indicator on) and start a run."""
    for conversation_id, message_id in newest_message_by_conversation.items():
        # Short retries: the webhook's request waits on these, and the sweeper re-drives what they miss.
        policy = settings.WEBHOOK_PUBLISH_RETRY_POLICY
        queued = _enqueue(
            "acknowledge_inbound", message_id, retry_policy=policy, conversation_id=conversation_id
        ) and _enqueue("run_conversation", conversation_id, retry_policy=policy, conversation_id=conversation_id)
        if not queued:
            # The broker is down: more attempts would only delay the webhook's 200. The sweeper runs them.
            log.warning("enqueue_abandoned", conversations_left=len(newest_message_by_conversation))
            return


def templates_sync_enqueue() -> bool:
    """Sync the message templates from the Graph API (after a template status webhook)."""
    from conversations import tasks

    try:
        tasks.sync_message_templates.delay()
    except Exception:
        log.exception("enqueue_failed", task="sync_message_templates")
        return False
    return True


def reply_send_enqueue(*, message_id: int) -> bool:
    return _enqueue("send_reply", message_id, message_id=message_id)


def run_enqueue(*, conversation_id: int) -> bool:
    return _enqueue("run_conversation", conversation_id, conversation_id=conversation_id)


def run_enqueue_if_pending(*, conversation_id: int) -> bool:
    """Start the next run when messages arrived during the one that just ended (a burst)."""
    if not run_has_new_inbound(conversation_id=conversation_id):
        return False
    return run_enqueue(conversation_id=conversation_id)


def handoff_summary_enqueue(*, conversation_id: int) -> bool:
    """After a run handed the conversation over: ask the LLM for the staff's summary (when one is configured)."""
    if not llm_configured():
        return False
    payload = handoff_summary_payload(conversation_id=conversation_id)
    if payload is None:
        return False
    from llm.tasks import summarize_handoff
    from pyloto.pipeline.tasks import store_handoff_summary

    try:
        (summarize_handoff.s(payload) | store_handoff_summary.s()).delay()
    except Exception:
        log.exception("enqueue_failed", task="summarize_handoff", conversation_id=conversation_id)
        return False
    return True
