"""Dead letters: runs and sends that could not complete, kept as rows with their error and a replay.

Redis has no dead-letter queue, and a row is what an operator can see, filter and replay from the
admin or `manage.py dead_letters`. Dead-lettering a run closes its inbound messages as
`dead_lettered`, so every inbound message still ends in a terminal state.
"""

from dataclasses import dataclass

import structlog
from django.db import transaction
from django.utils import timezone

from conversations.models import DeadLetter, Message
from conversations.services.inbound import inbound_finish
from pyloto.observability import metrics

log = structlog.get_logger(__name__)


def dead_letter_record(
    *,
    stage: str,
    conversation_id: int,
    error: str,
    error_code: str = "",
    message_id: int | None = None,
    run_key: str = "",
) -> DeadLetter:
    """Record a dead letter and close the inbound messages it concerns as dead-lettered."""
    with transaction.atomic():
        dead_letter = DeadLetter.objects.create(
            stage=stage,
            conversation_id=conversation_id,
            message_id=message_id,
            run_key=run_key,
            error=error[:2000],
            error_code=error_code[:64],
        )
        inbound = Message.objects.filter(conversation_id=conversation_id, direction=Message.Direction.INBOUND)
        if run_key:
            inbound = inbound.filter(run_key=run_key)
        elif message_id is not None:
            inbound = inbound.filter(pk=message_id)
        else:
            inbound = inbound.none()
        closed = inbound_finish(messages=inbound, status=Message.Status.DEAD_LETTERED, reason=error)
    metrics.DEAD_LETTERS.inc()
    log.error("dead_lettered", dead_letter_id=dead_letter.pk, stage=stage, code=error_code, inbound=closed)
    return dead_letter


@dataclass(frozen=True)
class Replay:
    """What a replay reopened: `outcome`, and the reply to send again or the conversation to run again."""

    outcome: str
    send_message_id: int | None = None
    run_conversation_id: int | None = None


def dead_letter_reopen(*, dead_letter_id: int) -> Replay:
    """Try again: a failed send goes back to pending, a failed run's messages back to received.

    The pipeline carries the replay on (`pyloto.pipeline.dispatch.dead_letter_replay`): it sends the
    reply or starts the run this returns.
    """
    with transaction.atomic():
        dead_letter = DeadLetter.objects.select_for_update().get(pk=dead_letter_id)
        if dead_letter.resolved_at is not None:
            return Replay("already_resolved")
        dead_letter.replay_count += 1
        dead_letter.replayed_at = timezone.now()
        dead_letter.resolved_at = dead_letter.replayed_at
        dead_letter.save(update_fields=["replay_count", "replayed_at", "resolved_at"])
        inbound = Message.objects.filter(
            conversation_id=dead_letter.conversation_id,
            direction=Message.Direction.INBOUND,
            status=Message.Status.DEAD_LETTERED,
        )
        if dead_letter.stage == DeadLetter.Stage.SEND and dead_letter.message_id:
            Message.objects.filter(pk=dead_letter.message_id).update(status=Message.Status.PENDING, status_reason="")
            inbound_finish(messages=inbound.filter(run_key=dead_letter.run_key), status=Message.Status.ANSWERED)
            replay = Replay("send_replayed", send_message_id=dead_letter.message_id)
        else:
            inbound.update(status=Message.Status.RECEIVED, status_reason="", run_key="")
            replay = Replay("run_replayed", run_conversation_id=dead_letter.conversation_id)
    log.info("dead_letter_replayed", dead_letter_id=dead_letter_id, outcome=replay.outcome)
    return replay
