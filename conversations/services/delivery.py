"""Outbound calls about messages: read receipts, and delivering replies exactly once.

How a message goes out is the send planner's decision, made here at send time: free-form inside the
customer's 24-hour window, the mapped approved template outside it, or not at all with a reason
staff see (a `StaffAlert`).

A reply is claimed for sending with a conditional UPDATE (pending → sending) before pacing and the
HTTP call, so a redelivered or duplicated send task finds the claim and stops: never two sends for one
run. Errors decide what happens next:
- a transient error that certainly did not reach Meta (refused connection, 429, 5xx) puts the claim
  back to `pending` and the task retries with backoff (for minutes); when its retries are spent the
  reply stays `pending` and the sweeper sends it again, until the dead-letter budget;
- a timeout after the request went out is ambiguous — Meta may have delivered it — so the reply stays
  `sending`, marked ambiguous; so does a claim whose worker died (the sweeper finds it). An ambiguous
  reply is confirmed by Meta's status webhook (every send carries its idempotency key as
  `biz_opaque_callback_data`, which Meta echoes in the statuses), or resent by the sweeper when no
  status came within `SEND_CONFIRM_WINDOW_S`;
- a permanent error fails the message and dead-letters the run.
"""

import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NoReturn

import structlog
from django.conf import settings
from django.db import InterfaceError, OperationalError, transaction
from django.db import connection as db_connection
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from conversations.models import Conversation, DeadLetter, DeliveryStatus, Message, MessageTemplate, StaffAlert
from conversations.services.alerts import staff_alert_raise
from conversations.services.dead_letters import dead_letter_record
from conversations.services.guarded import reply_known_allowed
from conversations.services.inbound import inbound_finish
from conversations.services.planner import SendPlan, send_plan
from institutional.guard import check_reply
from institutional.selectors import current_release
from pyloto.errors import PermanentError
from pyloto.observability import metrics
from pyloto.resilience.pacing import SendPaced, pacing_penalize, pacing_reserve_number, pacing_reserve_pair
from pyloto.whatsapp.client import WhatsAppClient
from pyloto.whatsapp.compose import message_body, message_labels
from pyloto.whatsapp.errors import FREQUENCY_CAPPED, PAIR_RATE_LIMITED, THROTTLING_CODES, WhatsAppTransientError
from pyloto.whatsapp.payloads import message_from_json

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class ReadReceipt:
    """What the read receipt of a run's newest message needs, read by the run that took it."""

    message_id: int
    wamid: str
    contact_opted_out: bool


def read_receipt_send(*, receipt: ReadReceipt, reply_coming: bool) -> bool:
    """Mark the inbound message read with a typing indicator; a permanent refusal is logged, not raised.

    Marking the newest message read marks the earlier ones read too, so one call per burst suffices.
    `reply_coming`: the run that took the message wrote or is writing a reply. "Typing…" promises an
    answer: never shown when the bot stays silent or to a contact who opted out.
    """
    if not receipt.wamid:
        log.warning("acknowledge_skipped", message_id=receipt.message_id, reason="no inbound message with a wamid")
        return False
    bot_will_answer = reply_coming and not receipt.contact_opted_out
    try:
        WhatsAppClient.from_settings().mark_read(message_id=receipt.wamid, typing_indicator=bot_will_answer)
    except PermanentError as exc:
        # A read receipt is courtesy: never dead-letter the conversation for it.
        log.warning("acknowledge_refused", message_id=receipt.message_id, code=exc.code, error=str(exc))
        return False
    log.info("acknowledged", message_id=receipt.message_id, typing_indicator=bot_will_answer)
    return True


