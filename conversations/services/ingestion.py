"""Webhook ingestion in two steps: the webhook stores each element as received; a worker step reads it.

`webhook_store` is all the webhook does after the signature: one INSERT … ON CONFLICT (key) DO NOTHING
of the body's elements (ADR 0016), unique on the message's wamid (a status's wamid + status +
recipient, a digest otherwise), so Meta's redelivery is acknowledged without a second row.

`webhook_elements_ingest` is the worker step, idempotent and re-drivable by the sweeper: one database
transaction per call, one savepoint per element. A duplicate (Meta delivers at least once, sometimes
concurrently) is acknowledged and skipped. An element that cannot be stored — an id longer than any
column, a shape nobody foresaw — is rolled back to its savepoint and kept as a `QuarantinedElement`
with its error (visible in the admin, replayable), so it never takes the rest of its batch down.
What follows (runs, a template sync) is the caller's: the result says what to start.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import structlog
from django.db import IntegrityError, InterfaceError, OperationalError, connection, transaction
from django.utils import timezone

from conversations.models import (
    Contact,
    Conversation,
    DeliveryStatus,
    Message,
    QuarantinedElement,
    UnhandledEvent,
    WebhookElement,
    WebhookEvent,
)
from conversations.selectors import opt_keyword
from conversations.services.contacts import (
    contact_find,
    contact_opt_in,
    contact_opt_out,
    contact_upsert,
    identity_change_apply,
)
from conversations.services.delivery import reply_confirm_by_status, send_failure_reconcile
from conversations.services.sessions import conversation_get_or_start
from conversations.services.state import conversation_take_by_business_app
from conversations.services.templates import template_status_apply
from pyloto.observability import metrics
from pyloto.observability.correlation import correlation_scope
from pyloto.whatsapp.webhook import (
    EchoMessage,
    IdentityChange,
    InboundMessage,
    OpsEvent,
    ParsedWebhook,
    PreferenceUpdate,
    StatusUpdate,
    TemplateStatusChange,
    UnhandledChange,
    clean_text,
    content_key,
    element_kind,
    parse_webhook,
    pg_safe,
    split_webhook,
    storable,
)

log = structlog.get_logger(__name__)

# Meta's send error: the user stopped marketing messages from this business (treated as an opt-out).
OPT_OUT_ERROR_CODE = 131050

# Meta's statuses may arrive out of order; a later-ranked status never goes back to an earlier one.
_STATUS_RANK = {
    Message.Status.PENDING: 0,
    Message.Status.SENT: 1,
    Message.Status.DELIVERED: 2,
    Message.Status.READ: 3,
    Message.Status.FAILED: 4,
    Message.Status.CAPPED: 4,
}
# Errors that belong to the connection, not to one element: the step fails and is re-driven.
_CONNECTION_ERRORS = (OperationalError, InterfaceError)


@dataclass
class IngestResult:
    """What one ingestion stored; `conversations_to_run` maps conversation id to its newest new message."""

    stored_message_ids: list[int] = field(default_factory=list)
    duplicates: int = 0
    dropped: int = 0
    statuses: int = 0
    events: int = 0
    unhandled: int = 0
    quarantined: list[str] = field(default_factory=list)
    conversations_to_run: dict[int, int] = field(default_factory=dict)
    # WhatsApp said a template changed: a full template sync should follow.
    templates_changed: bool = False


# --- the webhook's write ----------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredElements:
    """What `webhook_store` wrote: the new elements' ids, and whether every element was a status."""

    ids: list[int]
    statuses_only: bool


