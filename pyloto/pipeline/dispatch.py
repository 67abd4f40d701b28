"""The conductor's wiring: what follows each step, the LLM canvas, and every enqueue of the pipeline.

The steps (`run.run_launch`, `finalize.run_finalize`, the sweeper) and the app services only return
what they did; this module alone decides what runs next and puts it on a queue. Views, the admin,
the API and commands call the entry points here (`staff_reply_send`, `dead_letter_replay`) when a
person's action has a pipeline sequel.

Enqueues happen after the caller's transaction commits (`transaction.on_commit`, at once outside
one) and never fail the caller when the broker is unreachable: the data is durable, and the sweeper
re-drives inbound messages left without a final status and pending replies, so nothing is lost.
"""

from typing import Any

import redis
import structlog
from celery import chain, chord
from django.conf import settings
from django.db import transaction

from conversations.models import Message
from conversations.services.dead_letters import Replay, dead_letter_reopen
from conversations.services.delivery import ReadReceipt, read_receipt_send, reply_deliver
from conversations.services.handoff import handoff_summary_payload
from conversations.services.ingestion import IngestResult
from conversations.services.replies import Finalized, staff_reply_write
from conversations.services.runs import run_has_new_inbound
from llm.client import llm_configured
from pyloto.errors import TransientError
from pyloto.pipeline.run import RunStep
from pyloto.resilience.backoff import backoff_seconds
from pyloto.resilience.pacing import SendPaced
from pyloto.resilience.store import resilience_redis
from pyloto.whatsapp.errors import WhatsAppTransientError

log = structlog.get_logger(__name__)

DECIDE_STATE_PRIORITY = 6
# Shadow calls wait behind every live step: they only measure, the customer waits for the live ones.
SHADOW_PRIORITY = 9


def _enqueue(
    task_name: str, *args: int, retry_policy: dict | None = None, countdown: float | None = None, **fields: int
) -> bool:
    from pyloto.pipeline import tasks

    try:
        getattr(tasks, task_name).apply_async(
            args, retry_policy=retry_policy or settings.REDIS_OUTAGE_RETRY_POLICY, countdown=countdown or None
        )
    except Exception:
        log.exception("enqueue_failed", task=task_name, **fields)
        return False
    return True


def webhook_elements_enqueue(*, element_ids: list[int]) -> bool:
    """The webhook's one enqueue: read the elements it just stored (contacts, messages, statuses…).

    Short retries: Meta's request waits on this, and the sweeper re-drives what it misses.
    """
    from pyloto.pipeline import tasks

    try:
        tasks.ingest_webhook.apply_async(
            (element_ids,),
            retry_policy=settings.WEBHOOK_PUBLISH_RETRY_POLICY,
            # Cheaper on the webhook's one publish (≈ 9 % of its CPU, measured in instructions): the
            # queue needs no declaring (Redis routes the default exchange by queue name, and the
            # workers declare what they consume), and ids need no `saferepr`.
            declare=[],
            argsrepr=repr((element_ids,)),
            kwargsrepr="{}",
        )
    except Exception:
        log.exception("enqueue_failed", task="ingest_webhook", elements=len(element_ids))
        return False
    return True


# Set while a status batch is due: status-only webhooks arriving meanwhile are read by that batch.
STATUS_BATCH_DUE_KEY = "pyloto:ingest:status_batch_due"
# Past this the flag lapses even if its batch was lost (the sweeper re-drives what is left anyway).
STATUS_BATCH_DUE_TTL_S = 10.0
# Elements read per batch task; a full batch schedules the next one at once.
STATUS_BATCH_LIMIT = 200


def status_elements_enqueue() -> bool:
    """A status-only webhook's enqueue: one read per `STATUS_BATCH_WINDOW_S` for all the statuses in it.

    Meta posts a `sent`, a `delivered` and often a `read` for every reply, each in its own webhook:
    read one by one, they cost more than the message they describe (ADR 0022). The first status of a
    window schedules the batch; the others find it due and only store. Without Redis (embedded mode,
    or an outage) every status schedules its own read, as before.
    """
    from pyloto.pipeline import tasks

    if not settings.EMBEDDED:
        try:
            scheduled_now = resilience_redis().set(
                STATUS_BATCH_DUE_KEY, 1, nx=True, px=int(STATUS_BATCH_DUE_TTL_S * 1000)
            )
        except redis.RedisError:
            scheduled_now = True
        if not scheduled_now:
            return True
    try:
        tasks.ingest_waiting_elements.apply_async(
            countdown=settings.STATUS_BATCH_WINDOW_S or None,
            retry_policy=settings.WEBHOOK_PUBLISH_RETRY_POLICY,
            declare=[],
        )
    except Exception:
        log.exception("enqueue_failed", task="ingest_waiting_elements")
        return False
    return True


