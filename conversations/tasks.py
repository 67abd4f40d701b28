"""Celery tasks of the conversations app: thin wrappers that call services."""

from celery import shared_task

from conversations.services.privacy import retention_purge
from conversations.services.sessions import conversation_expire_idle
from conversations.services.templates import templates_sync
from pyloto.errors import TransientError
from pyloto.queues import Queue


# No autoretry: the beat runs this every few minutes, so a failed sweep is simply the next one.
@shared_task(
    name="conversations.tasks.expire_idle_conversations",
    route_queue=Queue.MAINTENANCE,
    acks_late=True,
    ignore_result=True,
    soft_time_limit=120,
    time_limit=180,
)
def expire_idle_conversations() -> int:
    """Expire conversations idle past the session TTL (beat, every 5 minutes)."""
    return conversation_expire_idle()


@shared_task(
    name="conversations.tasks.sync_message_templates",
    route_queue=Queue.DELIVERY,
    acks_late=True,
    ignore_result=True,
    autoretry_for=(TransientError,),
    retry_backoff=5,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=6,
    soft_time_limit=60,
    time_limit=90,
)
def sync_message_templates() -> dict:
    """Read the business account's templates from the Graph API (on a template status webhook, or by hand)."""
    return templates_sync().__dict__


@shared_task(
    name="conversations.tasks.purge_expired_data",
    route_queue=Queue.MAINTENANCE,
    acks_late=True,
    ignore_result=True,
    soft_time_limit=600,
    time_limit=660,
)
def purge_expired_data() -> int:
    """Blank raw payloads and texts older than DATA_RETENTION_DAYS (beat, daily); the next run resumes."""
    result = retention_purge()
    return result.messages if result else 0
