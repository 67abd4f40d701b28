"""Celery tasks of the conversations app: thin wrappers that call services."""

from celery import shared_task

from conversations.services.sessions import conversation_expire_idle
from pyloto.queues import Queue


# No autoretry: the beat runs this every few minutes, so a failed sweep is simply the next one.
@shared_task(
    name="conversations.tasks.expire_idle_conversations",
    route_queue=Queue.PIPELINE,
    acks_late=True,
    ignore_result=True,
    soft_time_limit=120,
    time_limit=180,
)
def expire_idle_conversations() -> int:
    """Expire conversations idle past the session TTL (beat, every 5 minutes)."""
    return conversation_expire_idle()
