"""Dead letters: runs and sends that could not complete, kept as rows with their error and a replay.

Redis has no dead-letter queue, and a row is what an operator can see, filter and replay from the
admin or `manage.py dead_letters`. Dead-lettering a run closes its inbound messages as
`dead_lettered`, so every inbound message still ends in a terminal state.
"""

import structlog
from django.db import transaction
from django.utils import timezone

from conversations.models import DeadLetter, Message
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
        closed = inbound.update(status=Message.Status.DEAD_LETTERED, status_reason=error[:255])
    metrics.DEAD_LETTERS.inc()
    metrics.MESSAGES.labels(outcome="dead_lettered").inc(closed)
    log.error("dead_lettered", dead_letter_id=dead_letter.pk, stage=stage, code=error_code, inbound=closed)
    return dead_letter


def dead_letter_replay(*, dead_letter_id: int) -> str:
    """Try again: a failed send goes back to pending and is re-sent; a failed run answers its messages again."""
    from pyloto.pipeline.dispatch import reply_send_enqueue, run_enqueue

    with transaction.atomic():
        dead_letter = DeadLetter.objects.select_for_update().get(pk=dead_letter_id)
        if dead_letter.resolved_at is not None:
            return "already_resolved"
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
            inbound.filter(run_key=dead_letter.run_key).update(status=Message.Status.ANSWERED, status_reason="")
            message_id = dead_letter.message_id
            transaction.on_commit(lambda: reply_send_enqueue(message_id=message_id))
            outcome = "send_replayed"
        else:
            inbound.update(status=Message.Status.RECEIVED, status_reason="", run_key="")
            conversation_id = dead_letter.conversation_id
            transaction.on_commit(lambda: run_enqueue(conversation_id=conversation_id))
            outcome = "run_replayed"
    log.info("dead_letter_replayed", dead_letter_id=dead_letter_id, outcome=outcome)
    return outcome