def status_batch_begin() -> None:
    """The batch starts reading: a status stored from now on schedules the next batch.

    Cleared before the read, never after: a status committed before this line is read by this batch,
    one committed after it finds no batch due and schedules its own.
    """
    if settings.EMBEDDED:
        return
    try:
        resilience_redis().delete(STATUS_BATCH_DUE_KEY)
    except redis.RedisError:
        log.warning("status_batch_flag_unavailable")


def status_batch_continue() -> bool:
    """A full batch left more waiting: read the next one now."""
    return _enqueue("ingest_waiting_elements")


def ingested_follow_ups_enqueue(result: IngestResult) -> None:
    """What an ingestion asks for once it committed: runs for new messages, a template sync."""
    if result.conversations_to_run:
        inbound_follow_ups_enqueue(newest_message_by_conversation=result.conversations_to_run)
    if result.templates_changed:
        templates_sync_enqueue()


def inbound_follow_ups_enqueue(*, newest_message_by_conversation: dict[int, int]) -> None:
    """Per conversation with new messages: one run (a burst's run waits for its quiet window, `run_launch`)."""
    for conversation_id in newest_message_by_conversation:
        if not run_enqueue(conversation_id=conversation_id):
            # The broker is down: the messages are stored, and the sweeper re-drives their runs.
            log.warning("enqueue_abandoned", conversations_left=len(newest_message_by_conversation))
            return


def templates_sync_enqueue() -> bool:
    """Sync the message templates from the Graph API (after a template status webhook)."""
    from conversations import tasks

    try:
        tasks.sync_message_templates.delay()
    except Exception:
        log.exception("enqueue_failed", task="sync_message_templates")
        return False
    return True


def reply_send_enqueue(*, message_id: int, countdown: float | None = None) -> bool:
    return _enqueue("send_reply", message_id, countdown=countdown, message_id=message_id)


def run_enqueue(*, conversation_id: int, countdown: float | None = None) -> bool:
    return _enqueue("run_conversation", conversation_id, countdown=countdown, conversation_id=conversation_id)


def run_enqueue_if_pending(*, conversation_id: int) -> bool:
    """Start the next run when messages arrived during the one that just ended (a burst)."""
    if not run_has_new_inbound(conversation_id=conversation_id):
        return False
    return run_enqueue(conversation_id=conversation_id)


def handoff_summary_enqueue(*, conversation_id: int) -> bool:
    """After a run handed the conversation over: ask the LLM for the staff's summary (when one is configured)."""
    if not llm_configured():
        return False
    payload = handoff_summary_payload(conversation_id=conversation_id)
    if payload is None:
        return False
    from llm.tasks import summarize_handoff
    from pyloto.pipeline.tasks import store_handoff_summary

    try:
        (summarize_handoff.s(payload) | store_handoff_summary.s()).delay()
    except Exception:
        log.exception("enqueue_failed", task="summarize_handoff", conversation_id=conversation_id)
        return False
    return True


# What follows each step ---------------------------------------------------------------------------


def run_step_follow(step: RunStep) -> None:
    """After the launch step: launch the canvas it prepared, or carry on the run it ended.

    The read receipt and typing indicator leave from here, once the run has started: after the canvas
    is queued (the LLM is not kept waiting for Meta), before a reply written here is sent.
    """
    if step.wait_s:
        run_enqueue(conversation_id=step.conversation_id, countdown=step.wait_s)
        return
    if step.payload is not None:
        canvas_launch(step.payload)
        for shadow in step.shadow_payloads:
            shadow_canvas_launch(shadow)
    if step.read_receipt is not None:
        reply_coming = step.payload is not None or (step.finalized is not None and step.finalized.message is not None)
        inbound_acknowledge(receipt=step.read_receipt, reply_coming=reply_coming)
    if step.finalized is not None:
        finalized_follow(step.finalized, conversation_id=step.conversation_id)
    elif step.ended:
        conversation_id = step.conversation_id
        transaction.on_commit(lambda: run_enqueue_if_pending(conversation_id=conversation_id))


def inbound_acknowledge(*, receipt: ReadReceipt, reply_coming: bool) -> bool:
    """Read receipt (and typing indicator when a reply is coming) for a run's newest message; never retried."""
    try:
        return read_receipt_send(receipt=receipt, reply_coming=reply_coming)
    except TransientError as exc:
        log.warning("acknowledge_failed", message_id=receipt.message_id, error=str(exc))
        return False


def finalized_follow(finalized: Finalized, *, conversation_id: int, send_here: bool = True) -> None:
    """After a run wrote its reply: send it, ask for the handoff summary if it handed over, start the next run.

    `send_here`: the worker that finalized sends at once (one task fewer per message); a send that must
    wait (pacing, a transient Cloud API error) becomes a `send_reply` task with its retries. A web
    request (a staff reply) never calls Meta itself: `send_here=False` queues the send.
    """
    message = finalized.message

    def follow() -> None:
        if message is not None and message.status == Message.Status.PENDING:
            if send_here:
                reply_send_here(message_id=message.pk)
            else:
                reply_send_enqueue(message_id=message.pk)
        if finalized.handed_over:
            handoff_summary_enqueue(conversation_id=conversation_id)
        run_enqueue_if_pending(conversation_id=conversation_id)

    transaction.on_commit(follow)


