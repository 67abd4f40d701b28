"""Finalize a run: merge the three outputs, guard them, apply the transition, persist the reply.

Everything happens in one transaction holding the conversation's row lock, and only while the run
still owns its lease: a run whose lease expired and was reclaimed writes nothing but its LLM calls,
because the run that took over answers the same messages. The outbound message carries the run's
idempotency key, so a redelivered finalize finds it instead of creating a second reply.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from conversations.models import Conversation, Message, SendPurpose
from conversations.selectors import conversation_offline_context
from conversations.services.guarded import reply_check
from conversations.services.inbound import inbound_finish
from conversations.services.planner import SendPlan, send_plan
from conversations.services.runs import run_end
from conversations.services.state import Actor, conversation_apply_decision
from conversations.states import Perm, State, allowed_bot_targets, is_bot_silent
from institutional.builtin import replacement_text
from institutional.guard import GuardAction, GuardResult, check_reply, judged
from institutional.hours import business_hours_status
from institutional.selectors import current_release
from institutional.services import guard_violation_record, policy_judgement_record
from institutional.snapshot import ReleaseSnapshot, facts_text
from institutional.textnorm import detect_language
from llm.judge import judge_reply_call
from llm.offline import offline_answer
from llm.services import llm_calls_record
from pyloto.observability import metrics
from pyloto.observability.correlation import current_correlation_id
from pyloto.whatsapp.compose import choice_labels, clip, compose_message, message_body, message_labels
from pyloto.whatsapp.payloads import (
    INTERACTIVE_BODY_MAX,
    TEXT_BODY_MAX,
    ButtonsMessage,
    ListMessage,
    OutboundMessage,
    TextMessage,
)

log = structlog.get_logger(__name__)


# Providers whose reply is a fixed text without a state decision (rate-limit notice, opt-out confirmation).
FIXED_TEXT_PROVIDERS = frozenset({"system", "optout"})


def idempotency_key(run_key: str) -> str:
    return f"run:{run_key}"


@dataclass(frozen=True)
class Finalized:
    """What a finalize wrote: the reply to send (None: stale run, or nothing safe to say) and whether it
    handed the conversation over (staff then get a summary). The pipeline decides what follows."""

    message: Message | None
    handed_over: bool = False
    # The customer wrote again while the run's LLM calls were in flight: nothing was written, the
    # run's messages wait again and the next run answers them with the new ones.
    superseded: bool = False


def reply_finalize(
    *,
    run_key: str,
    conversation_id: int,
    expected_state: str,
    decision: dict[str, Any] | None,
    reply: dict[str, Any] | None,
    choice: dict[str, Any] | None,
    calls: list[dict[str, Any]],
    provider: str,
    supersede_on_new_inbound: bool = False,
) -> Finalized:
    """Turn one run's outputs into exactly one guarded, valid outbound message (none when the run is stale).

    `supersede_on_new_inbound` (the LLM canvas' finalize): when the customer wrote again since the run
    began, its reply answers half a burst, so none is written and the messages wait for the next run,
    unless the oldest has already waited `BURST_MAX_DELAY_S` (then it answers what it has).
    """
    release = current_release()
    # The policy judge is an LLM call: asked before the row lock is taken, so no lock waits on it.
    judgement = _judge(release=release, reply=reply, choice=choice, provider=provider)
    with transaction.atomic():
        conversation = (
            Conversation.objects.select_related("contact").select_for_update(of=("self",)).get(pk=conversation_id)
        )
        llm_calls_record(
            calls=calls,
            conversation_id=conversation_id,
            run_key=run_key,
            release_number=release.number,
            correlation_id=current_correlation_id(),
        )
        run_messages = _run_messages(conversation_id, run_key)
        if run_messages.existing is not None:
            log.info("finalize_duplicate", message_id=run_messages.existing.pk)
            return Finalized(run_messages.existing)
        if conversation.run_token != run_key:
            log.warning("finalize_stale_run", reason="lease lost; the run that took over answers these messages")
            return Finalized(None)
        inbound = run_messages.inbound
        if supersede_on_new_inbound and _superseded(inbound, newer_waiting=run_messages.newer_waiting):
            Message.objects.filter(pk__in=[m.pk for m in inbound]).update(
                status=Message.Status.RECEIVED, updated_at=timezone.now()
            )
            run_end(lease=run_key, conversation_id=conversation.pk)
            metrics.RUNS_SUPERSEDED.inc()
            log.info("run_superseded", messages=len(inbound), reason="the customer wrote again during the run")
            return Finalized(None, superseded=True)
        newest = inbound[-1] if inbound else None
        correlation_id = newest.correlation_id if newest else ""
        if reply is None or (decision is None and provider not in FIXED_TEXT_PROVIDERS):
            # No LLM, or a missing decision or reply: the offline provider answers the whole run coherently.
            context = conversation_offline_context(
                conversation_id=conversation_id, exclude_message_ids=[m.pk for m in inbound]
            )
            answer = offline_answer(
                release=release,
                messages=[m.text for m in inbound],
                current_state=conversation.state,
                allowed_targets=allowed_bot_targets(conversation.state),
                earlier_texts=context.earlier_customer_texts,
                recent_reasons=context.recent_bot_reasons,
            )
            if provider != "offline":
                log.info("finalize_fallback", reason="llm output missing")
            decision, reply, choice, provider = answer.decision, answer.reply, answer.choice, "offline"
        composed = compose_message(text=reply["text"], choice=choice, allowed_media_urls=release.prompt_context())
        target_state = decision["target_state"] if decision else conversation.state
        language = detect_language("\n".join(m.text for m in inbound), default=_language(release))
        body, labels = message_body(composed), message_labels(composed)
        verdict = reply_check(release=release, text=body, labels=labels, language=language)
        written = (reply["text"], choice_labels(choice))
        # What the model wrote counts too, not only what survived clipping (when nothing was clipped,
        # it is the same text and the same labels: the verdict is the one just given).
        if verdict.allowed and written != (body, list(labels)):
            unclipped = reply_check(release=release, text=written[0], labels=written[1], language=language)
            if not unclipped.allowed:
                verdict = unclipped
        if judgement is not None and judgement["text"] == customer_visible_text(composed):
            llm_calls_record(
                calls=[judgement["call"]],
                conversation_id=conversation_id,
                run_key=run_key,
                release_number=release.number,
                correlation_id=current_correlation_id(),
            )
            policy_judgement_record(
                conversation_id=conversation_id,
                mode=settings.GUARD_JUDGE_MODE,
                guard_allowed=verdict.allowed,
                judge_output=judgement["output"],
                correlation_id=correlation_id,
            )
            if settings.GUARD_JUDGE_MODE == "enforce" and verdict.allowed:
                verdict = judged(release=release, judge_output=judgement["output"], language=language)
        message: OutboundMessage | None = composed
        if not verdict.allowed:
            guard_violation_record(
                conversation_id=conversation_id,
                result=verdict,
                text=customer_visible_text(composed),
                correlation_id=correlation_id,
            )
            if verdict.action == GuardAction.HANDOFF:
                target_state = State.HANDOFF_REQUESTED.value
            log.warning("reply_blocked_by_guard", action=str(verdict.action), violations=len(verdict.violations))
            guarded = safe_replacement(release=release, verdict=verdict, language=language)
            if guarded is None:
                target_state = State.HANDOFF_REQUESTED.value
            message = guarded
        # The conversation's row is locked since the start: only this decision can move its state.
        state = conversation.state
        if decision is not None or target_state != conversation.state:
            by_decision = decision is not None and decision["target_state"] == target_state
            reason = decision["reason"] if decision is not None and by_decision else "the output guard handed it over"
            state = conversation_apply_decision(
                conversation=conversation,
                target_state=target_state,
                actor=Actor.bot(),
                reason=reason,
                message_id=newest.pk if newest else None,
                correlation_id=correlation_id,
                expected_state=expected_state,
            ).state
        if message is None:
            # Not even a safe text passes this release's rules: nothing goes out and a person takes over.
            _close_inbound(inbound, status=Message.Status.HANDED_OFF, run_key=run_key, reason="no safe reply")
            run_end(lease=run_key, conversation_id=conversation.pk)
            log.error("reply_withheld", reason="no safe text passes the release's constraints")
            return Finalized(None)
        if state == State.HANDOFF_REQUESTED:
            # Outside the window the planner may send a handoff notice as its mapped template.
            purpose = SendPurpose.HANDOFF_NOTICE
            # Out of hours the customer is told when a person will answer (the next opening).
            language = detect_language(" ".join(m.text for m in inbound), default=_language(release))
            noted = with_note(message, business_hours_status().customer_note(language))
            # The note is the system's own, but the customer reads it and the send-time audit checks it:
            # one the release's rules would block (a dated opening a week or more away) is left out.
            body, labels = message_body(noted), message_labels(noted)
            if noted is message or reply_check(release=release, text=body, labels=labels, language=language).allowed:
                message = noted
            else:
                log.warning("after_hours_note_withheld", reason="the release's rules block the note")
        else:
            purpose = _PURPOSE_BY_PROVIDER.get(provider, SendPurpose.REPLY)
        outbound = Message.objects.create(
            conversation=conversation,
            direction=Message.Direction.OUTBOUND,
            type=message.kind,
            text=message_body(message),
            raw=message.model_dump(mode="json"),
            status=Message.Status.PENDING,
            idempotency_key=idempotency_key(run_key),
            correlation_id=correlation_id,
            provider=provider,
            run_key=run_key,
            purpose=purpose,
        )
        inbound_status = Message.Status.HANDED_OFF if is_bot_silent(state) else Message.Status.ANSWERED
        _close_inbound(inbound, status=inbound_status, run_key=run_key)
        run_end(lease=run_key, conversation_id=conversation.pk)
        handed_over = state == State.HANDOFF_REQUESTED and expected_state != State.HANDOFF_REQUESTED
    log.info("reply_finalized", message_id=outbound.pk, kind=message.kind, provider=provider, state=state)
    return Finalized(outbound, handed_over=handed_over)


@dataclass(frozen=True)
class _RunMessages:
    existing: Message | None  # the run's reply, when an earlier delivery of this finalize wrote it
    inbound: list[Message]  # what the run answers (`processing`), oldest first
    newer_waiting: bool  # inbound messages arrived after the run began (still `received`)


def _run_messages(conversation_id: int, run_key: str) -> _RunMessages:
    """The run's reply if it exists, its inbound messages, and whether newer ones wait: one statement, not three."""
    key = idempotency_key(run_key)
    rows = list(
        Message.objects.filter(
            Q(idempotency_key=key)
            | Q(
                conversation_id=conversation_id,
                direction=Message.Direction.INBOUND,
                status__in=[Message.Status.PROCESSING, Message.Status.RECEIVED],
            )
        ).order_by("created_at", "pk")
    )
    inbound = [m for m in rows if m.direction == Message.Direction.INBOUND]
    return _RunMessages(
        existing=next((m for m in rows if m.idempotency_key == key), None),
        inbound=[m for m in inbound if m.status == Message.Status.PROCESSING],
        newer_waiting=any(m.status == Message.Status.RECEIVED for m in inbound),
    )


def _superseded(inbound: list[Message], *, newer_waiting: bool) -> bool:
    """Whether a message arrived after the run began (still `received`) and the run may still wait for it."""
    if not inbound or not newer_waiting:
        return False
    waited_s = (timezone.now() - inbound[0].created_at).total_seconds()
    return waited_s < settings.BURST_MAX_DELAY_S


def _judge(
    *, release: ReleaseSnapshot, reply: dict[str, Any] | None, choice: dict[str, Any] | None, provider: str
) -> dict[str, Any] | None:
    """The policy judge's verdict on the message this run will compose (shadow or enforce mode), or None.

    In enforce mode a message the guard already blocks is not sent to the judge: it is replaced anyway.
    """
    if settings.GUARD_JUDGE_MODE == "off" or reply is None or provider != "openai":
        return None
    composed = compose_message(text=reply["text"], choice=choice, allowed_media_urls=release.prompt_context())
    text = customer_visible_text(composed)
    verdict = check_reply(release=release, text=message_body(composed), labels=message_labels(composed))
    if settings.GUARD_JUDGE_MODE == "enforce" and not verdict.allowed:
        return None
    result = judge_reply_call(
        rules=[(rule.slug, rule.description or rule.title) for rule in release.constraints],
        facts=facts_text(release)[:JUDGE_FACTS_MAX],
        message=text,
        timeout_s=settings.GUARD_JUDGE_TIMEOUT_S,
    )
    return {**result, "text": text}


JUDGE_FACTS_MAX = 4000


def _language(release: ReleaseSnapshot) -> str:
    return (release.profile.default_language or "pt")[:2].lower()


def customer_visible_text(message: OutboundMessage) -> str:
    """Every string of a message the customer reads, one per line (what the ledger keeps, masked)."""
    return "\n".join(part for part in (message_body(message), *message_labels(message)) if part)


def safe_replacement(*, release: ReleaseSnapshot, verdict: GuardResult, language: str) -> TextMessage | None:
    """The text that replaces a blocked reply, itself checked against the same release; None when none passes.

    This is what keeps "constraint violation sent" at zero by construction: a replacement goes out only
    after `check_reply` passed it. The constraint's safe text first, then the built-in handoff text in the
    customer's language, then the Portuguese one; a release that forbids all of them gets no message.
    """
    candidates = [
        verdict.replacement_text,
        replacement_text(slug="", action=GuardAction.HANDOFF.value, language=language),
        replacement_text(slug="", action=GuardAction.HANDOFF.value, language="pt"),
    ]
    for text in dict.fromkeys(candidates):
        if text and check_reply(release=release, text=text, language=language).allowed:
            return TextMessage(body=text)
        log.error("safe_text_blocked", reason="a replacement text breaks the release's own constraints")
    return None


# Fixed texts that are not a bot turn; the opt-out confirmation is the one message an opted-out contact gets.
_PURPOSE_BY_PROVIDER = {"system": SendPurpose.NOTICE, "optout": SendPurpose.OPT_OUT_CONFIRMATION}


def with_note(message: OutboundMessage, note: str) -> OutboundMessage:
    """`message` with `note` as a last paragraph of its body, within WhatsApp's limits (unchanged if it cannot fit)."""
    if not note or not isinstance(message, TextMessage | ButtonsMessage | ListMessage):
        return message
    limit = TEXT_BODY_MAX if isinstance(message, TextMessage) else INTERACTIVE_BODY_MAX
    body = message.body.rstrip()
    if len(body) + 2 + len(note) > limit:
        body = clip(body, limit - 2 - len(note))
    return type(message).model_validate({**message.model_dump(), "body": f"{body}\n\n{note}"})


def run_close_without_reply(*, run_key: str, conversation_id: int, status: str, reason: str) -> int:
    """End a run that must not answer (a person owns the conversation, or every message was dropped)."""
    with transaction.atomic():
        conversation = Conversation.objects.select_for_update().get(pk=conversation_id)
        if conversation.run_token != run_key:
            return 0
        inbound = list(
            Message.objects.filter(
                conversation=conversation, direction=Message.Direction.INBOUND, status=Message.Status.PROCESSING
            )
        )
        _close_inbound(inbound, status=status, run_key=run_key, reason=reason)
        run_end(lease=run_key, conversation_id=conversation.pk)
    log.info("run_closed_without_reply", status=status, reason=reason, messages=len(inbound))
    return len(inbound)


def messages_drop(*, message_ids: list[int], reason: str) -> int:
    """Close inbound messages by policy (rate limit), each with its reason."""
    dropped = inbound_finish(messages=message_ids, status=Message.Status.DROPPED, reason=reason)
    log.info("messages_dropped", count=dropped, reason=reason)
    return dropped


def _close_inbound(inbound: list[Message], *, status: str, run_key: str, reason: str = "") -> None:
    inbound_finish(messages=[m.pk for m in inbound], status=status, reason=reason, run_key=run_key)


class StaffReplyRefused(Exception):
    """A staff reply that cannot be sent; `code` says why (for the API's status and the admin's message)."""

    def __init__(self, message: Any, *, code: str) -> None:
        super().__init__(message)
        self.code = code


def staff_reply_refusal(*, conversation: Conversation, user: Any, text: str | None = None) -> StaffReplyRefused | None:
    """Why a staff reply to this conversation cannot go out now, or None when it can.

    The one check behind both the send below (under the row lock) and the inbox, which shows the reason
    before the person writes. `text=None` checks everything but the text itself.
    """
    if not user.has_perm(Perm.HANDLE):
        return StaffReplyRefused(_("You may not handle conversations."), code="not_permitted")
    if text is not None and (not text or len(text) > TEXT_BODY_MAX):
        return StaffReplyRefused(
            _("A reply has 1 to %(max)d characters.") % {"max": TEXT_BODY_MAX}, code="invalid_text"
        )
    if conversation.state != State.HUMAN_ACTIVE:
        return StaffReplyRefused(_("Take the conversation before replying."), code="not_taken")
    if conversation.contact.opted_out_at is not None:
        return StaffReplyRefused(
            _("The customer asked not to receive messages (opted out): nothing can be sent to them."),
            code="opted_out",
        )
    plan = staff_reply_plan(conversation=conversation, text=text)
    if not plan.sendable:
        return StaffReplyRefused(plan.reason, code=plan.reason_code)
    return None


def staff_reply_plan(*, conversation: Conversation, text: str | None = None) -> SendPlan:
    """How a staff reply would go out now: free-form in the window, else the mapped template, else not at all."""
    # The planner fills a template's parameter from the text; before anything is typed, a stand-in does.
    message = TextMessage(body=text or "…")
    return send_plan(conversation=conversation, purpose=SendPurpose.STAFF_REPLY, message=message)


def staff_message_store(
    *, conversation: Conversation, body: str, purpose: str, next_attempt_at: datetime | None = None
) -> Message:
    """A text a person wrote to the customer, stored `pending` for the one delivery (staff reply, follow-up)."""
    message = TextMessage(body=body)
    return Message.objects.create(
        conversation=conversation,
        direction=Message.Direction.OUTBOUND,
        type=message.kind,
        text=body,
        raw=message.model_dump(mode="json"),
        status=Message.Status.PENDING,
        idempotency_key=f"{purpose}:{uuid.uuid4().hex}",
        correlation_id=current_correlation_id(),
        provider="staff",
        purpose=purpose,
        next_attempt_at=next_attempt_at,
    )


def staff_reply_write(*, conversation_id: int, user: Any, text: str) -> Message:
    """A person who took the conversation writes to the customer; the reply is stored `pending`.

    The pipeline sends it through the same exactly-once delivery (`pyloto.pipeline.dispatch.staff_reply_send`).

    Only in `human_active` (take the conversation first), 1 to 4 096 characters. Outside WhatsApp's
    24-hour window it goes out as the approved template mapped to staff replies; without one it is refused
    with the planner's reason (`staff_reply_refusal` says which rule failed). The send itself plans again,
    with the window as it is then. People may say what the bot may not (a price, a signed contract), so
    the output guard does not apply to them.
    """
    body = text.strip()
    with transaction.atomic():
        conversation = (
            Conversation.objects.select_related("contact").select_for_update(of=("self",)).get(pk=conversation_id)
        )
        refusal = staff_reply_refusal(conversation=conversation, user=user, text=body)
        if refusal is not None:
            raise refusal
        outbound = staff_message_store(conversation=conversation, body=body, purpose=SendPurpose.STAFF_REPLY)
        Conversation.objects.filter(pk=conversation_id).update(last_activity_at=timezone.now())
    log.info("staff_reply_queued", message_id=outbound.pk, conversation_id=conversation_id, user_id=user.pk)
    return outbound
