"""Outbound calls about messages: read receipts, and delivering replies exactly once.

A reply is claimed for sending with a conditional UPDATE (pending → sending), so a redelivered or
duplicated send task finds the claim and stops: never two sends for one run. Errors decide what
happens next: a transient error that certainly did not reach Meta (refused connection, 429, 5xx)
puts the claim back and the task retries with backoff; a timeout after the request went out is
ambiguous — Meta may have delivered it — so we do not resend and dead-letter it for a person to
check; a permanent error fails the message and dead-letters the run.
"""

import structlog
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from conversations.models import Conversation, DeadLetter, Message
from conversations.selectors import conversation_in_service_window
from conversations.services.dead_letters import dead_letter_record
from institutional.guard import check_reply
from institutional.selectors import current_release
from pyloto.errors import PermanentError
from pyloto.observability import metrics
from pyloto.pipeline.compose import message_body, message_labels
from pyloto.whatsapp.client import WhatsAppClient
from pyloto.whatsapp.errors import WhatsAppTransientError
from pyloto.whatsapp.payloads import message_from_json

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


def reply_deliver(*, message_id: int, final_attempt: bool) -> str:
    """Send one pending reply. Returns the outcome; raises WhatsAppTransientError when a retry may help."""
    claimed = Message.objects.filter(
        pk=message_id, direction=Message.Direction.OUTBOUND, status=Message.Status.PENDING
    ).update(status=Message.Status.SENDING, send_attempts=F("send_attempts") + 1, updated_at=timezone.now())
    if claimed != 1:
        log.info("send_skipped", message_id=message_id, reason="not pending (already sent, sending or failed)")
        return "skipped"
    message = Message.objects.select_related("conversation__contact").get(pk=message_id)
    conversation = message.conversation
    if not conversation_in_service_window(conversation):
        reason = "outside the 24-hour customer-service window"
        _fail(message, reason=reason, code="131047", dead_letter=False)
        # Not answered, by WhatsApp's policy: the run's inbound messages say so instead of "answered".
        closed = (
            Message.objects.filter(run_key=message.run_key, direction=Message.Direction.INBOUND).update(
                status=Message.Status.DROPPED, status_reason=f"reply not sent: {reason}"
            )
            if message.run_key
            else 0
        )
        metrics.MESSAGES.labels(outcome="dropped").inc(closed)
        return "outside_window"
    try:
        wamid = WhatsAppClient.from_settings().send(
            recipient=conversation.contact.recipient, message=message_from_json(message.raw)
        )
    except WhatsAppTransientError as exc:
        if exc.details.get("request_sent"):
            _fail(message, reason=f"ambiguous: {exc}", code=str(exc.code or "timeout"), dead_letter=True)
            return "ambiguous"
        if final_attempt:
            _fail(message, reason=f"retries exhausted: {exc}", code=str(exc.code or ""), dead_letter=True)
            return "failed"
        Message.objects.filter(pk=message_id, status=Message.Status.SENDING).update(status=Message.Status.PENDING)
        raise
    except PermanentError as exc:
        _fail(message, reason=str(exc), code=str(exc.code or ""), dead_letter=True)
        return "failed"
    _mark_sent(message, wamid)
    _audit_sent(message)
    return "sent"


def _audit_sent(message: Message) -> None:
    """Post-send audit: re-check what went out against the constraints live now. Must never fire.

    Finalize guards every reply; this catches what slipped through anyway (a release published between
    finalize and send, a bug) so the `constraint violation sent` alert can page someone.
    """
    if message.provider == "staff":
        return  # people may say what the assistant may not (a price, a signed contract)
    outbound = message_from_json(message.raw)
    verdict = check_reply(release=current_release(), text=message_body(outbound), labels=message_labels(outbound))
    if not verdict.allowed:
        metrics.CONSTRAINT_VIOLATIONS_SENT.inc()
        log.error(
            "constraint_violation_sent",
            message_id=message.pk,
            constraints=[v.constraint_slug for v in verdict.violations],
        )


def _mark_sent(message: Message, wamid: str) -> None:
    now = timezone.now()
    with transaction.atomic():
        Message.objects.filter(pk=message.pk, status=Message.Status.SENDING).update(
            status=Message.Status.SENT, wamid=wamid, sent_at=now, updated_at=now
        )
        Conversation.objects.filter(pk=message.conversation_id).update(last_activity_at=now)
    first_inbound = (
        (
            Message.objects.filter(run_key=message.run_key, direction=Message.Direction.INBOUND)
            .order_by("created_at")
            .values_list("created_at", flat=True)
            .first()
        )
        if message.run_key
        else None
    )
    if first_inbound is not None:
        metrics.END_TO_END_LATENCY.observe((now - first_inbound).total_seconds())
    log.info("reply_sent", message_id=message.pk, wamid=wamid, kind=message.type)


def _fail(message: Message, *, reason: str, code: str, dead_letter: bool) -> None:
    with transaction.atomic():
        Message.objects.filter(pk=message.pk).update(
            status=Message.Status.FAILED, status_reason=reason[:255], updated_at=timezone.now()
        )
        if dead_letter:
            dead_letter_record(
                stage=DeadLetter.Stage.SEND,
                conversation_id=message.conversation_id,
                message_id=message.pk,
                error=reason,
                error_code=code,
                run_key=message.run_key,
            )
    log.warning("reply_send_failed", message_id=message.pk, reason=reason[:200], dead_lettered=dead_letter)
