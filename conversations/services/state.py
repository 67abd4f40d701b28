"""State decisions: apply a proposed transition (LLM, staff or system) under a row lock, with audit.

The LLM proposes, the state machine disposes: a proposal is applied only if a transition from the
current state to the target exists and the actor holds its django-fsm permission. Every proposal,
applied or not, leaves a `TransitionDecision` row; applied ones also leave django-fsm-log's
`StateLog`, written by the transition inside the same transaction as the save, so a failed save
rolls both back.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, Literal

import structlog
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.utils import timezone
from django_fsm import has_transition_perm
from django_fsm_log.models import StateLog

from conversations.models import Conversation, TransitionDecision
from conversations.selectors import conversation_is_bot_silent, conversations_waiting_for_human
from conversations.states import BOT_ACTIVE, BOT_SILENT, Perm, State
from pyloto.observability import metrics

if TYPE_CHECKING:
    from django.contrib.auth.models import User

__all__ = [
    "BOT_USERNAME",
    "SYSTEM_USERNAME",
    "Actor",
    "DecisionOutcome",
    "conversation_apply_decision",
    "conversation_close_contract",
    "conversation_expire",
    "conversation_is_bot_silent",
    "conversation_request_handoff",
    "conversation_resolve",
    "conversation_return_to_bot",
    "conversation_send_proposal",
    "conversation_staff_transition",
    "conversation_take",
    "conversation_take_by_business_app",
    "conversation_take_next",
]

log = structlog.get_logger(__name__)

BOT_USERNAME = "pyloto-bot"
SYSTEM_USERNAME = "pyloto-system"
# The company's people answering from the WhatsApp Business app (message echoes) act as this user.
BUSINESS_APP_USERNAME = "pyloto-business-app"
# Fields a transition method may change; saved explicitly so a transition never overwrites
# columns other writers (ingestion, the run lease) own.
_TRANSITION_FIELDS = ["state", "closed_at", "handoff_requested_at", "assigned_to", "last_activity_at"]

ActorKind = Literal["bot", "staff", "system"]


def _service_user(username: str, *, permissions: tuple[str, ...] = ()) -> User:
    """A real user row for a non-human actor, so django-fsm's permission checks apply to it as-is.

    It cannot log in (unusable password, not staff) and holds only the permissions given here.
    """
    user_model = get_user_model()
    user, created = user_model.objects.get_or_create(
        username=username, defaults={"is_active": True, "is_staff": False, "is_superuser": False}
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
        content_type = ContentType.objects.get_for_model(Conversation)
        for permission in permissions:
            codename = permission.split(".", 1)[1]
            perm, _ = Permission.objects.get_or_create(
                content_type=content_type, codename=codename, defaults={"name": codename.replace("_", " ")}
            )
            user.user_permissions.add(perm)
    return user


@dataclass(frozen=True)
class Actor:
    """Who asks for a transition: the bot (the LLM's decision), a named staff user, or the system."""

    kind: ActorKind
    user: User | None

    @classmethod
    def bot(cls) -> Actor:
        # No permissions at all: every human-only transition is refused by django-fsm itself.
        return cls(kind="bot", user=_service_user(BOT_USERNAME))

    @classmethod
    def system(cls) -> Actor:
        return cls(kind="system", user=_service_user(SYSTEM_USERNAME, permissions=(Perm.EXPIRE,)))

    @classmethod
    def business_app(cls) -> Actor:
        """Staff who answered from the WhatsApp Business app: they may take the conversation, nothing else."""
        return cls(kind="staff", user=_service_user(BUSINESS_APP_USERNAME, permissions=(Perm.HANDLE,)))

    @classmethod
    def staff(cls, user: User) -> Actor:
        if user is None or not user.is_authenticated:
            raise ValueError("a staff actor needs an authenticated user")
        return cls(kind="staff", user=user)


@dataclass(frozen=True)
class DecisionOutcome:
    """What became of a proposed transition."""

    outcome: str  # TransitionDecision.Outcome: applied / unchanged / refused
    conversation_id: int
    source_state: str
    state: str  # where the conversation is now
    proposed_state: str = ""
    transition: str = ""
    refusal: str = ""  # TransitionDecision.Refusal code when refused
    detail: str = ""
    decision_id: int | None = None

    @property
    def applied(self) -> bool:
        return self.outcome == TransitionDecision.Outcome.APPLIED

    @property
    def refused(self) -> bool:
        return self.outcome == TransitionDecision.Outcome.REFUSED


def conversation_apply_decision(
    *,
    conversation_id: int | None = None,
    conversation: Conversation | None = None,
    target_state: str,
    actor: Actor,
    reason: str,
    message_id: int | None = None,
    correlation_id: str = "",
    expected_state: str | None = None,
) -> DecisionOutcome:
    """Apply a proposed target state if the FSM allows it for this actor; record the decision either way.

    `expected_state` is the state the proposer saw (the one given to the LLM). When the state has
    moved since, the proposal is stale and refused rather than applied to a state it never considered:
    of two concurrent decisions on the same state, only the first applies.

    The row of `conversation_id` is locked here; a caller that already holds it locked in its open
    transaction (finalize) passes it as `conversation` instead: no second read, no savepoint.
    """
    decide = partial(
        _decide,
        actor=actor,
        reason=reason,
        target_state=target_state,
        message_id=message_id,
        correlation_id=correlation_id,
        expected_state=expected_state,
    )
    if conversation is not None:
        return decide(conversation)
    if conversation_id is None:
        raise ValueError("conversation_apply_decision needs the conversation_id or the locked conversation")
    with transaction.atomic():
        return decide(Conversation.objects.select_for_update().get(pk=conversation_id))


def conversation_request_handoff(
    *,
    conversation_id: int,
    actor: Actor,
    reason: str,
    message_id: int | None = None,
    correlation_id: str = "",
) -> DecisionOutcome:
    """The customer wants a person: queue the conversation for staff and silence the bot.

    Asking again while a person already owns the conversation is not an error: it stays as it is.
    """
    with transaction.atomic():
        conversation = Conversation.objects.select_for_update().get(pk=conversation_id)
        target = State.HANDOFF_REQUESTED if conversation.state not in BOT_SILENT else conversation.state
        return _decide(
            conversation,
            actor=actor,
            reason=reason,
            target_state=target,
            message_id=message_id,
            correlation_id=correlation_id,
        )


def conversation_staff_transition(
    *, conversation_id: int, user: User, transition: str, note: str = ""
) -> DecisionOutcome:
    """A staff member runs a named transition (admin button, API); refused unless they hold its permission."""
    actor = Actor.staff(user)
    with transaction.atomic():
        conversation = Conversation.objects.select_for_update().get(pk=conversation_id)
        return _decide(conversation, actor=actor, reason=note, transition_name=transition)


def conversation_take(*, conversation_id: int, user: User, note: str = "") -> DecisionOutcome:
    return conversation_staff_transition(conversation_id=conversation_id, user=user, transition="take", note=note)


def conversation_take_next(*, user: User) -> DecisionOutcome | None:
    """Take the conversation that has waited longest for a person; None when nobody is waiting.

    Rows another staff member is taking right now are skipped (`skip_locked`), so two people pressing
    "next" at once get two different customers rather than one refusal.
    """
    actor = Actor.staff(user)
    with transaction.atomic():
        conversation = conversations_waiting_for_human().select_for_update(skip_locked=True, of=("self",)).first()
        if conversation is None:
            return None
        return _decide(conversation, actor=actor, reason="", transition_name="take")


def conversation_resolve(*, conversation_id: int, user: User, note: str) -> DecisionOutcome:
    return conversation_staff_transition(
        conversation_id=conversation_id, user=user, transition="resolve_handoff", note=note
    )


def conversation_return_to_bot(*, conversation_id: int, user: User, note: str) -> DecisionOutcome:
    return conversation_staff_transition(
        conversation_id=conversation_id, user=user, transition="return_to_bot", note=note
    )


def conversation_send_proposal(*, conversation_id: int, user: User, note: str) -> DecisionOutcome:
    return conversation_staff_transition(
        conversation_id=conversation_id, user=user, transition="send_proposal", note=note
    )


def conversation_close_contract(*, conversation_id: int, user: User, note: str) -> DecisionOutcome:
    return conversation_staff_transition(
        conversation_id=conversation_id, user=user, transition="close_contract", note=note
    )


def conversation_take_by_business_app(*, conversation_id: int, correlation_id: str = "") -> DecisionOutcome | None:
    """The company answered from the WhatsApp Business app (an echo): a person owns the conversation now.

    Like a staff member taking it: the bot goes silent. Nothing changes when a person already has it.
    """
    with transaction.atomic():
        conversation = Conversation.objects.select_for_update().get(pk=conversation_id)
        if conversation.state not in (*BOT_ACTIVE, State.HANDOFF_REQUESTED):
            return None
        return _decide(
            conversation,
            actor=Actor.business_app(),
            reason="answered from the WhatsApp Business app",
            transition_name="take",
            correlation_id=correlation_id,
        )


def conversation_expire(*, conversation: Conversation, actor: Actor, reason: str) -> DecisionOutcome:
    """Expire a conversation the caller has already locked (`select_for_update`) in its transaction."""
    return _decide(conversation, actor=actor, reason=reason, transition_name="expire")


def _available_transitions(conversation: Conversation) -> list:
    """The transitions django-fsm allows from the current state (a method FSMField adds to the model)."""
    return list(conversation.get_available_state_transitions())  # type: ignore[attr-defined]


def _decide(
    conversation: Conversation,
    *,
    actor: Actor,
    reason: str,
    target_state: str | None = None,
    transition_name: str | None = None,
    message_id: int | None = None,
    correlation_id: str = "",
    expected_state: str | None = None,
) -> DecisionOutcome:
    """The one place a transition runs. The caller holds the row lock inside `transaction.atomic()`."""
    source = conversation.state
    record: dict[str, Any] = {
        "actor": actor,
        "reason": reason,
        "message_id": message_id,
        "correlation_id": correlation_id,
        "proposed_state": target_state or "",
    }

    if expected_state is not None and expected_state != source:
        return _record(
            conversation,
            source=source,
            outcome=TransitionDecision.Outcome.REFUSED,
            refusal=TransitionDecision.Refusal.STALE,
            detail=f"decided on {expected_state!r} but the conversation is now {source!r}",
            **record,
        )

    if transition_name is None:
        if target_state not in State.values:
            return _record(
                conversation,
                source=source,
                outcome=TransitionDecision.Outcome.REFUSED,
                refusal=TransitionDecision.Refusal.UNKNOWN_STATE,
                detail=f"{target_state!r} is not a state",
                **record,
            )
        if target_state == source:
            return _record(conversation, source=source, outcome=TransitionDecision.Outcome.UNCHANGED, **record)
        candidates = [t for t in _available_transitions(conversation) if t.target == target_state]
        if not candidates:
            return _record(
                conversation,
                source=source,
                outcome=TransitionDecision.Outcome.REFUSED,
                refusal=TransitionDecision.Refusal.NO_TRANSITION,
                detail=f"no transition from {source!r} to {target_state!r}",
                **record,
            )
        permitted = [t for t in candidates if t.has_perm(conversation, actor.user)]
        if not permitted:
            return _record(
                conversation,
                source=source,
                outcome=TransitionDecision.Outcome.REFUSED,
                refusal=TransitionDecision.Refusal.NOT_PERMITTED,
                transition=candidates[0].name,
                detail=f"{actor.kind} may not {candidates[0].name}",
                **record,
            )
        transition_name = permitted[0].name

    method = getattr(conversation, transition_name, None)
    if method is not None and hasattr(method, "_django_fsm") and not record["proposed_state"]:
        declared = method._django_fsm.get_transition(source)
        record["proposed_state"] = str(declared.target) if declared else ""
    if method is None or not hasattr(method, "_django_fsm"):
        return _record(
            conversation,
            source=source,
            outcome=TransitionDecision.Outcome.REFUSED,
            refusal=TransitionDecision.Refusal.NO_TRANSITION,
            transition=transition_name,
            detail=f"{transition_name!r} is not a transition",
            **record,
        )
    if not has_transition_perm(method, actor.user or AnonymousUser()):
        # has_transition_perm also fails when no transition exists from here: tell the two apart.
        available = {t.name for t in _available_transitions(conversation)}
        refusal = (
            TransitionDecision.Refusal.NOT_PERMITTED
            if transition_name in available
            else TransitionDecision.Refusal.NO_TRANSITION
        )
        return _record(
            conversation,
            source=source,
            outcome=TransitionDecision.Outcome.REFUSED,
            refusal=refusal,
            transition=transition_name,
            detail=f"{actor.kind} may not {transition_name} from {source!r}"
            if refusal == TransitionDecision.Refusal.NOT_PERMITTED
            else f"no {transition_name!r} from {source!r}",
            **record,
        )

    # The StateLog row is written by django-fsm-log when the method returns; the save that follows
    # is in the same transaction, so either both persist or neither does.
    method(by=actor.user, description=reason or None)
    if actor.kind != TransitionDecision.ActorKind.SYSTEM:
        # A decision or a staff action is activity; the sweeper's expiry keeps "idle since" intact.
        conversation.last_activity_at = max(conversation.last_activity_at, timezone.now())
    conversation.save(update_fields=_TRANSITION_FIELDS)
    state_log = StateLog.objects.for_(conversation).order_by("-pk").first()
    record["proposed_state"] = conversation.state
    return _record(
        conversation,
        source=source,
        outcome=TransitionDecision.Outcome.APPLIED,
        transition=transition_name,
        state_log=state_log,
        **record,
    )


def _record(
    conversation: Conversation,
    *,
    source: str,
    outcome: str,
    actor: Actor,
    reason: str,
    message_id: int | None,
    correlation_id: str,
    proposed_state: str,
    refusal: str = "",
    transition: str = "",
    detail: str = "",
    state_log: StateLog | None = None,
) -> DecisionOutcome:
    decision = TransitionDecision.objects.create(
        conversation=conversation,
        actor_kind=actor.kind,
        actor=actor.user if getattr(actor.user, "pk", None) else None,
        source_state=source,
        proposed_state=proposed_state,
        transition=transition,
        outcome=outcome,
        refusal=refusal,
        reason=(reason or "").strip(),
        detail=detail[:255],
        message_id=message_id,
        correlation_id=correlation_id,
        state_log=state_log,
    )
    result = DecisionOutcome(
        outcome=outcome,
        conversation_id=conversation.pk,
        source_state=source,
        state=conversation.state,
        proposed_state=proposed_state,
        transition=transition,
        refusal=refusal,
        detail=detail,
        decision_id=decision.pk,
    )
    fields = {
        "conversation_id": conversation.pk,
        "outcome": outcome,
        "source_state": source,
        "proposed_state": proposed_state,
        "state": conversation.state,
        "transition": transition,
        "refusal": refusal,
        "actor_kind": actor.kind,
        "correlation_id": correlation_id,
    }
    # Logged and counted once the decision is durable; a rolled-back transaction leaves no trace.
    transaction.on_commit(lambda: metrics.FSM_DECISIONS.labels(result=str(outcome)).inc())
    if outcome == TransitionDecision.Outcome.REFUSED:
        transaction.on_commit(lambda: log.warning("fsm_decision_refused", detail=detail, **fields))
    else:
        transaction.on_commit(lambda: log.info("fsm_decision", **fields))
    return result
