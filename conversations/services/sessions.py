"""Conversation sessions: find the contact's open conversation or start a new one; expire idle ones."""

from __future__ import annotations

from datetime import datetime, timedelta

import structlog
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from conversations.models import Contact, Conversation
from conversations.services.state import Actor, conversation_expire
from conversations.states import TERMINAL

log = structlog.get_logger(__name__)

# One sweep expires at most this many conversations; the next beat tick takes the rest.
EXPIRE_BATCH_SIZE = 500


def session_ttl() -> timedelta:
    return timedelta(hours=getattr(settings, "SESSION_TTL_HOURS", 24))


def _idle_reason(conversation: Conversation) -> str:
    return f"idle since {conversation.last_activity_at.isoformat()} (session TTL {session_ttl()})"


def conversation_get_or_start(
    *, contact: Contact, at: datetime, contact_is_new: bool = False, inbound: bool = False
) -> Conversation:
    """The contact's open conversation, or a new one. The caller holds a lock on the contact row.

    An open conversation idle past the session TTL is expired here (lazily, before the sweeper gets
    to it) and a new one starts, so a customer coming back the next day begins a fresh session. The
    returned conversation's row is locked until the caller's transaction ends, so the sweeper
    cannot expire it while the caller records the new message.

    `contact_is_new`: the caller's transaction inserted the contact, so it has no conversation to look
    for. `inbound`: the caller stores the customer's message at `at`; a conversation started here
    carries that as its last inbound time already.
    """
    with transaction.atomic(savepoint=False):
        conversation = (
            None
            if contact_is_new
            else Conversation.objects.select_for_update()
            .filter(contact=contact, closed_at__isnull=True)
            .exclude(state__in=TERMINAL)
            .order_by("-started_at")
            .first()
        )
        if conversation is not None and conversation.last_activity_at <= at - session_ttl():
            outcome = conversation_expire(
                conversation=conversation, actor=Actor.system(), reason=_idle_reason(conversation)
            )
            log.info("conversation_expired_lazily", conversation_id=conversation.pk, outcome=outcome.outcome)
            conversation = None
        if conversation is None:
            conversation = Conversation.objects.create(
                contact=contact, last_activity_at=at, last_inbound_at=at if inbound else None
            )
        return conversation


def conversation_expire_idle(*, now: datetime | None = None) -> int:
    """Expire open conversations idle past the session TTL; how many were expired (the beat task)."""
    now = now or timezone.now()
    cutoff = now - session_ttl()
    candidate_ids = list(
        Conversation.objects.filter(closed_at__isnull=True, last_activity_at__lte=cutoff)
        .exclude(state__in=TERMINAL)
        .order_by("last_activity_at")
        .values_list("pk", flat=True)[:EXPIRE_BATCH_SIZE]
    )
    if not candidate_ids:
        return 0
    actor = Actor.system()
    expired = 0
    for conversation_id in candidate_ids:
        with transaction.atomic():
            # Re-checked under the lock: a message may have arrived since the candidates were read.
            # SKIP LOCKED: a row locked by ingestion is active right now, so not idle.
            conversation = (
                Conversation.objects.select_for_update(skip_locked=True)
                .filter(pk=conversation_id, closed_at__isnull=True, last_activity_at__lte=cutoff)
                .first()
            )
            if conversation is None:
                continue
            outcome = conversation_expire(conversation=conversation, actor=actor, reason=_idle_reason(conversation))
            expired += int(outcome.applied)
    log.info("idle_conversations_expired", expired=expired, candidates=len(candidate_ids))
    return expired


def conversation_close_merged(*, conversation: Conversation, into: Conversation) -> None:
    """Close a conversation whose messages moved to `into` (two contacts were one person); audited."""
    outcome = conversation_expire(
        conversation=conversation, actor=Actor.system(), reason=f"merged into conversation #{into.pk}"
    )
    log.info("conversation_closed_merged", conversation_id=conversation.pk, into=into.pk, outcome=outcome.outcome)
