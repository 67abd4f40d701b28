"""The sweeper: nothing stays unanswered because a broker message or a worker was lost.

Run by beat every minute. It reclaims expired run leases (a killed worker), re-enqueues runs for
inbound messages still `received` after a grace period (a lost task), re-enqueues sends of replies
still `pending`, and dead-letters what stayed unanswered past its budget, so every inbound message
reaches a terminal state.
"""

from datetime import timedelta

import structlog
from django.conf import settings
from django.utils import timezone

from conversations.models import DeadLetter, Message
from conversations.services.dead_letters import dead_letter_record
from conversations.services.delivery import capped_sends_release
from conversations.services.runs import run_reclaim_expired
from pyloto.pipeline.dispatch import reply_send_enqueue, run_enqueue

log = structlog.get_logger(__name__)


def pipeline_sweep(*, now=None) -> dict[str, int]:
    now = now or timezone.now()
    redrive_before = now - timedelta(seconds=settings.SWEEP_REDRIVE_AFTER_S)
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

    reclaimed = run_reclaim_expired(now=now)
    stranded = set(
        Message.objects.filter(
            direction=Message.Direction.INBOUND,
            status=Message.Status.RECEIVED,
            created_at__lt=redrive_before,
            conversation__run_token__isnull=True,
        ).values_list("conversation_id", flat=True)
    )
    for conversation_id in sorted(set(reclaimed) | stranded):
        run_enqueue(conversation_id=conversation_id)

    # Capped by WhatsApp's marketing frequency limit and due again: back to pending, re-sent just below.
    capped_sends_release(now=now)
    unsent = list(
        Message.objects.filter(
            direction=Message.Direction.OUTBOUND, status=Message.Status.PENDING, created_at__lt=redrive_before
        ).values_list("pk", flat=True)
    )
    for message_id in unsent:
        reply_send_enqueue(message_id=message_id)

    counts = {
        "dead_lettered": len(hopeless),
        "leases_reclaimed": len(reclaimed),
        "runs_redriven": len(set(reclaimed) | stranded),
        "sends_redriven": len(unsent),
    }
    if any(counts.values()):
        log.warning("sweeper_acted", **counts)
    return counts
