"""Celery tasks of the pipeline (thin: unpack ids, call a service)."""

from celery import shared_task

from conversations.services.delivery import message_acknowledge
from pyloto.errors import TransientError
from pyloto.queues import Queue


@shared_task(
    route_queue=Queue.DELIVERY,
    acks_late=True,
    autoretry_for=(TransientError,),
    retry_backoff=1,
    retry_backoff_max=5,
    retry_jitter=True,
    max_retries=2,  # the typing indicator is only worth showing within seconds of receipt
    soft_time_limit=30,
    time_limit=45,
)
def acknowledge_inbound(message_id: int) -> None:
    """Mark an inbound message read and show the typing indicator while the reply is prepared."""
    message_acknowledge(message_id=message_id)