# How long the finalizing worker waits for a pacing slot before handing the send to the delivery
# threads: its processes are the pipeline's scarce ones, and one asleep through a throttling pause
# (WhatsApp's 130429 pushes every worker's slot back) holds up every run queued behind it.
SEND_HERE_MAX_WAIT_S = 0.5


def reply_send_here(*, message_id: int) -> str:
    """Send a pending reply from this worker; what cannot go now is queued as `send_reply` (or left to the sweeper)."""
    try:
        return reply_deliver(message_id=message_id, max_wait_s=SEND_HERE_MAX_WAIT_S)
    except SendPaced as paced:
        reply_send_enqueue(message_id=message_id, countdown=paced.wait_s)
        return "paced"
    except WhatsAppTransientError as exc:
        countdown = backoff_seconds(0, cap_s=settings.SEND_BACKOFF_MAX_S, retry_after_s=exc.retry_after)
        reply_send_enqueue(message_id=message_id, countdown=countdown)
        return "deferred"
    except Exception:
        # The reply is stored: the sweeper sends it (pending) or resolves it (a claim left sending).
        log.exception("send_failed", message_id=message_id)
        return "failed"


# The LLM canvas -----------------------------------------------------------------------------------


def payload_argsrepr(payload: dict[str, Any]) -> str:
    """What the LLM tasks' messages show as their arguments (Flower, a worker's task lines) instead of
    Celery's repr of the run payload: the customer's words stay out of the broker's headers, and no
    process spends a repr of a few kilobytes on every publish."""
    return f"(<payload of run {payload['run_key']}>,)"


def canvas_launch(payload: dict[str, Any]) -> None:
    """`chain(decide_state, chord([write_reply, choose_message_type], finalize_reply))`, recover_run on error."""
    from llm.tasks import choose_message_type, decide_state, write_reply
    from pyloto.pipeline.tasks import finalize_reply, recover_run

    identity = {
        "run_key": payload["run_key"],
        "conversation_id": payload["conversation_id"],
        "expected_state": payload["current_state"],
    }
    shown = payload_argsrepr(payload)
    canvas = chain(
        # A run's first LLM step waits behind the later steps of runs already started (Redis lists
        # are consumed in priority order, the default 0 first): under a backlog started runs finish
        # instead of every run's steps waiting behind every new run's first one.
        decide_state.s(payload).set(priority=DECIDE_STATE_PRIORITY, argsrepr=shown),
        chord(
            [write_reply.s().set(argsrepr=shown), choose_message_type.s().set(argsrepr=shown)],
            # The body is published with the header's results as its arguments: a repr of kilobytes too.
            finalize_reply.s(**identity).set(argsrepr=f"(<LLM results of run {payload['run_key']}>,)"),
        ),
    )
    canvas.on_error(recover_run.s(**identity))
    canvas.apply_async()
    log.info("run_canvas_launched", messages=len(payload["messages"]))


def shadow_canvas_launch(payload: dict[str, Any]) -> None:
    from llm.tasks import choose_message_type, decide_state, write_reply
    from pyloto.pipeline.tasks import record_shadow_run

    shown = payload_argsrepr(payload)
    canvas = chain(
        decide_state.s(payload).set(priority=SHADOW_PRIORITY, argsrepr=shown),
        chord(
            [
                write_reply.s().set(priority=SHADOW_PRIORITY, argsrepr=shown),
                choose_message_type.s().set(priority=SHADOW_PRIORITY, argsrepr=shown),
            ],
            record_shadow_run.s(
                run_key=payload["run_key"],
                conversation_id=payload["conversation_id"],
                release_number=payload["release_number"],
            ),
        ),
    )
    canvas.apply_async()
    log.info("run_shadow_canvas_launched", variant=payload["variant"])


# What follows a person's action (views, admin, API, commands call these) --------------------------


def staff_reply_send(*, conversation_id: int, user: Any, text: str) -> Message:
    """A staff reply: written by the replies service (which refuses what cannot go out), then sent."""
    outbound = staff_reply_write(conversation_id=conversation_id, user=user, text=text)
    finalized_follow(Finalized(outbound), conversation_id=conversation_id, send_here=False)
    return outbound


def dead_letter_replay(*, dead_letter_id: int) -> str:
    """Replay a dead letter: the service reopens it, then its reply is sent again or its run started again."""
    replay: Replay = dead_letter_reopen(dead_letter_id=dead_letter_id)
    if replay.send_message_id is not None:
        send_id = replay.send_message_id
        transaction.on_commit(lambda: reply_send_enqueue(message_id=send_id))
    if replay.run_conversation_id is not None:
        run_id = replay.run_conversation_id
        transaction.on_commit(lambda: run_enqueue(conversation_id=run_id))
    return replay.outcome
