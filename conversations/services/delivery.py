"""Outbound calls about messages: read receipts now, reply delivery with the pipeline."""

import structlog

from conversations.models import Message
from pyloto.errors import PermanentError
from pyloto.whatsapp.client import WhatsAppClient

log = structlog.get_logger(__name__)


def message_acknowledge(*, message_id: int) -> bool:
    """Mark the inbound message read with a typing indicator; a permanent refusal is logged, not raised.

    Marking the newest message read marks the earlier ones read too, so one call per burst suffices.
    """
    message = Message.objects.filter(pk=message_id, direction=Message.Direction.INBOUND).only("wamid").first()
    if message is None or not message.wamid:
        log.warning("acknowledge_skipped", message_id=message_id, reason="no inbound message with a wamid")
        return False
    try:
        WhatsAppClient.from_settings().mark_read(message_id=message.wamid, typing_indicator=True)
    except PermanentError as exc:
        # A read receipt is courtesy: never dead-letter the conversation for it.
        log.warning("acknowledge_refused", message_id=message_id, code=exc.code, error=str(exc))
        return False
    log.info("acknowledged", message_id=message_id)
    return True
