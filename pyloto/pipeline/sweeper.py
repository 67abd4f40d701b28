"""The sweeper: nothing stays unanswered or unsent because a broker message, Redis or a worker was lost.

Beat runs it every `SWEEP_INTERVAL_S` on the maintenance queue, which every database worker consumes,
so it does not depend on any one worker staying alive; an advisory lock keeps two sweeps from
overlapping. Each pass:
- re-enqueues the reading of webhook elements stored but still unread after `SWEEP_REDRIVE_AFTER_S`
  (the webhook's enqueue was refused or lost): one task per sweep, the oldest first;
- dead-letters inbound messages unanswered past `SWEEP_DEAD_LETTER_AFTER_S` (every message ends
  in a terminal state);
- renews the leases of runs whose heartbeat is alive before they run out, and reclaims those whose
  heartbeat stopped (a killed worker), then re-enqueues runs for inbound messages still `received` after
  `SWEEP_REDRIVE_AFTER_S` whose run task is not queued (`queued.py`: it was lost with Redis, or the
  enqueue was refused while Redis was down);
- releases replies held by WhatsApp's marketing frequency cap once their wait is over;
- re-sends replies left `pending` with no send task queued: never tried after `SWEEP_REDRIVE_AFTER_S`,
  or stopped on transient errors for longer than a retry can wait (`SEND_BACKOFF_MAX_S`) — and
  dead-letters those pending past the dead-letter budget;
- marks ambiguous a `sending` claim older than any live send could hold it (its worker died), and
  resends ambiguous replies no status webhook confirmed within `SEND_CONFIRM_WINDOW_S`, once every
  webhook element received in that window has been read.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

import structlog
from django.conf import settings
from django.db import connection
from django.db.models import Q
from django.utils import timezone

from conversations.models import DeadLetter, Message
from conversations.selectors import webhook_elements_waiting
from conversations.services.dead_letters import dead_letter_record
from conversations.services.delivery import (
    capped_sends_release,
    reply_give_up,
    reply_mark_ambiguous,
    reply_resend_unconfirmed,
)
from conversations.services.runs import run_leases_expiring, run_reclaim_expired, runs_renew
from pyloto.pipeline.dispatch import reply_send_enqueue, run_enqueue, webhook_elements_enqueue
from pyloto.pipeline.heartbeat import runs_alive
from pyloto.pipeline.queued import RUN, SEND, queued_among

log = structlog.get_logger(__name__)

# Waiting messages, and unsent replies, looked at per sweep at most. Only those whose task was lost
# are re-driven, so after a Redis restart all of them are: they are all lost.
REDRIVE_BATCH = 500
# Unread webhook elements re-driven per sweep, in one task (reading one costs about a run's tenth).
WEBHOOK_REDRIVE_BATCH = 500
# Any 64-bit number of our own: the PostgreSQL advisory lock that one sweep holds at a time.
_SWEEP_LOCK_ID = 0x5059_4C4F_5357  # "PYLOSW"


def pipeline_sweep(*, now: datetime | None = None) -> dict[str, int]:
    with _one_sweep_at_a_time() as alone:
        if not alone:
            log.info("sweep_skipped", reason="another sweep is running")
            return {"skipped": 1}
        return _sweep(now or timezone.now())


def _sweep(now: datetime) -> dict[str, int]:
    counts = {"webhook_elements_redriven": _redrive_webhook_elements(now)}
    counts["dead_lettered"] = _dead_letter_hopeless(now)
    counts.update(_recover_runs(now))
    counts.update(_recover_sends(now))
    if any(counts.values()):
        log.warning("sweeper_acted", **counts)
    return counts


def _redrive_webhook_elements(now: datetime) -> int:
    # One task a sweep, however deep the backlog: a queue already behind must not be flooded with more.
    waiting = webhook_elements_waiting(
        received_before=now - timedelta(seconds=settings.SWEEP_REDRIVE_AFTER_S), limit=WEBHOOK_REDRIVE_BATCH
    )
    if waiting:
        webhook_elements_enqueue(element_ids=waiting)
    return len(waiting)


def _dead_letter_hopeless(now: datetime) -> int:
    give_up_before = now - timedelta(seconds=settings.SWEEP_DEAD_LETTER_AFTER_S)
    hopeless = list(
        Message.objects.filter(
            direction=Message.Direction.INBOUND,
            status__in=[Message.Status.RECEIVED, Message.Status.PROCESSING],
            created_at__lt=give_up_before,
        ).values_list("pk", "conversation_id")
    )
    for message_id, conversation_id in hopeless:
        dead_letter_record(
            stage=DeadLetter.Stage.RUN,
            conversation_id=conversation_id,
            message_id=message_id,
            error=f"not answered within {settings.SWEEP_DEAD_LETTER_AFTER_S} s",
            error_code="unanswered",
        )
    return len(hopeless)


def _recover_runs(now: datetime) -> dict[str, int]:
    # Renewed before they run out: a live run's lease should not lapse at all (run_begin asks the
    # heartbeat before taking an expired one over, but that costs a Redis read on every run task).
    expiring = run_leases_expiring(before=now + timedelta(seconds=2 * settings.SWEEP_INTERVAL_S))
    alive = runs_alive(sorted(expiring.values()))
    if alive is None:
        # Redis cannot say which runs are alive: reclaiming now could run live ones twice; wait.
        renewed, reclaimed = [], []
    else:
        renewed = runs_renew(tokens_by_conversation={c: t for c, t in expiring.items() if t in alive})
        reclaimed = run_reclaim_expired(now=now)
    redrive_before = now - timedelta(seconds=settings.SWEEP_REDRIVE_AFTER_S)
    # A waiting message is looked at once per SWEEP_REDRIVE_AFTER_S (its updated_at is the last look),
    # oldest first, and re-driven only when no run task is queued for its conversation (queued.py):
    # a backlog is answered by the tasks already in it, not by adding duplicates to it.
    waiting = list(
        Message.objects.filter(
            direction=Message.Direction.INBOUND,
            status=Message.Status.RECEIVED,
            updated_at__lt=redrive_before,
            conversation__run_token__isnull=True,
        )
        .order_by("updated_at")
        .values_list("pk", "conversation_id")[:REDRIVE_BATCH]
    )
    conversation_ids = sorted({conversation_id for _, conversation_id in waiting})
    queued = queued_among(RUN, conversation_ids)
    stranded = set() if queued is None else set(conversation_ids) - queued
    if queued is not None:
        Message.objects.filter(pk__in=[pk for pk, _ in waiting]).update(updated_at=now)
    for conversation_id in sorted(set(reclaimed) | stranded):
        run_enqueue(conversation_id=conversation_id)
    return {
        "leases_renewed": len(renewed),
        "leases_reclaimed": len(reclaimed),
        "runs_redriven": len(set(reclaimed) | stranded),
    }


def _recover_sends(now: datetime) -> dict[str, int]:
    # Capped by WhatsApp's marketing frequency limit and due again: back to pending, re-sent below.
    capped_sends_release(now=now)
    outbound = Message.objects.filter(direction=Message.Direction.OUTBOUND)
    # A send waiting for its pacing slot (or a follow-up for its time) has `next_attempt_at` ahead: its task
    # comes then. It is stuck only once that time is SWEEP_REDRIVE_AFTER_S past; budgets count from it.
    redrive_before = now - timedelta(seconds=settings.SWEEP_REDRIVE_AFTER_S)
    pending = outbound.filter(status=Message.Status.PENDING).exclude(next_attempt_at__gte=redrive_before)
    give_up_before = now - timedelta(seconds=settings.SWEEP_DEAD_LETTER_AFTER_S)
    given_up = [
        message_id
        for message_id in pending.filter(
            Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lt=give_up_before), created_at__lt=give_up_before
        ).values_list("pk", flat=True)
        if reply_give_up(
            message_id=message_id, reason=f"not sent within {settings.SWEEP_DEAD_LETTER_AFTER_S} s (transient errors)"
        )
    ]

    # Never tried: the send task was lost (Redis restarted, the enqueue was refused, a worker died).
    never_tried = Q(send_attempts=0, updated_at__lt=redrive_before)
    # Tried and put back on a transient error, untouched for longer than any scheduled retry waits:
    # its retries are spent, or the retry was lost with its worker or with Redis.
    stopped = Q(
        send_attempts__gt=0,
        updated_at__lt=now - timedelta(seconds=settings.SEND_BACKOFF_MAX_S + settings.SEND_CLAIM_TIMEOUT_S),
    )
    # Like runs: each reply is looked at once per period (its updated_at is the last look), oldest
    # first, and re-driven only when no send task is queued for it (queued.py).
    candidates = list(
        pending.filter(never_tried | stopped).order_by("updated_at").values_list("pk", flat=True)[:REDRIVE_BATCH]
    )
    queued = queued_among(SEND, candidates)
    unsent = [] if queued is None else [pk for pk in candidates if pk not in queued]
    if queued is not None:
        outbound.filter(pk__in=candidates, status=Message.Status.PENDING).update(updated_at=now)

    # A claim older than any live send holds one: the worker died before, during or after the call.
    lost_claims = outbound.filter(
        status=Message.Status.SENDING,
        send_ambiguous_since__isnull=True,
        updated_at__lt=now - timedelta(seconds=settings.SEND_CLAIM_TIMEOUT_S),
    ).values_list("pk", flat=True)
    ambiguous = [
        message_id
        for message_id in lost_claims
        if reply_mark_ambiguous(message_id=message_id, cause="worker_lost", reason="the send's worker died")
    ]
    window = timedelta(seconds=settings.SEND_CONFIRM_WINDOW_S)
    unconfirmed = outbound.filter(status=Message.Status.SENDING, send_ambiguous_since__lt=now - window).values_list(
        "pk", "send_ambiguous_since"
    )
    # The status webhook that confirms it may be stored and not read yet: webhook elements are read by
    # a worker step, behind whatever backlog there is. Resend only once every element received within
    # the confirm window has been read (a fault run resent five replies Meta had got, their statuses
    # still queued).
    resent = [
        message_id
        for message_id, since in unconfirmed
        if not webhook_elements_waiting(received_before=(since or now) + window, limit=1)
        and reply_resend_unconfirmed(message_id=message_id, confirm_window_s=settings.SEND_CONFIRM_WINDOW_S)
    ]
    for message_id in sorted(set(unsent) | set(resent)):
        reply_send_enqueue(message_id=message_id)
    return {
        "sends_redriven": len(unsent),
        "sends_given_up": len(given_up),
        "sends_ambiguous": len(ambiguous),
        "sends_resent": len(resent),
    }


@contextmanager
def _one_sweep_at_a_time() -> Iterator[bool]:
    """Hold a session-level PostgreSQL advisory lock for the sweep; False when another sweep holds it.

    The lock dies with its session, so a sweep killed with its worker never blocks the next one.
    SQLite (the embedded mode: one process) needs no lock.
    """
    if connection.vendor != "postgresql":
        yield True
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [_SWEEP_LOCK_ID])
        locked = bool(cursor.fetchone()[0])
    try:
        yield locked
    finally:
        if locked:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [_SWEEP_LOCK_ID])
