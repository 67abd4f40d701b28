"""The run lease: one pipeline run in flight per conversation, burst detection and crash recovery.

A run claims the conversation with a conditional UPDATE (free, or its lease expired and its holder
is dead) and takes every inbound message still waiting, oldest first. Messages that arrive during
the run stay `received`; the run asks `run_has_new_inbound` before it ends, and the next run answers
them together (people type in bursts; answering each fragment separately is what customers hate
most about bots).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from conversations.models import Conversation, Message

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class RunLease:
    """Proof that this run owns the conversation until `expires_at`, and the messages it answers."""

    token: str
    conversation_id: int
    started_at: datetime
    expires_at: datetime
    message_ids: tuple[int, ...]
    # The rows of `message_ids` as the claim left them (`processing`), oldest first: the run reads no
    # second copy. Empty for a renewed lease, which only needs the ids.
    messages: tuple[Message, ...] = ()


def _lease_seconds(lease_seconds: int | None) -> int:
    return int(lease_seconds if lease_seconds is not None else settings.RUN_LEASE_SECONDS)


def _no_heartbeats(token: str) -> bool:
    """Without heartbeats (embedded mode: one process), an expired lease's run is dead."""
    return False


def run_begin(
    *,
    conversation_id: int,
    lease_seconds: int | None = None,
    holder_is_alive: Callable[[str], bool] = _no_heartbeats,
) -> RunLease | None:
    """Claim the conversation for one run, or None when another run holds it.

    A free conversation is claimed. An expired lease is taken over only when `holder_is_alive(token)`
    says its run is dead: a lease can lapse while its run waits in a queue or its renewal is late, and
    a duplicate run task taking it over would answer the same messages again (the live run's reply is
    then dropped as stale). A live holder's lease is renewed instead. The pipeline passes the run
    heartbeat; the default (no heartbeats: one process) treats an expired lease as a dead run.

    The lease covers every inbound message still `received` (marked `processing` here) and any left
    `processing` by a dead run: holding the lease means nobody else is answering them.
    """
    now = timezone.now()
    expires_at = now + timedelta(seconds=_lease_seconds(lease_seconds))
    token = secrets.token_hex(16)
    with transaction.atomic():
        claimed = Conversation.objects.filter(pk=conversation_id, run_token__isnull=True).update(
            run_token=token, run_started_at=now, run_lease_expires_at=expires_at
        )
        if claimed != 1 and not _take_over_expired(conversation_id, token, now, expires_at, holder_is_alive):
            return None
        messages = _take_waiting_messages(conversation_id, now)
    log.info("run_begun", conversation_id=conversation_id, messages=len(messages))
    return RunLease(
        token=token,
        conversation_id=conversation_id,
        started_at=now,
        expires_at=expires_at,
        message_ids=tuple(m.pk for m in messages),
        messages=messages,
    )


def _take_waiting_messages(conversation_id: int, now: datetime) -> tuple[Message, ...]:
    """Mark the conversation's waiting inbound messages `processing`; their rows as updated, oldest first.

    One UPDATE … RETURNING instead of a SELECT of the ids, an UPDATE of them and a SELECT of the rows
    for the run: the caller holds the lease, so no other run takes these messages meanwhile anyway.
    """
    sql = (
        f"UPDATE {Message._meta.db_table} SET status = %s, updated_at = %s "  # noqa: S608 - the model's own table
        "WHERE conversation_id = %s AND direction = %s AND status IN (%s, %s) RETURNING *"
    )
    params = [
        Message.Status.PROCESSING.value,
        connection.ops.adapt_datetimefield_value(now),
        conversation_id,
        Message.Direction.INBOUND.value,
        Message.Status.RECEIVED.value,
        Message.Status.PROCESSING.value,
    ]
    # A raw queryset builds the model rows with each field's database conversion (JSON, times).
    taken = list(Message.objects.raw(sql, params))
    return tuple(sorted(taken, key=lambda message: (message.created_at, message.pk)))


def _take_over_expired(
    conversation_id: int, token: str, now: datetime, expires_at: datetime, holder_is_alive: Callable[[str], bool]
) -> bool:
    """Take an expired lease from a dead holder (compare-and-set on its token); renew a live holder's."""
    held = (
        Conversation.objects.filter(pk=conversation_id, run_lease_expires_at__lt=now)
        .values_list("run_token", flat=True)
        .first()
    )
    if not held:
        return False  # the lease is live (or the conversation was freed meanwhile: the next task claims it)
    if holder_is_alive(held):
        runs_renew(tokens_by_conversation={conversation_id: held}, expires_at=expires_at)
        log.info("run_lease_kept", conversation_id=conversation_id, reason="expired, but its run is alive")
        return False
    taken = Conversation.objects.filter(pk=conversation_id, run_token=held).update(
        run_token=token, run_started_at=now, run_lease_expires_at=expires_at
    )
    if taken:
        log.warning("run_lease_taken_over", conversation_id=conversation_id, reason="expired and its run is dead")
    return taken == 1


