"""Who a contact is: find or create them by BSUID or phone, merge duplicates, follow id changes, opt-out.

A person is one contact. Meta may tell us about the same person by phone (`wa_id`), by
business-scoped user id (BSUID) or both, and either may change (`user_changed_number`,
`user_changed_user_id`, `user_id_update`). When two contacts turn out to be one person they are
merged into the older one: conversations, messages, events and audit entries follow, and the merge
is audited. Every opt-out and opt-in is audited too.
"""

from __future__ import annotations

from typing import Any

import structlog
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from conversations.models import Contact, ContactAuditEntry, Conversation, Message, WebhookEvent
from conversations.states import TERMINAL
from pyloto.whatsapp.webhook import IdentityChange, Sender

log = structlog.get_logger(__name__)

_ID_FIELDS = ("wa_id", "user_id", "parent_user_id")


def _ids(contact: Contact) -> dict[str, Any]:
    return {name: getattr(contact, name) for name in _ID_FIELDS}


def _lookup(sender: Sender) -> Q | None:
    lookup = Q()
    if sender.user_id:
        lookup |= Q(user_id=sender.user_id)
    if sender.wa_id:
        lookup |= Q(wa_id=sender.wa_id)
    return lookup if lookup else None


def _locked_matches(*senders: Sender) -> list[Contact]:
    lookup = Q()
    for sender in senders:
        part = _lookup(sender)
        if part is not None:
            lookup |= part
    if not lookup:
        return []
    return list(Contact.objects.select_for_update().filter(lookup).order_by("pk"))


def contact_upsert(*, sender: Sender, correlation_id: str = "") -> tuple[Contact, bool]:
    """The contact for this sender, created if new, locked for the rest of the transaction; and whether
    it was created (by this transaction: nothing else can refer to it yet).

    Contacts are keyed on the BSUID (`user_id`) when present, else on `wa_id`. A sender whose phone
    and BSUID point at two contacts is one person: the two are merged. The row lock serialises
    concurrent messages of one contact so they land in the same conversation.
    """
    for _attempt in range(2):
        matches = _locked_matches(sender)
        if matches:
            survivor = _merge_all(matches, source="message with phone and BSUID", correlation_id=correlation_id)
            return _contact_refresh(survivor, sender, correlation_id=correlation_id), False
        try:
            with transaction.atomic():
                contact = Contact.objects.create(
                    wa_id=sender.wa_id,
                    user_id=sender.user_id,
                    parent_user_id=sender.parent_user_id,
                    username=sender.username[:256],
                    profile_name=sender.profile_name[:256],
                )
            # No SELECT … FOR UPDATE: a row this transaction inserted is invisible to others until it
            # commits, and a concurrent INSERT of the same ids waits on its unique index until then.
            return contact, True
        except IntegrityError:
            continue  # created concurrently by another request: read it on the next attempt
    raise IntegrityError("contact could not be created or found")


def contact_find(*, sender: Sender) -> Contact | None:
    """The known contact for these ids, without creating one."""
    lookup = _lookup(sender)
    if lookup is None:
        return None
    matches = list(Contact.objects.filter(lookup).order_by("pk")[:2])
    for contact in matches:
        if sender.user_id and contact.user_id == sender.user_id:
            return contact
    return matches[0] if matches else None


def _contact_refresh(contact: Contact, sender: Sender, *, correlation_id: str) -> Contact:
    """Bring the contact's ids and profile up to date with what this message says."""
    before = _ids(contact)
    changed = []
    # The message's ids are the current ones: a BSUID or phone that differs from the stored one changed.
    for name in _ID_FIELDS:
        value = getattr(sender, name)
        if value and getattr(contact, name) != value:
            setattr(contact, name, value)
            changed.append(name)
    if sender.profile_name and sender.profile_name[:256] != contact.profile_name:
        contact.profile_name = sender.profile_name[:256]
        changed.append("profile_name")
    if sender.username and sender.username[:256] != contact.username:
        contact.username = sender.username[:256]
        changed.append("username")
    if not changed:
        return contact
    contact.save(update_fields=[*changed, "updated_at"])
    after = _ids(contact)
    if any(before[name] and before[name] != after[name] for name in _ID_FIELDS):
        _audit(
            contact,
            ContactAuditEntry.Kind.IDS_CHANGED,
            source="inbound message",
            before=before,
            after=after,
            correlation_id=correlation_id,
        )
    return contact


def _merge_all(matches: list[Contact], *, source: str, correlation_id: str, detail: str = "") -> Contact:
    survivor, others = matches[0], matches[1:]
    for other in others:
        contact_merge(survivor=survivor, absorbed=other, source=source, detail=detail, correlation_id=correlation_id)
    return survivor