def reply_deliver(*, message_id: int, max_wait_s: float | None = None) -> str:
    """Send one pending reply. Returns the outcome; raises WhatsAppTransientError when a retry may help.

    Raises SendPaced (the message back to pending) when its pacing slot is further away than this worker
    waits: `max_wait_s`, `WHATSAPP_PACING_MAX_WAIT_S` when not given.
    """
    claimed = Message.objects.filter(
        pk=message_id, direction=Message.Direction.OUTBOUND, status=Message.Status.PENDING
    ).update(status=Message.Status.SENDING, send_attempts=F("send_attempts") + 1, updated_at=timezone.now())
    if claimed != 1:
        log.info("send_skipped", message_id=message_id, reason="not pending (already sent, sending or failed)")
        return "skipped"
    message = Message.objects.select_related("conversation__contact").get(pk=message_id)
    conversation = message.conversation
    # The window is the one in force now, not when the reply was written (it may have closed since).
    plan = send_plan(conversation=conversation, purpose=message.purpose, message=message_from_json(message.raw))
    metrics.SENDS_PLANNED.labels(action=plan.action).inc()
    if not plan.sendable:
        _refuse(message, plan)
        return plan.reason_code
    assert plan.message is not None
    recipient = conversation.contact.recipient
    _wait_for_pacing_slot(message, recipient, max_wait_s=max_wait_s)
    try:
        wamid = WhatsAppClient.from_settings().send(
            recipient=recipient, message=plan.message, callback_data=message.idempotency_key
        )
    except WhatsAppTransientError as exc:
        if exc.code in THROTTLING_CODES:
            _throttled(exc, recipient)
        if exc.details.get("request_sent"):
            reply_mark_ambiguous(message_id=message_id, cause="timeout", reason=str(exc))
            return "ambiguous"
        Message.objects.filter(pk=message_id, status=Message.Status.SENDING).update(
            status=Message.Status.PENDING, status_reason=f"transient: {exc}"[:255], updated_at=timezone.now()
        )
        raise
    except PermanentError as exc:
        if exc.code == FREQUENCY_CAPPED:
            # Refused at once rather than by a status webhook: the same policy, capped and sent again later.
            return send_failure_reconcile(message=message, errors=[{"code": exc.code, "title": str(exc)}])
        _fail(message, reason=str(exc), code=str(exc.code or ""), dead_letter=True)
        return "failed"
    _mark_sent(message, wamid, template=plan.template)
    _audit_sent(message)
    return "sent"


def reply_mark_ambiguous(*, message_id: int, cause: str, reason: str) -> bool:
    """Record that nobody knows whether Meta got this `sending` reply; staff see it, the sweeper resolves it."""
    now = timezone.now()
    marked = Message.objects.filter(
        pk=message_id, status=Message.Status.SENDING, send_ambiguous_since__isnull=True
    ).update(
        # Since the attempt began (the claim): Meta's `sent` status, if it got the reply, follows that within seconds.
        send_ambiguous_since=F("updated_at"),
        status_reason=f"ambiguous ({cause}): {reason}"[:255],
        updated_at=now,
    )
    if marked:
        metrics.AMBIGUOUS_SENDS.labels(event=f"detected_{cause}").inc()
        log.warning("reply_send_ambiguous", message_id=message_id, cause=cause, reason=reason[:200])
    return marked == 1


def reply_resend_unconfirmed(*, message_id: int, confirm_window_s: float) -> bool:
    """The resolution when no status webhook confirmed an ambiguous send in time: send it again.

    Meta posts a `sent` status within seconds of accepting a message, echoing our callback data; none
    within the window means Meta most likely never got it, so resending is the lesser risk.
    """
    now = timezone.now()
    reset = Message.objects.filter(
        pk=message_id, status=Message.Status.SENDING, send_ambiguous_since__isnull=False
    ).update(
        status=Message.Status.PENDING,
        send_ambiguous_since=None,
        status_reason=f"resent: no status webhook within {confirm_window_s:g} s of an ambiguous send"[:255],
        updated_at=now,
    )
    if reset:
        metrics.AMBIGUOUS_SENDS.labels(event="resent").inc()
        log.warning("reply_ambiguous_resent", message_id=message_id, confirm_window_s=confirm_window_s)
    return reset == 1


def reply_confirm_by_status(*, callback_data: str, wamid: str) -> Message | None:
    """A status webhook names a reply whose send answer we do not have (yet): Meta got it; adopt its wamid.

    Usually the answer is just slower than the webhook; for an ambiguous send it is the confirmation
    that resolves it without a resend.
    """
    waiting = Message.objects.filter(
        idempotency_key=callback_data,
        direction=Message.Direction.OUTBOUND,
        status=Message.Status.SENDING,
        wamid__isnull=True,
    )
    message = waiting.first()
    if message is None or not waiting.update(wamid=wamid, sent_at=timezone.now(), send_ambiguous_since=None):
        return None
    if message.send_ambiguous_since is not None:
        Message.objects.filter(pk=message.pk).update(status_reason="confirmed by a status webhook")
        metrics.AMBIGUOUS_SENDS.labels(event="confirmed").inc()
        log.info("reply_confirmed_by_status", message_id=message.pk, wamid=wamid)
    message.refresh_from_db()
    return message


