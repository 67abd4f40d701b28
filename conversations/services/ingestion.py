"""Webhook ingestion: persist every inbound message and status durably, once, then enqueue the run.

One database transaction per webhook POST. Each message insert runs in its own savepoint so a
duplicate wamid (Meta delivers at least once, sometimes concurrently) is acknowledged and skipped
without aborting the rest. Follow-up work is enqueued only after commit.
"""

from dataclasses import dataclass, field
from typing import Any

import structlog
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from conversations.models import Contact, Conversation, DeliveryStatus, Message, UnhandledEvent
from conversations.services.delivery import send_failure_reconcile
from conversations.services.sessions import conversation_get_or_start
from conversations.services.templates import template_status_apply
from pyloto.observability import metrics
from pyloto.pipeline.dispatch import inbound_follow_ups_enqueue, templates_sync_enqueue
from pyloto.whatsapp.webhook import InboundMessage, Sender, StatusUpdate, parse_webhook

log = structlog.get_logger(__name__)

# Types that never expect an answer: stored, then closed with this reason.
NO_REPLY_TYPES = {"reaction": "reaction: no reply expected"}

# Meta's statuses may arrive out of order; a later-ranked status never goes back to an earlier one.
_STATUS_RANK = {
    Message.Status.PENDING: 0,
    Message.Status.SENT: 1,
    Message.Status.DELIVERED: 2,
    Message.Status.READ: 3,
    Message.Status.FAILED: 4,
    Message.Status.CAPPED: 4,
}


@dataclass
class IngestResult:
    """What one webhook POST stored; `conversations_to_run` maps conversation id to its newest new message."""

    stored_message_ids: list[int] = field(default_factory=list)
    duplicates: int = 0
    dropped: int = 0
    statuses: int = 0
    unhandled: int = 0
    conversations_to_run: dict[int, int] = field(default_factory=dict)


def webhook_ingest(*, payload: Any, correlation_id: str) -> IngestResult:
    """Store everything a webhook body carries in one transaction; enqueue the follow-ups after commit."""
    parsed = parse_webhook(payload)
    result = IngestResult()
    with transaction.atomic():
        for inbound in parsed.messages:
            _store_inbound(inbound, correlation_id=correlation_id, result=result)
        for status in parsed.statuses:
            _store_status(status, correlation_id=correlation_id)
            result.statuses += 1
        if parsed.unhandled:
            UnhandledEvent.objects.bulk_create(
                UnhandledEvent(
                    field=u.field, reason=u.reason[:255], raw=_jsonable(u.raw), correlation_id=correlation_id
                )
                for u in parsed.unhandled
            )
            result.unhandled = len(parsed.unhandled)
        for update in parsed.template_updates:
            template_status_apply(
                graph_id=update.graph_id,
                name=update.name,
                language=update.language,
                event=update.event,
                reason=update.reason,
            )
            UnhandledEvent.objects.create(
                field="message_template_status_update",
                reason=f"template {update.name[:80]} {update.event[:32]}",
                raw=update.raw,
                correlation_id=correlation_id,
            )
        if parsed.template_updates:
            # Not on a timer: WhatsApp says when templates change, and a full sync follows each change.
            transaction.on_commit(templates_sync_enqueue)
        if result.conversations_to_run:
            transaction.on_commit(
                lambda: inbound_follow_ups_enqueue(newest_message_by_conversation=result.conversations_to_run)
            )
    metrics.MESSAGES.labels(outcome="received").inc(len(result.stored_message_ids))
    metrics.MESSAGES.labels(outcome="duplicate").inc(result.duplicates)
    metrics.MESSAGES.labels(outcome="dropped").inc(result.dropped)
    log.info(
        "webhook_ingested",
        stored=len(result.stored_message_ids),
        duplicates=result.duplicates,
        dropped=result.dropped,
        statuses=result.statuses,
        unhandled=result.unhandled,
    )
    return result


def _jsonable(raw: Any) -> Any:
    return raw if isinstance(raw, dict | list) else {"value": raw}


