"""LGPD per contact: export everything held about a person, erase it (anonymise), and the retention purge.

Erasure anonymises rather than deletes: the contact keeps a row with a placeholder identifier, messages
keep their direction, type, status and times, decisions keep their states and outcomes, so the KPIs,
counts and the audit trail are unchanged; every text, raw payload, name and identifier that could point
back to the person is removed. Export and erasure each leave a row in the contact's audit
(`ContactAuditEntry`, kinds `exported` / `erased`): who (`actor`, and the name in `source`), why (`detail`).
The retention purge blanks raw payloads and texts older than `DATA_RETENTION_DAYS` (on beat).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from conversations.models import (
    Contact,
    ContactAuditEntry,
    Conversation,
    DeadLetter,
    DeliveryStatus,
    HandoffSummary,
    Message,
    StaffAlert,
    TransitionDecision,
    UnhandledEvent,
    WebhookElement,
    WebhookEvent,
)
from institutional.models import GuardViolation
from llm.models import LLMCall

log = structlog.get_logger(__name__)

EXPORT_FORMAT_VERSION = 1
# Retention blanks rows in batches so one beat run never holds a long lock on the messages table.
RETENTION_BATCH = 2000


class PrivacyRequestError(ValueError):
    """An export or erasure that cannot be done as asked (no reason given, no such contact)."""


def _who(user: Any, actor_label: str) -> str:
    if user is not None and getattr(user, "pk", None):
        return str(user.get_username())
    return actor_label


def _audit(
    contact: Contact, *, kind: str, user: Any, actor_label: str, reason: str, counts: dict[str, Any]
) -> ContactAuditEntry:
    return ContactAuditEntry.objects.create(
        contact=contact,
        kind=kind,
        actor=user if getattr(user, "pk", None) else None,
        # The name at the time (or the operator named on the command line): kept if the user goes.
        source=_who(user, actor_label)[:64],
        detail=reason,
        after=counts,
    )


def _require_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise PrivacyRequestError("say why: the LGPD audit records the reason for every export and erasure")
    return reason[:2000]


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def contact_data(*, contact: Contact) -> dict[str, Any]:
    """Everything held about one contact, as JSON-ready data (what the export writes)."""
    conversations = Conversation.objects.filter(contact=contact).order_by("started_at", "pk")
    conversation_ids = list(conversations.values_list("pk", flat=True))
    messages = Message.objects.filter(conversation_id__in=conversation_ids).order_by("created_at", "pk")
    statuses = DeliveryStatus.objects.filter(message__conversation_id__in=conversation_ids).order_by("received_at")
    return {
        "format_version": EXPORT_FORMAT_VERSION,
        "exported_at": timezone.now().isoformat(),
        "contact": {
            "id": contact.pk,
            "wa_id": contact.wa_id,
            "user_id": contact.user_id,
            "profile_name": contact.profile_name,
            "created_at": _iso(contact.created_at),
            "updated_at": _iso(contact.updated_at),
            "parent_user_id": contact.parent_user_id,
            "username": contact.username,
            "opted_out_at": _iso(contact.opted_out_at),
            "erased_at": _iso(contact.erased_at),
        },
        "conversations": [
            {
                "id": conversation.pk,
                "state": conversation.state,
                "started_at": _iso(conversation.started_at),
                "last_activity_at": _iso(conversation.last_activity_at),
                "closed_at": _iso(conversation.closed_at),
                "handoff_requested_at": _iso(conversation.handoff_requested_at),
                "assigned_to": conversation.assigned_to.get_username() if conversation.assigned_to else None,
            }
            for conversation in conversations.select_related("assigned_to")
        ],
        "messages": [
            {
                "id": message.pk,
                "conversation_id": message.conversation_id,
                "direction": message.direction,
                "type": message.type,
                "text": message.text,
                "status": message.status,
                "status_reason": message.status_reason,
                "created_at": _iso(message.created_at),
                "sent_at": _iso(message.sent_at),
                "written_by": message.provider,
                "raw": message.raw,
            }
            for message in messages
        ],
        "delivery_statuses": [
            {"message_id": status.message_id, "status": status.status, "at": _iso(status.timestamp), "raw": status.raw}
            for status in statuses
        ],
        "state_decisions": [
            {
                "conversation_id": decision.conversation_id,
                "at": _iso(decision.created_at),
                "by": decision.actor_kind,
                "from": decision.source_state,
                "to": decision.proposed_state,
                "outcome": decision.outcome,
                "reason": decision.reason,
            }
            for decision in TransitionDecision.objects.filter(conversation_id__in=conversation_ids).order_by(
                "created_at", "pk"
            )
        ],
        "blocked_replies": list(
            GuardViolation.objects.filter(conversation_id__in=conversation_ids)
            .order_by("created_at")
            .values("conversation_id", "constraint_slug", "action", "excerpt", "created_at")
        ),
        "handoff_summaries": list(
            HandoffSummary.objects.filter(conversation_id__in=conversation_ids)
            .order_by("created_at")
            .values("conversation_id", "customer_wants", "bot_said", "why", "created_at")
        ),
        "staff_alerts": list(
            StaffAlert.objects.filter(conversation_id__in=conversation_ids)
            .order_by("created_at")
            .values("conversation_id", "kind", "text", "created_at")
        ),
        "llm_calls": list(
            LLMCall.objects.filter(conversation_id__in=conversation_ids)
            .order_by("started_at")
            .values("conversation_id", "task", "model", "outcome", "tokens_in", "tokens_out", "started_at")
        ),
        "webhook_events": list(
            WebhookEvent.objects.filter(contact=contact)
            .order_by("received_at")
            .values("kind", "summary", "raw", "received_at")
        ),
        "audit": list(
            ContactAuditEntry.objects.filter(contact=contact)
            .order_by("created_at", "pk")
            .values("kind", "source", "detail", "before", "after", "created_at")
        ),
    }


@transaction.atomic
def contact_export(*, contact_id: int, user: Any = None, actor_label: str = "", reason: str) -> dict[str, Any]:
    """The export, audited: who asked, why, and how much it held."""
    reason = _require_reason(reason)
    contact = Contact.objects.filter(pk=contact_id).first()
    if contact is None:
        raise PrivacyRequestError(f"no contact #{contact_id}")
    data = contact_data(contact=contact)
    _audit(
        contact,
        kind=ContactAuditEntry.Kind.EXPORTED,
        user=user,
        actor_label=actor_label,
        reason=reason,
        counts={"conversations": len(data["conversations"]), "messages": len(data["messages"])},
    )
    log.info("contact_exported", contact_id=contact.pk, messages=len(data["messages"]), by=_who(user, actor_label))
    return data


@dataclass(frozen=True)
class ErasureResult:
    contact_id: int
    conversations: int
    messages: int
    already_erased: bool


@transaction.atomic
def contact_erase(*, contact_id: int, user: Any = None, actor_label: str = "", reason: str) -> ErasureResult:
    """Anonymise a contact: identifiers masked, texts and payloads removed, counts and audit kept."""
    reason = _require_reason(reason)
    contact = Contact.objects.select_for_update().filter(pk=contact_id).first()
    if contact is None:
        raise PrivacyRequestError(f"no contact #{contact_id}")
    already = contact.erased_at is not None
    conversation_ids = list(Conversation.objects.filter(contact=contact).values_list("pk", flat=True))
    messages = Message.objects.filter(conversation_id__in=conversation_ids)
    wamids = [wamid for wamid in messages.exclude(wamid=None).values_list("wamid", flat=True) if wamid]
    message_count = messages.update(text="", raw={}, errors=[], status_reason="", updated_at=timezone.now())
    DeliveryStatus.objects.filter(Q(message__conversation_id__in=conversation_ids) | Q(wamid__in=wamids)).update(
        raw={}, errors=[]
    )
    TransitionDecision.objects.filter(conversation_id__in=conversation_ids).update(reason="")
    GuardViolation.objects.filter(conversation_id__in=conversation_ids).update(excerpt="", matched="")
    StaffAlert.objects.filter(conversation_id__in=conversation_ids).update(text="")
    HandoffSummary.objects.filter(conversation_id__in=conversation_ids).update(customer_wants="", bot_said="", why="")
    DeadLetter.objects.filter(conversation_id__in=conversation_ids).update(error="(erased)")
    # The identifier is replaced by a placeholder no message can ever carry: the next message from the
    # same person starts a new contact, with nothing linking it to this one.
    Contact.objects.filter(pk=contact.pk).update(
        wa_id=None,
        user_id=f"erased:{contact.pk}",
        parent_user_id=None,
        username="",
        profile_name="",
        erased_at=contact.erased_at or timezone.now(),
        updated_at=timezone.now(),
    )
    WebhookEvent.objects.filter(contact=contact).update(raw={}, summary="")
    # Earlier audit rows may hold old identifiers (merges, id changes): their what-and-when stay.
    # The LGPD rows themselves (who, why) are the audit that must survive.
    ContactAuditEntry.objects.filter(contact=contact).exclude(
        kind__in=[ContactAuditEntry.Kind.EXPORTED, ContactAuditEntry.Kind.ERASED]
    ).update(before={}, after={}, detail="")
    _audit(
        contact,
        kind=ContactAuditEntry.Kind.ERASED,
        user=user,
        actor_label=actor_label,
        reason=reason,
        counts={"conversations": len(conversation_ids), "messages": message_count, "already_erased": already},
    )
    log.info("contact_erased", contact_id=contact.pk, messages=message_count, by=_who(user, actor_label))
    return ErasureResult(
        contact_id=contact.pk, conversations=len(conversation_ids), messages=message_count, already_erased=already
    )


@dataclass(frozen=True)
class RetentionResult:
    cutoff: datetime
    messages: int
    delivery_statuses: int
    unhandled_events: int
    guard_excerpts: int


def retention_purge(*, days: int | None = None, now: datetime | None = None) -> RetentionResult | None:
    """Blank raw payloads and texts older than `days` (default `DATA_RETENTION_DAYS`); None when retention is off.

    Counts, statuses and times stay, so the KPIs of old periods do not change.
    """
    days = settings.DATA_RETENTION_DAYS if days is None else days
    if days <= 0:
        return None
    cutoff = (now or timezone.now()) - timedelta(days=days)
    messages = _blank_in_batches(
        Message.objects.filter(created_at__lt=cutoff).exclude(text="", raw={}),
        text="",
        raw={},
        errors=[],
    )
    statuses = _blank_in_batches(
        DeliveryStatus.objects.filter(received_at__lt=cutoff).exclude(raw={}), raw={}, errors=[]
    )
    unhandled = _blank_in_batches(UnhandledEvent.objects.filter(received_at__lt=cutoff).exclude(raw={}), raw={})
    excerpts = _blank_in_batches(
        GuardViolation.objects.filter(created_at__lt=cutoff).exclude(excerpt="", matched=""), excerpt="", matched=""
    )
    _blank_in_batches(
        HandoffSummary.objects.filter(created_at__lt=cutoff).exclude(customer_wants="", bot_said="", why=""),
        customer_wants="",
        bot_said="",
        why="",
    )
    # Read webhook elements keep only their key (a redelivery's duplicate check): past retention, gone.
    WebhookElement.objects.filter(processed_at__lt=cutoff).delete()
    result = RetentionResult(
        cutoff=cutoff,
        messages=messages,
        delivery_statuses=statuses,
        unhandled_events=unhandled,
        guard_excerpts=excerpts,
    )
    log.info(
        "retention_purged",
        days=days,
        messages=messages,
        delivery_statuses=statuses,
        unhandled_events=unhandled,
        guard_excerpts=excerpts,
    )
    return result


def _blank_in_batches(queryset: Any, **values: Any) -> int:
    total = 0
    while True:
        ids = list(queryset.values_list("pk", flat=True)[:RETENTION_BATCH])
        if not ids:
            return total
        total += queryset.model.objects.filter(pk__in=ids).update(**values)