def reply_give_up(*, message_id: int, reason: str) -> bool:
    """A reply still unsent past its budget (a Graph outage of many minutes): failed and dead-lettered."""
    message = Message.objects.filter(
        pk=message_id, direction=Message.Direction.OUTBOUND, status=Message.Status.PENDING
    ).first()
    if message is None or not _claim(message_id):
        return False
    _fail(message, reason=reason, code="unsent", dead_letter=True)
    return True


def _claim(message_id: int) -> bool:
    claimed = Message.objects.filter(
        pk=message_id, direction=Message.Direction.OUTBOUND, status=Message.Status.PENDING
    ).update(status=Message.Status.SENDING, send_attempts=F("send_attempts") + 1, updated_at=timezone.now())
    if claimed != 1:
        log.info("send_skipped", message_id=message_id, reason="claimed by another send")
    return claimed == 1


def _wait_for_pacing_slot(message: Message, recipient: dict[str, str], *, max_wait_s: float | None) -> None:
    """Wait for this send's turn in the business number's bucket and the recipient's (pair limit).

    WhatsApp counts a send when it arrives, so the recipient's slot is only ever taken for a send that
    goes right then (after the number's short wait): a recipient that is not free yet is waited for
    without holding anything, then asked again. A wait longer than `WHATSAPP_PACING_MAX_WAIT_S` does
    not hold a worker: the message goes back to pending and SendPaced asks for a task at that time.
    """
    number_id = settings.WHATSAPP_PHONE_NUMBER_ID
    address = recipient.get("to") or recipient["recipient"]
    inline = settings.WHATSAPP_PACING_MAX_WAIT_S if max_wait_s is None else max_wait_s
    waited = 0.0
    for _attempt in range(100):
        # Is the recipient free now? (Asked without reserving, so no number slot is spent on a busy one.)
        peek = pacing_reserve_pair(phone_number_id=number_id, recipient=address, max_wait_s=-1.0)
        if peek.wait_s > 0:
            if waited + peek.wait_s > inline:
                _paced(message.pk, wait_s=peek.wait_s)
            time.sleep(peek.wait_s)
            waited += peek.wait_s
            continue
        # The number's slot is bounded too: after WhatsApp's 130429 every worker's bucket is pushed back,
        # and a worker that slept through it held a pipeline process the whole pause.
        number = pacing_reserve_number(phone_number_id=number_id, max_wait_s=max(inline - waited, 0.0))
        if not number.reserved:
            _paced(message.pk, wait_s=number.wait_s)
        pair = pacing_reserve_pair(phone_number_id=number_id, recipient=address, after_s=number.wait_s, max_wait_s=0.0)
        time.sleep(number.wait_s)
        waited += number.wait_s
        if pair.reserved:
            metrics.SEND_PACING_WAIT.observe(waited)
            return
        # Another send to this customer took the slot meanwhile: that number slot goes unused.
    _paced(message.pk, wait_s=1.0)


def _paced(message_id: int, *, wait_s: float) -> NoReturn:
    """Back to pending (this attempt does not count); the task comes back when the slot should be free.

    `next_attempt_at` says when, so the sweeper leaves a send that is only waiting for its slot alone.
    """
    Message.objects.filter(pk=message_id, status=Message.Status.SENDING).update(
        status=Message.Status.PENDING,
        send_attempts=F("send_attempts") - 1,
        next_attempt_at=timezone.now() + timedelta(seconds=wait_s),
    )
    log.info("send_paced", message_id=message_id, wait_s=round(wait_s, 2))
    raise SendPaced(wait_s)


def _throttled(exc: WhatsAppTransientError, recipient: dict[str, str]) -> None:
    """WhatsApp refused for pacing: push the bucket back for every worker and never retry at once (jitter)."""
    metrics.SEND_THROTTLED.labels(code=str(exc.code)).inc()
    pair = exc.code == PAIR_RATE_LIMITED
    floor = settings.WHATSAPP_PAIR_INTERVAL_S if pair else 1.0
    pause = max(exc.retry_after or 0.0, floor) * random.uniform(1.0, 1.5)  # noqa: S311 - jitter
    pacing_penalize(
        phone_number_id=settings.WHATSAPP_PHONE_NUMBER_ID,
        recipient=(recipient.get("to") or recipient["recipient"]) if pair else None,
        pause_s=pause,
    )
    exc.retry_after = max(exc.retry_after or 0.0, pause)
    log.warning("send_throttled", code=exc.code, pause_s=round(pause, 2))