def webhook_store(*, body: bytes, payload: Any, correlation_id: str) -> StoredElements:
    """Store every element of a verified webhook body in one statement; the ids of the new ones.

    The statement commits on its own (autocommit), so the caller's 200 follows a durable write. An
    element already stored (Meta's redelivery) returns no id: it was or will be read by the step.
    """
    elements: dict[str, Any] = {}
    for key, element in split_webhook(storable(body, payload)):
        elements.setdefault(key, element)
    if not elements:
        return StoredElements([], statuses_only=False)  # entries without changes to read: nothing to keep
    statuses_only = all(element_kind(key) == "status" for key in elements)
    now = timezone.now()
    params: list[Any] = []
    for key, element in elements.items():
        params += [key, json.dumps(element, separators=(",", ":")), correlation_id, now]
    rows = ", ".join(["(%s, %s, %s, %s)"] * len(elements))
    sql = (
        f'INSERT INTO {WebhookElement._meta.db_table} ("key", body, correlation_id, received_at) '  # noqa: S608
        f'VALUES {rows} ON CONFLICT ("key") DO NOTHING RETURNING id'
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return StoredElements([row[0] for row in cursor.fetchall()], statuses_only=statuses_only)


# --- the worker step --------------------------------------------------------------------------------


def webhook_elements_ingest(*, element_ids: list[int]) -> IngestResult:
    """Read stored webhook elements not read yet: contacts, conversations, messages, statuses, events.

    Elements another call is reading (a re-drive racing the first task) are skipped, and an element is
    marked read in the transaction that stored what it carried: each is read exactly once.
    """
    result = IngestResult()
    with transaction.atomic():
        rows = list(
            WebhookElement.objects.select_for_update(skip_locked=True)
            .filter(pk__in=element_ids, processed_at__isnull=True)
            .order_by("pk")
            .values_list("pk", "body", "correlation_id")
        )
        bodies_by_correlation: dict[str, list[Any]] = {}
        for _pk, body, correlation_id in rows:
            bodies_by_correlation.setdefault(correlation_id, []).append(body)
        for correlation_id, bodies in bodies_by_correlation.items():
            # The step's lines carry the webhook request's id, as when ingestion ran inside it.
            with correlation_scope(correlation_id or uuid.uuid4().hex) as cid:
                _ingest_parsed(_parse_all(bodies), cid, result)
        # Read: the body is now where it belongs (a message, a status, a quarantined element, …) and is
        # erased or purged there; the row keeps only its key, so a redelivery is still a duplicate.
        WebhookElement.objects.filter(pk__in=[row[0] for row in rows]).update(processed_at=timezone.now(), body={})
    _report(result)
    return result


def webhook_ingest(*, payload: Any, correlation_id: str) -> IngestResult:
    """Read a whole webhook body at once (a quarantine replay), in one transaction."""
    result = IngestResult()
    with transaction.atomic():
        _ingest_parsed(parse_webhook(pg_safe(payload)), correlation_id, result)
    _report(result)
    return result


def _parse_all(bodies: list[Any]) -> ParsedWebhook:
    """One parse of several stored elements, in their order of arrival."""
    parsed = ParsedWebhook()
    for body in bodies:
        one = parse_webhook(body)
        for name in parsed.__dataclass_fields__:
            getattr(parsed, name).extend(getattr(one, name))
    return parsed


def _ingest_parsed(parsed: ParsedWebhook, correlation_id: str, result: IngestResult) -> None:
    # Identity changes first: a message later in the same body already lands on the merged contact.
    steps: list[tuple[str, dict[str, Any], Callable[[], None]]] = []
    steps += [("identity", c.source, partial(_apply_identity, c, correlation_id)) for c in parsed.identity_changes]
    steps += [("message", m.source, partial(_store_inbound, m, correlation_id, result)) for m in parsed.messages]
    steps += [("echo", e.source, partial(_store_echo, e, correlation_id, result)) for e in parsed.echoes]
    steps += [("status", s.source, partial(_store_status, s, correlation_id, result)) for s in parsed.statuses]
    steps += [("preference", p.source, partial(_apply_preference, p, correlation_id)) for p in parsed.preferences]
    steps += [("template", t.raw, partial(_apply_template_status, t)) for t in parsed.template_updates]
    steps += [("event", e.source, partial(_store_event, e, correlation_id, result)) for e in parsed.events]
    steps += [
        ("unhandled", _jsonable(u.raw), partial(_store_unhandled, u, correlation_id, result)) for u in parsed.unhandled
    ]
    for element, source, store in steps:
        _isolated(result, element, source, correlation_id, store)
    for field_name, failed_change, error in parsed.failures:
        _quarantine(result, "change", failed_change, correlation_id, error=f"parse: {error}", field_name=field_name)
    # Not on a timer: WhatsApp says when templates change, and a full sync follows each change.
    result.templates_changed = result.templates_changed or bool(parsed.template_updates)


def _report(result: IngestResult) -> None:
    metrics.MESSAGES.labels(outcome="received").inc(len(result.stored_message_ids))
    metrics.MESSAGES.labels(outcome="duplicate").inc(result.duplicates)
    metrics.MESSAGES.labels(outcome="dropped").inc(result.dropped)
    log.info(
        "webhook_ingested",
        stored=len(result.stored_message_ids),
        duplicates=result.duplicates,
        dropped=result.dropped,
        statuses=result.statuses,
        events=result.events,
        unhandled=result.unhandled,
        quarantined=len(result.quarantined),
    )


def _isolated(
    result: IngestResult, element: str, source: dict[str, Any], correlation_id: str, store: Callable[[], None]
) -> None:
    """Store one element in its own savepoint; a failure quarantines it and the batch goes on."""
    to_run_before = dict(result.conversations_to_run)
    stored_before = len(result.stored_message_ids)
    try:
        with transaction.atomic():
            store()
    except _CONNECTION_ERRORS:
        raise
    except Exception as exc:
        # The savepoint rolled back: forget what the element had queued.
        result.conversations_to_run = to_run_before
        del result.stored_message_ids[stored_before:]
        log.exception("webhook_element_quarantined", element=element, error_class=type(exc).__name__)
        field_name = str(source.get("field", "")) if isinstance(source, dict) else ""
        _quarantine(
            result,
            element,
            source,
            correlation_id,
            error=clean_text(f"{type(exc).__name__}: {exc}"),
            field_name=field_name,
        )


def _quarantine(
    result: IngestResult, element: str, source: Any, correlation_id: str, *, error: str, field_name: str
) -> None:
    raw = _jsonable(source)
    key = content_key("quarantine", element, raw)
    with transaction.atomic():
        row, created = QuarantinedElement.objects.get_or_create(
            dedup_key=key,
            defaults={
                "field": field_name[:64],
                "element": element[:32],
                "raw": raw,
                "error": error[:4000],
                "correlation_id": correlation_id,
            },
        )
        if not created and row.resolved_at is None:
            QuarantinedElement.objects.filter(pk=row.pk).update(error=error[:4000])
    metrics.MESSAGES.labels(outcome="quarantined").inc()
    result.quarantined.append(key)


def _jsonable(raw: Any) -> dict[str, Any]:
    return raw if isinstance(raw, dict) else {"value": raw}


# --- messages --------------------------------------------------------------------------------------


def no_reply_reason(inbound: InboundMessage) -> str:
    """Why a stored message is closed without running the pipeline; empty when it deserves an answer.

    Nothing runs on an element without content: a reaction is an acknowledgement, a flow reply or a
    call-permission reply is recorded for staff, and an interactive, text or media element that
    carries nothing to read is closed with its reason.
    """
    if not inbound.supported:
        return inbound.unsupported_reason or "unsupported message"
    kind = inbound.type
    candidate = inbound.raw.get(kind)
    body: dict[str, Any] = candidate if isinstance(candidate, dict) else {}
    if kind == "reaction":
        return "reaction: acknowledgement, no reply expected"
    if kind == "system":
        return f"system: {str(body.get('type') or 'event')[:60]}"
    if kind == "request_welcome":
        return "request_welcome: recorded"
    if kind == "sticker":
        return "sticker: no reply expected"
    if kind == "interactive" and not inbound.text:
        return f"interactive {str(body.get('type') or 'reply')[:40]} without text: recorded for staff"
    if kind in {"image", "video", "document", "audio"}:
        return "" if inbound.text or inbound.media_id else f"{kind} without media or caption"
    return "" if inbound.text.strip() else f"{kind} without content"


def _store_inbound(inbound: InboundMessage, correlation_id: str, result: IngestResult) -> None:
    if Message.objects.filter(wamid=inbound.wamid).exists():
        result.duplicates += 1
        log.info("webhook_duplicate_message", wamid=inbound.wamid)
        return
    now = timezone.now()
    contact: Contact | None = None
    created = False
    if inbound.identity_change is not None:
        contact = identity_change_apply(change=inbound.identity_change, correlation_id=correlation_id)
    if contact is None:
        contact, created = contact_upsert(sender=inbound.sender, correlation_id=correlation_id)
    conversation = conversation_get_or_start(contact=contact, at=now, contact_is_new=created, inbound=True)
    reason = no_reply_reason(inbound) or _opt_out_policy(contact, inbound, correlation_id)
    try:
        with transaction.atomic():
            message = Message.objects.create(
                conversation=conversation,
                direction=Message.Direction.INBOUND,
                wamid=inbound.wamid,
                type=inbound.type,
                text=inbound.text,
                raw=inbound.raw,
                status=Message.Status.DROPPED if reason else Message.Status.RECEIVED,
                status_reason=reason[:255],
                sent_by_customer_at=inbound.sent_at,
                correlation_id=correlation_id,
                media_id=inbound.media_id[:256],
                quoted_wamid=inbound.quoted_wamid[:256],
            )
    except IntegrityError:
        # Another request stored the same wamid between our check and our insert.
        result.duplicates += 1
        log.info("webhook_duplicate_message", wamid=inbound.wamid, concurrent=True)
        return
    if conversation.last_inbound_at != now:  # a conversation started for this message says so already
        Conversation.objects.filter(pk=conversation.pk).update(last_inbound_at=now, last_activity_at=now)
    result.stored_message_ids.append(message.pk)
    if reason:
        result.dropped += 1
        log.info("inbound_dropped", message_id=message.pk, reason=reason)
        return
    result.conversations_to_run[conversation.pk] = message.pk


def _opt_out_policy(contact: Contact, inbound: InboundMessage, correlation_id: str) -> str:
    """Opt-out and opt-in keywords change the contact; an opted-out contact's messages are not answered.

    The opt-out keyword itself is answered once (the run sends the confirmation); anything an
    opted-out contact sends afterwards is kept for staff and closed silently.
    """
    keyword = opt_keyword(inbound.text) if inbound.type in {"text", "button", "interactive"} else None
    if keyword == "out":
        if contact_opt_out(contact=contact, source="keyword", detail=inbound.text[:200], correlation_id=correlation_id):
            return ""
        return "contact opted out"
    if contact.opted_out_at is None:
        return ""
    if keyword == "in":
        contact_opt_in(contact=contact, source="keyword", detail=inbound.text[:200], correlation_id=correlation_id)
        return ""
    return "contact opted out"


def _apply_identity(change: IdentityChange, correlation_id: str) -> None:
    identity_change_apply(change=change, correlation_id=correlation_id)


def _store_echo(echo: EchoMessage, correlation_id: str, result: IngestResult) -> None:
    """The company answered from the WhatsApp Business app: keep it in the thread, a person owns it now."""
    if Message.objects.filter(wamid=echo.wamid).exists():
        result.duplicates += 1
        return
    now = timezone.now()
    contact, created = contact_upsert(sender=echo.customer, correlation_id=correlation_id)
    conversation = conversation_get_or_start(contact=contact, at=now, contact_is_new=created)
    created = _created_once(
        lambda: Message.objects.filter(wamid=echo.wamid).exists(),
        lambda: Message.objects.create(
            conversation=conversation,
            direction=Message.Direction.OUTBOUND,
            wamid=echo.wamid,
            type=echo.type[:32],
            text=echo.text,
            raw=echo.raw,
            status=Message.Status.SENT,
            sent_at=echo.sent_at or now,
            correlation_id=correlation_id,
            provider="business_app",
            idempotency_key=f"echo:{uuid.uuid5(uuid.NAMESPACE_URL, echo.wamid).hex}",
        ),
    )
    if not created:
        result.duplicates += 1
        return
    Conversation.objects.filter(pk=conversation.pk).update(last_activity_at=now)
    conversation_take_by_business_app(conversation_id=conversation.pk, correlation_id=correlation_id)
    result.events += 1


# --- statuses, preferences, events -------------------------------------------------------------------


def _store_status(status: StatusUpdate, correlation_id: str, result: IngestResult) -> None:
    key = status.dedup_key
    if DeliveryStatus.objects.filter(dedup_key=key).exists():
        result.duplicates += 1
        return
    message = Message.objects.filter(wamid=status.wamid, direction=Message.Direction.OUTBOUND).first()
    if message is None and status.callback_data:
        # A send whose answer we never read (a timeout, a worker lost mid-call): this status proves Meta got it.
        message = reply_confirm_by_status(callback_data=status.callback_data, wamid=status.wamid)
    pricing = status.pricing
    billable = pricing.get("billable")
    stored = _created_once(
        lambda: DeliveryStatus.objects.filter(dedup_key=key).exists(),
        lambda: DeliveryStatus.objects.create(
            wamid=status.wamid,
            status=status.status[:16],
            timestamp=status.timestamp,
            errors=status.errors,
            raw=status.raw,
            message=message,
            correlation_id=correlation_id,
            dedup_key=key,
            pricing=pricing,
            pricing_category=str(pricing.get("category") or "")[:64],
            pricing_billable=billable if isinstance(billable, bool) else None,
            pricing_model=str(pricing.get("pricing_model") or pricing.get("type") or "")[:64],
        ),
    )
    if not stored:
        result.duplicates += 1
        return
    result.statuses += 1
    if any(_error_code(e) == OPT_OUT_ERROR_CODE for e in status.errors):
        contact = message.conversation.contact if message is not None else contact_find(sender=status.recipient)
        if contact is not None:
            contact_opt_out(contact=contact, source=f"error {OPT_OUT_ERROR_CODE}", correlation_id=correlation_id)
    if message is None:
        log.info("status_for_unknown_message", wamid=status.wamid, status=status.status)
        return
    message_status_apply(message=message, status=status.status, errors=status.errors)


def _error_code(error: dict[str, Any]) -> int | None:
    try:
        return int(error.get("code"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _apply_preference(preference: PreferenceUpdate, correlation_id: str) -> None:
    """`user_preferences`: "stop" opts the contact out, "resume" opts them back in."""
    contact = contact_find(sender=preference.person)
    if contact is None:
        return
    source = f"user_preferences:{preference.category}"[:64]
    if preference.value == "stop":
        contact_opt_out(contact=contact, source=source, detail=preference.detail[:200], correlation_id=correlation_id)
    elif preference.value == "resume":
        contact_opt_in(contact=contact, source=source, detail=preference.detail[:200], correlation_id=correlation_id)


def _apply_template_status(update: TemplateStatusChange) -> None:
    template_status_apply(
        graph_id=update.graph_id, name=update.name, language=update.language, event=update.event, reason=update.reason
    )


def _store_event(event: OpsEvent, correlation_id: str, result: IngestResult) -> None:
    key = content_key("event", event.field, event.kind, event.raw)
    if WebhookEvent.objects.filter(dedup_key=key).exists():
        result.duplicates += 1
        return
    contact = contact_find(sender=event.person) if event.person else None
    stored = _created_once(
        lambda: WebhookEvent.objects.filter(dedup_key=key).exists(),
        lambda: WebhookEvent.objects.create(
            field=event.field[:64],
            kind=event.kind[:64],
            summary=event.summary[:255],
            contact=contact,
            raw=_jsonable(event.raw),
            correlation_id=correlation_id,
            dedup_key=key,
        ),
    )
    if stored:
        result.events += 1
    else:
        result.duplicates += 1


def _store_unhandled(unhandled: UnhandledChange, correlation_id: str, result: IngestResult) -> None:
    raw = _jsonable(unhandled.raw)
    key = content_key("unhandled", unhandled.field, unhandled.reason, raw)
    if UnhandledEvent.objects.filter(dedup_key=key).exists():
        result.duplicates += 1
        return
    stored = _created_once(
        lambda: UnhandledEvent.objects.filter(dedup_key=key).exists(),
        lambda: UnhandledEvent.objects.create(
            field=unhandled.field[:64],
            reason=unhandled.reason[:255],
            raw=raw,
            correlation_id=correlation_id,
            dedup_key=key,
        ),
    )
    if stored:
        result.unhandled += 1
    else:
        result.duplicates += 1


def _created_once(already_stored: Callable[[], bool], create: Callable[[], object]) -> bool:
    """Create a deduplicated row; False when a concurrent delivery of the same element stored it first.

    Any other integrity error is re-raised, so the element is quarantined rather than taken for a duplicate.
    """
    try:
        with transaction.atomic():
            create()
    except IntegrityError:
        if already_stored():
            return False
        raise
    return True


def message_status_apply(*, message: Message, status: str, errors: list[dict[str, Any]] | None = None) -> bool:
    """Advance an outbound message's status; out-of-order callbacks never move it backwards."""
    try:
        new_status = Message.Status(status)
    except ValueError:
        log.info("status_unknown_value", message_id=message.pk, status=status)
        return False
    if new_status not in _STATUS_RANK:
        return False
    current_rank = _STATUS_RANK.get(Message.Status(message.status), -1)
    if _STATUS_RANK[new_status] <= current_rank:
        return False
    if new_status == Message.Status.FAILED:
        # Accepted, then failed (131047, 131026, 131049, 131050…): reconciled, never counted as delivered.
        send_failure_reconcile(message=message, errors=errors)
        return True
    message.status = new_status
    fields = ["status", "updated_at"]
    if errors:
        message.errors = errors
        fields.append("errors")
    message.save(update_fields=fields)
    log.info("outbound_status_updated", message_id=message.pk, status=new_status.value)
    return True


# --- quarantine ------------------------------------------------------------------------------------


@dataclass
class Replay:
    """A quarantine replay's outcome, and what it stored (the caller starts the runs it asks for)."""

    outcome: str
    ingested: IngestResult = field(default_factory=IngestResult)


def quarantine_replay(*, quarantined_id: int) -> Replay:
    """Run a quarantined element through ingestion again; resolved when it no longer fails."""
    row = QuarantinedElement.objects.get(pk=quarantined_id)
    if row.resolved_at is not None:
        return Replay("already_resolved")
    change = row.raw if "value" in row.raw and "field" in row.raw else {"field": row.field, "value": row.raw}
    body = {"object": "whatsapp_business_account", "entry": [{"id": "replay", "changes": [change]}]}
    result = webhook_ingest(payload=body, correlation_id=row.correlation_id or uuid.uuid4().hex)
    now = timezone.now()
    still_failing = bool(result.quarantined)
    QuarantinedElement.objects.filter(pk=row.pk).update(
        replay_count=row.replay_count + 1, replayed_at=now, resolved_at=None if still_failing else now
    )
    outcome = "still_failing" if still_failing else "replayed"
    log.info("quarantine_replayed", quarantined_id=row.pk, outcome=outcome)
    return Replay(outcome, result)