def contact_merge(
    *, survivor: Contact, absorbed: Contact, source: str, detail: str = "", correlation_id: str = ""
) -> None:
    """Make one person of two contacts: `absorbed`'s history moves to `survivor`, then it is deleted.

    The survivor keeps its own ids and takes the absorbed contact's where it has none. If both had an
    open conversation, the absorbed one's messages join the survivor's open conversation and the
    emptied one is closed, so the person has one thread.
    """
    before = {"survivor": _ids(survivor), "absorbed": _ids(absorbed)}
    absorbed_id = absorbed.pk
    Conversation.objects.filter(contact=absorbed).update(contact=survivor)
    WebhookEvent.objects.filter(contact=absorbed).update(contact=survivor)
    ContactAuditEntry.objects.filter(contact=absorbed).update(contact=survivor)
    taken = {name: getattr(absorbed, name) for name in _ID_FIELDS if getattr(absorbed, name)}
    if absorbed.opted_out_at and not survivor.opted_out_at:
        survivor.opted_out_at, survivor.opt_out_source = absorbed.opted_out_at, absorbed.opt_out_source
    absorbed.delete()  # frees its unique ids before the survivor takes them
    for name, value in taken.items():
        if not getattr(survivor, name):
            setattr(survivor, name, value)
    survivor.save()
    _join_open_conversations(survivor)
    _audit(
        survivor,
        ContactAuditEntry.Kind.MERGED,
        source=source,
        detail=detail,
        before=before,
        after=_ids(survivor),
        merged_contact_id=absorbed_id,
        correlation_id=correlation_id,
    )
    log.info("contacts_merged", contact_id=survivor.pk, absorbed_contact_id=absorbed_id, source=source)


def _join_open_conversations(contact: Contact) -> None:
    from conversations.services.sessions import conversation_close_merged

    open_conversations = list(
        Conversation.objects.select_for_update()
        .filter(contact=contact, closed_at__isnull=True)
        .exclude(state__in=TERMINAL)
        .order_by("-last_activity_at", "-pk")
    )
    if len(open_conversations) < 2:
        return
    keep, *rest = open_conversations
    for conversation in rest:
        Message.objects.filter(conversation=conversation).update(conversation=keep)
        conversation_close_merged(conversation=conversation, into=keep)


def identity_change_apply(*, change: IdentityChange, correlation_id: str = "") -> Contact | None:
    """A person's phone or BSUID changed: keep one contact, with the new ids and the whole history.

    Every contact known by the previous or the current ids is the same person and is merged into the
    oldest. Unknown people are left alone (their first message creates them). Returns the contact.
    """
    matches = _locked_matches(change.previous, change.current)
    if not matches:
        log.info("identity_change_for_unknown_contact", kind=change.kind)
        return None
    survivor = _merge_all(matches, source=change.kind, detail=change.detail[:500], correlation_id=correlation_id)
    before = _ids(survivor)
    for name in _ID_FIELDS:
        value = getattr(change.current, name)
        if value:
            setattr(survivor, name, value)
    if _ids(survivor) != before:
        survivor.save(update_fields=[*_ID_FIELDS, "updated_at"])
        _audit(
            survivor,
            ContactAuditEntry.Kind.IDS_CHANGED,
            source=change.kind,
            detail=change.detail[:500],
            before=before,
            after=_ids(survivor),
            correlation_id=correlation_id,
        )
    log.info("identity_change_applied", kind=change.kind, contact_id=survivor.pk)
    return survivor


def contact_opt_out(*, contact: Contact, source: str, detail: str = "", correlation_id: str = "") -> bool:
    """Stop every bot message to this contact (LGPD, Meta policy); False when they already were opted out."""
    return _set_opted_out(contact, True, source=source, detail=detail, correlation_id=correlation_id)


def contact_opt_in(*, contact: Contact, source: str, detail: str = "", correlation_id: str = "") -> bool:
    """The contact accepts bot messages again; False when they were not opted out."""
    return _set_opted_out(contact, False, source=source, detail=detail, correlation_id=correlation_id)


def _set_opted_out(contact: Contact, opted_out: bool, *, source: str, detail: str, correlation_id: str) -> bool:
    now = timezone.now()
    # A conditional UPDATE: of two concurrent opt-outs only one changes the row and is audited.
    updated = Contact.objects.filter(pk=contact.pk, opted_out_at__isnull=opted_out).update(
        opted_out_at=now if opted_out else None, opt_out_source=source[:64] if opted_out else "", updated_at=now
    )
    if not updated:
        return False
    contact.refresh_from_db(fields=["opted_out_at", "opt_out_source"])
    kind = ContactAuditEntry.Kind.OPTED_OUT if opted_out else ContactAuditEntry.Kind.OPTED_IN
    _audit(contact, kind, source=source, detail=detail, correlation_id=correlation_id)
    log.info("contact_opted_out" if opted_out else "contact_opted_in", contact_id=contact.pk, source=source)
    return True


def _audit(
    contact: Contact,
    kind: str,
    *,
    source: str,
    detail: str = "",
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    merged_contact_id: int | None = None,
    correlation_id: str = "",
) -> ContactAuditEntry:
    return ContactAuditEntry.objects.create(
        contact=contact,
        kind=kind,
        source=source[:64],
        detail=detail,
        before=before or {},
        after=after or {},
        merged_contact_id=merged_contact_id,
        correlation_id=correlation_id,
    )