def _refuse(message: Message, plan: SendPlan) -> None:
    """The planner refused: the message fails with its reason, staff are told, the run's messages are closed."""
    with transaction.atomic():
        _fail(message, reason=plan.reason, code=plan.reason_code, dead_letter=False)
        staff_alert_raise(
            conversation_id=message.conversation_id,
            message_id=message.pk,
            kind=StaffAlert.Kind.NOT_SENT,
            text=plan.reason,
            error_code=plan.reason_code,
        )
        # Not answered, by WhatsApp's policy: the run's inbound messages say so instead of "answered".
        if message.run_key:
            inbound_finish(
                messages=Message.objects.filter(run_key=message.run_key),
                status=Message.Status.DROPPED,
                reason=f"reply not sent: {plan.reason}",
            )


def _audit_sent(message: Message) -> None:
    """Post-send audit: re-check what went out against the constraints live now. Must never fire.

    Finalize guards every reply; this catches what slipped through anyway (a release published between
    finalize and send, a bug) so the `constraint violation sent` alert can page someone.
    """
    if message.provider == "staff":
        return  # people may say what the assistant may not (a price, a signed contract)
    outbound = message_from_json(message.raw)
    release, body, labels = current_release(), message_body(outbound), message_labels(outbound)
    if reply_known_allowed(release=release, text=body, labels=labels):
        return  # finalize, in this process, passed this very text under this very release
    verdict = check_reply(release=release, text=body, labels=labels)
    if not verdict.allowed:
        metrics.CONSTRAINT_VIOLATIONS_SENT.inc()
        log.error(
            "constraint_violation_sent",
            message_id=message.pk,
            constraints=[v.constraint_slug for v in verdict.violations],
        )


# Meta has the message: its outcome must be written even through a database restart (seconds), or the
# reply would stay `sending` and, unconfirmed, be sent again.
MARK_SENT_ATTEMPTS = 8


def _mark_sent(message: Message, wamid: str, *, template: MessageTemplate | None) -> None:
    now = timezone.now()
    for attempt in range(MARK_SENT_ATTEMPTS):
        try:
            _record_sent(message, wamid, template=template, now=now)
            break
        except (OperationalError, InterfaceError) as exc:
            if attempt == MARK_SENT_ATTEMPTS - 1:
                raise
            log.warning("reply_sent_not_recorded_yet", message_id=message.pk, attempt=attempt + 1, error=str(exc))
            db_connection.close()  # a broken connection: the next attempt draws a checked one from the pool
            time.sleep(min(0.25 * 2**attempt, 4.0))
    _apply_early_statuses(message.pk, wamid)
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
    log.info(
        "reply_sent", message_id=message.pk, wamid=wamid, kind=message.type, template=template.name if template else ""
    )


def _record_sent_sql() -> str:
    message, conversation = Message._meta.db_table, Conversation._meta.db_table
    return (
        f"WITH sent AS (UPDATE {message} SET status = %s, wamid = %s, sent_at = %s, updated_at = %s, "  # noqa: S608 - the models' own tables
        "template_id = %s, status_reason = '' WHERE id = %s AND status = %s) "
        f"UPDATE {conversation} SET last_activity_at = %s WHERE id = %s"
    )


def _record_sent(message: Message, wamid: str, *, template: MessageTemplate | None, now: datetime) -> None:
    """The reply `sent` (if still `sending`) and its conversation active now, together.

    PostgreSQL does both in one statement, atomic by itself: every send makes it, so one round trip
    instead of a transaction's four (BEGIN, two UPDATEs, COMMIT). SQLite (`make run`'s database when
    DATABASE_URL is unset) has no UPDATE inside WITH: the ORM does the same in a transaction.
    """
    if db_connection.vendor == "postgresql":
        at = db_connection.ops.adapt_datetimefield_value(now)
        params = [Message.Status.SENT.value, wamid, at, at, template.pk if template else None, message.pk]
        params += [Message.Status.SENDING.value, at, message.conversation_id]
        with db_connection.cursor() as cursor:
            cursor.execute(_record_sent_sql(), params)
        return
    with transaction.atomic():
        Message.objects.filter(pk=message.pk, status=Message.Status.SENDING).update(
            status=Message.Status.SENT, wamid=wamid, sent_at=now, updated_at=now, template=template, status_reason=""
        )
        Conversation.objects.filter(pk=message.conversation_id).update(last_activity_at=now)


