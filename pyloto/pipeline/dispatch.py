"""Enqueue the follow-up work of stored inbound messages, after commit, never failing the webhook."""

import structlog

from pyloto.pipeline.tasks import acknowledge_inbound

log = structlog.get_logger(__name__)


def inbound_follow_ups_enqueue(*, newest_message_by_conversation: dict[int, int]) -> None:
    """Mark each conversation's newest message read (with typing indicator) and start its run.

    The messages are already durable. If the broker is unreachable we log and return: the sweeper
    re-drives every inbound message left without a terminal status, so nothing is lost.
    """
    for conversation_id, message_id in newest_message_by_conversation.items():
        try:
            acknowledge_inbound.delay(message_id)
        except Exception:
            log.exception("enqueue_failed", task="acknowledge_inbound", conversation_id=conversation_id)