def _store_inbound(inbound: InboundMessage, *, correlation_id: str, result: IngestResult) -> None:
    if Message.objects.filter(wamid=inbound.wamid).exists():
        result.duplicates += 1
        log.info("webhook_duplicate_message", wamid=inbound.wamid)
        return
    now = timezone.now()
    contact = contact_upsert(sender=inbound.sender)
    conversation = conversation_get_or_start(contact=contact, at=now)
    no_reply_reason = NO_REPLY_TYPES.get(inbound.type) or inbound.unsupported_reason
    try:
        with transaction.atomic():
            message = Message.objects.create(
                conversation=conversation,
                direction=Message.Direction.INBOUND,
                wamid=inbound.wamid,
                type=inbound.type,
                text=inbound.text,
                raw=inbound.raw,
                status=Message.Status.DROPPED if no_reply_reason else Message.Status.RECEIVED,
                status_reason=no_reply_reason[:255],
                sent_by_customer_at=inbound.sent_at,
                correlation_id=correlation_id,
            )
    except IntegrityError:
        # Another request stored the same wamid between our check and our insert.
        result.duplicates += 1
        log.info("webhook_duplicate_message", wamid=inbound.wamid, concurrent=True)
        return
    Conversation.objects.filter(pk=conversation.pk).update(last_inbound_at=now, last_activity_at=now)
    result.stored_message_ids.append(message.pk)
    if no_reply_reason:
        result.dropped += 1
        log.info("inbound_dropped", message_id=message.pk, reason=no_reply_reason)
        return
    result.conversations_to_run[conversation.pk] = message.pk


def contact_upsert(*, sender: Sender) -> Contact:
    """The contact for this sender, created if new, locked for the rest of the transaction.

    Contacts are keyed on the BSUID (`user_id`) when present, else on `wa_id`; a contact first seen by
    one id gains the other when a later message carries both. The row lock serialises concurrent
    messages of one contact so they land in the same conversation.
    """
    lookup = Q()
    if sender.user_id:
        lookup |= Q(user_id=sender.user_id)
    if sender.wa_id:
        lookup |= Q(wa_id=sender.wa_id)
    for _attempt in range(2):
        matches = list(Contact.objects.select_for_update().filter(lookup).order_by("pk"))
        if matches:
            return _contact_refresh(_preferred_contact(matches, sender), sender)
        try:
            with transaction.atomic():
                contact = Contact.objects.create(
                    wa_id=sender.wa_id, user_id=sender.user_id, profile_name=sender.profile_name[:256]
                )
            return Contact.objects.select_for_update().get(pk=contact.pk)
        except IntegrityError:
            continue  # created concurrently by another request: read it on the next attempt
    raise IntegrityError("contact could not be created or found")


def _preferred_contact(matches: list[Contact], sender: Sender) -> Contact:
    for contact in matches:
        if sender.user_id and contact.user_id == sender.user_id:
            return contact
    return matches[0]


def _contact_refresh(contact: Contact, sender: Sender) -> Contact:
    changed = []
    if sender.user_id and not contact.user_id:
        contact.user_id = sender.user_id
        changed.append("user_id")
    if sender.wa_id and not contact.wa_id and not Contact.objects.filter(wa_id=sender.wa_id).exists():
        contact.wa_id = sender.wa_id
        changed.append("wa_id")
    if sender.profile_name and sender.profile_name != contact.profile_name:
        contact.profile_name = sender.profile_name[:256]
        changed.append("profile_name")
    if changed:
        contact.save(update_fields=[*changed, "updated_at"])
    return contact


def _store_status(status: StatusUpdate, *, correlation_id: str) -> None:
    message = Message.objects.filter(wamid=status.wamid, direction=Message.Direction.OUTBOUND).first()
    DeliveryStatus.objects.create(
        wamid=status.wamid,
        status=status.status[:16],
        timestamp=status.timestamp,
        errors=status.errors,
        raw=status.raw,
        message=message,
        correlation_id=correlation_id,
    )
    if message is None:
        log.info("status_for_unknown_message", wamid=status.wamid, status=status.status)
        return
    message_status_apply(message=message, status=status.status, errors=status.errors)


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
