"""Staff alerts: what a person must know about a conversation's outbound messages (not sent, failed, capped)."""

import structlog

from conversations.models import StaffAlert

log = structlog.get_logger(__name__)


def staff_alert_raise(
    *, conversation_id: int, kind: str, text: str, message_id: int | None = None, error_code: str = ""
) -> StaffAlert:
    """Record an alert shown on the conversation's page and in the staff alert list (one open per message and kind)."""
    if message_id is not None:
        existing = StaffAlert.objects.filter(
            conversation_id=conversation_id, message_id=message_id, kind=kind, resolved_at__isnull=True
        ).first()
        if existing is not None:
            return existing
    alert = StaffAlert.objects.create(
        conversation_id=conversation_id, message_id=message_id, kind=kind, text=text, error_code=error_code[:32]
    )
    log.warning(
        "staff_alert_raised", conversation_id=conversation_id, message_id=message_id, kind=kind, code=error_code
    )
    return alert