def _apply_early_statuses(message_id: int, wamid: str) -> None:
    """Statuses Meta sent before our send returned (stored unlinked) now reach their message, in order."""
    from conversations.services.ingestion import message_status_apply

    # Almost always none: the values alone, not model rows, for the one statement that finds out.
    early = list(
        DeliveryStatus.objects.filter(wamid=wamid, message__isnull=True)
        .order_by("pk")
        .values_list("pk", "status", "errors")
    )
    if not early:
        return
    DeliveryStatus.objects.filter(pk__in=[pk for pk, _status, _errors in early]).update(message_id=message_id)
    for _pk, status, errors in early:
        message = Message.objects.get(pk=message_id)
        message_status_apply(message=message, status=status, errors=errors)
    log.info("early_statuses_applied", message_id=message_id, count=len(early))


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


def _async_failure_reason(code: int | None) -> str:
    """What a `failed` status means, for staff, in Portuguese."""
    reasons = {
        131047: _(
            "O WhatsApp recusou a mensagem depois de aceitá-la: a janela de 24 horas do cliente já estava fechada "
            "(erro 131047). Reenvie pelos alertas quando houver um modelo aprovado para este uso."
        ),
        131026: _(
            "O WhatsApp não conseguiu entregar a mensagem (erro 131026): o número pode não ter WhatsApp, "
            "usar uma versão antiga ou não ter aceitado os termos."
        ),
        131050: _("O cliente pediu para não receber mensagens de marketing desta empresa (erro 131050)."),
        131049: _(
            "O WhatsApp reteve a mensagem pelo limite de mensagens de marketing que o cliente recebe (erro 131049). "
            "Ela será reenviada automaticamente mais tarde."
        ),
    }
    return reasons.get(code or 0, _("O WhatsApp informou falha na entrega (erro %(code)s).") % {"code": code})


def _error_code(errors: list[dict[str, Any]] | None) -> int | None:
    for error in errors or []:
        code = error.get("code") if isinstance(error, dict) else None
        if isinstance(code, int) and not isinstance(code, bool):
            return code
        if isinstance(code, str) and code.isdigit():
            return int(code)
    return None


def send_failure_reconcile(*, message: Message, errors: list[dict[str, Any]] | None) -> str:
    """A `failed` status webhook for a message WhatsApp had accepted: never counted as delivered.

    By policy: the marketing frequency cap (131049) is not a failure — the message is `capped` and
    sent again `WHATSAPP_FREQUENCY_CAP_RETRY_HOURS` later (with jitter); an opt-out of marketing
    (131050) fails without a dead letter (nothing to replay); everything else (131047 outside the
    window, 131026 undeliverable, …) fails with a dead letter an operator can replay (the planner then
    decides again, e.g. the mapped template). Staff are told in every case. Returns the new status.
    """
    code = _error_code(errors)
    reason = str(_async_failure_reason(code))
    metrics.SEND_ASYNC_FAILURES.labels(code=str(code or "unknown")).inc()
    now = timezone.now()
    with transaction.atomic():
        if code == FREQUENCY_CAPPED:
            hours = settings.WHATSAPP_FREQUENCY_CAP_RETRY_HOURS
            retry_at = now + timedelta(hours=hours * random.uniform(1.0, 1.25))  # noqa: S311 - jitter
            Message.objects.filter(pk=message.pk).update(
                status=Message.Status.CAPPED,
                status_reason=reason[:255],
                errors=errors or [],
                next_attempt_at=retry_at,
                updated_at=now,
            )
            kind, new_status = StaffAlert.Kind.CAPPED, Message.Status.CAPPED
        else:
            Message.objects.filter(pk=message.pk).update(
                status=Message.Status.FAILED, status_reason=reason[:255], errors=errors or [], updated_at=now
            )
            if code != 131050:
                dead_letter_record(
                    stage=DeadLetter.Stage.SEND,
                    conversation_id=message.conversation_id,
                    message_id=message.pk,
                    error=reason,
                    error_code=str(code or "failed"),
                )
            kind, new_status = StaffAlert.Kind.FAILED, Message.Status.FAILED
        staff_alert_raise(
            conversation_id=message.conversation_id,
            message_id=message.pk,
            kind=kind,
            text=reason,
            error_code=str(code or ""),
        )
    log.warning("send_failed_after_acceptance", message_id=message.pk, code=code, status=new_status.value)
    return new_status.value


def capped_sends_release(*, now: datetime | None = None) -> int:
    """Capped messages whose wait is over go back to `pending`, for the sweeper to send again."""
    now = now or timezone.now()
    released = Message.objects.filter(
        direction=Message.Direction.OUTBOUND, status=Message.Status.CAPPED, next_attempt_at__lte=now
    ).update(status=Message.Status.PENDING, next_attempt_at=None, updated_at=now)
    if released:
        log.info("capped_sends_released", count=released)
    return released