def run_renew(*, lease: RunLease, lease_seconds: int | None = None) -> RunLease | None:
    """Extend a live lease (a slow LLM); None when the lease was lost (expired and reclaimed)."""
    expires_at = timezone.now() + timedelta(seconds=_lease_seconds(lease_seconds))
    if not runs_renew(tokens_by_conversation={lease.conversation_id: lease.token}, expires_at=expires_at):
        return None
    return RunLease(
        token=lease.token,
        conversation_id=lease.conversation_id,
        started_at=lease.started_at,
        expires_at=expires_at,
        message_ids=lease.message_ids,
    )


def runs_renew(*, tokens_by_conversation: dict[int, str], expires_at: datetime | None = None) -> list[int]:
    """Extend the leases of runs known to be alive (their heartbeat); the conversations renewed.

    A lease that changed hands meanwhile (another token) is left alone: renewing needs the same token.
    """
    expires_at = expires_at or timezone.now() + timedelta(seconds=_lease_seconds(None))
    renewed = []
    for conversation_id, token in sorted(tokens_by_conversation.items()):
        if Conversation.objects.filter(pk=conversation_id, run_token=token).update(run_lease_expires_at=expires_at):
            renewed.append(conversation_id)
    return renewed


def run_leases_expiring(*, before: datetime) -> dict[int, str]:
    """Conversations whose run lease ends before `before`, with the token of the run that holds it."""
    rows = Conversation.objects.filter(run_token__isnull=False, run_lease_expires_at__lt=before).values_list(
        "pk", "run_token"
    )
    return {conversation_id: token for conversation_id, token in rows if token}


def run_end(*, lease: RunLease | str, conversation_id: int | None = None) -> bool:
    """Release the lease if it is still ours; False when it expired and another run took over."""
    if isinstance(lease, RunLease):
        token, conversation_id = lease.token, lease.conversation_id
    else:
        token = lease
        if conversation_id is None:
            raise ValueError("run_end with a bare token needs the conversation_id")
    released = Conversation.objects.filter(pk=conversation_id, run_token=token).update(
        run_token=None, run_started_at=None, run_lease_expires_at=None
    )
    log.info("run_ended", conversation_id=conversation_id, released=bool(released))
    return released == 1


def run_has_new_inbound(*, conversation_id: int, since_message_id: int | None = None) -> bool:
    """Whether inbound messages arrived that no run has taken yet (they wait for the next run).

    `run_begin` took every `received` message, so any still `received` came in afterwards. Pass the
    run's last message id to narrow the check to later ones.
    """
    queryset = Message.objects.filter(
        conversation_id=conversation_id, direction=Message.Direction.INBOUND, status=Message.Status.RECEIVED
    )
    if since_message_id is not None:
        queryset = queryset.filter(pk__gt=since_message_id)
    return queryset.exists()


def run_quiet_wait_s(*, conversation_id: int, quiet_s: float, now: datetime | None = None) -> float:
    """How long a run should wait for the customer to finish a burst (0: start now).

    A burst is a waiting message that came less than `quiet_s` after the conversation's previous
    inbound message; its run starts once `quiet_s` passed without another. A lone message (nothing
    inbound within `quiet_s` before it) starts at once, so a single question pays no window. A tenth
    of the window is forgiven, so a run rescheduled for the window's end starts even when the clocks
    of two processes differ by a few milliseconds.
    """
    if quiet_s <= 0:
        return 0.0
    newest_two = list(
        Message.objects.filter(conversation_id=conversation_id, direction=Message.Direction.INBOUND)
        .order_by("-created_at", "-pk")
        .values_list("created_at", "status")[:2]
    )
    if len(newest_two) < 2 or newest_two[0][1] != Message.Status.RECEIVED:
        return 0.0
    (newest, _), (previous, _) = newest_two
    if (newest - previous).total_seconds() >= quiet_s:
        return 0.0
    left = quiet_s - ((now or timezone.now()) - newest).total_seconds()
    return left if left > quiet_s / 10 else 0.0


def run_reclaim_expired(*, now: datetime | None = None) -> list[int]:
    """Clear leases whose holder died (expired), put their messages back to `received`; their ids.

    The caller (the sweeper) enqueues a new run for each returned conversation.
    """
    now = now or timezone.now()
    with transaction.atomic():
        # SKIP LOCKED: a conversation being claimed or transitioned right now is not abandoned.
        conversation_ids = list(
            Conversation.objects.select_for_update(skip_locked=True)
            .filter(run_token__isnull=False, run_lease_expires_at__lt=now)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        if not conversation_ids:
            return []
        Conversation.objects.filter(pk__in=conversation_ids).update(
            run_token=None, run_started_at=None, run_lease_expires_at=None
        )
        Message.objects.filter(
            conversation_id__in=conversation_ids,
            direction=Message.Direction.INBOUND,
            status=Message.Status.PROCESSING,
        ).update(status=Message.Status.RECEIVED, updated_at=now)
    log.warning("run_leases_reclaimed", conversations=len(conversation_ids), conversation_ids=conversation_ids)
    return conversation_ids
