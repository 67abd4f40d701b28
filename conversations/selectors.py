"""Reads about conversations: handoff phrases, service window, state history, timeline and the FSM KPI."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db.models import Count, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django_fsm_log.models import StateLog

from conversations.models import Conversation, Message, TransitionDecision, WebhookElement
from conversations.states import State, is_bot_silent, transition_label

# WhatsApp's customer-service window: free-form messages only within 24 h of the customer's last message.
SERVICE_WINDOW = timedelta(hours=24)

# Phrases by which customers ask for a person, after accent folding and lower-casing (pt, en and es).
# Whole words only, so "agente de viagens" or "recursos humanos" do not trigger a handoff.
_HUMAN_PATTERNS = [
    r"\batendente(s)?\b",
    r"\batendimento humano\b",
    r"\bfalar com (uma |um |alguma |algum )?(pessoa|humano|gente|alguem|atendente|operador|responsavel)\b",
    r"\b(pessoa|gente) de verdade\b",
    r"\bpessoa real\b",
    r"\bser humano\b",
    r"\bhumano\b",
    r"\boperador(a)?\b",
    r"\bhuman\b(?! resources)",
    r"\b(live |real |customer service |support )?agent\b",
    r"\brepresentative\b",
    r"\breal person\b",
    r"\b(talk|speak|chat) (to|with) (a |an |some )?(person|someone|somebody|human|people)\b",
    r"\bfalar com (a |alguem da )?(sua |nossa )?equipe\b",
    r"\b(talk|speak) to (the|your) team\b",
    r"\bhablar con (una persona|un humano|alguien|un agente|el equipo|un asesor)\b",
    r"\bpersona real\b",
]
_HUMAN_RE = re.compile("|".join(f"(?:{pattern})" for pattern in _HUMAN_PATTERNS))


def _fold(text: str) -> str:
    """Lower-case, strip accents and collapse punctuation to single spaces."""
    decomposed = unicodedata.normalize("NFKD", text or "")
    without_accents = "".join(char for char in decomposed if not unicodedata.combining(char))
    return " ".join(re.sub(r"[^\w]+", " ", without_accents.casefold()).split())


def wants_human(text: str) -> bool:
    """Deterministic rule: does this message ask for a person? (pt/en, accent- and case-insensitive)."""
    return bool(_HUMAN_RE.search(_fold(text)))


@dataclass(frozen=True)
class OfflineContext:
    """What the offline answerer needs beyond the unanswered messages (it never reads the database)."""

    earlier_customer_texts: list[str]
    recent_bot_reasons: list[str]  # newest first


def conversation_offline_context(
    *, conversation_id: int, exclude_message_ids: list[int], limit: int = 6
) -> OfflineContext:
    """The customer's earlier texts (oldest first) and the reasons of the latest bot decisions (newest first)."""
    texts = list(
        Message.objects.filter(conversation_id=conversation_id, direction=Message.Direction.INBOUND)
        .exclude(pk__in=exclude_message_ids)
        .exclude(text="")
        .order_by("-created_at", "-pk")
        .values_list("text", flat=True)[:limit]
    )
    reasons = list(
        TransitionDecision.objects.filter(conversation_id=conversation_id, actor_kind=TransitionDecision.ActorKind.BOT)
        .order_by("-created_at", "-pk")
        .values_list("reason", flat=True)[:limit]
    )
    return OfflineContext(earlier_customer_texts=list(reversed(texts)), recent_bot_reasons=reasons)


def opt_keyword(text: str) -> str | None:
    """ "out" when the whole message is an opt-out word (PARAR, SAIR…), "in" for an opt-in word (VOLTAR).

    Only a message that is the word alone counts: "quero cancelar meu pedido" is a request, not an opt-out.
    """
    folded = _fold(text)
    if not folded:
        return None
    if folded in {_fold(word) for word in settings.OPT_OUT_KEYWORDS}:
        return "out"
    if folded in {_fold(word) for word in settings.OPT_IN_KEYWORDS}:
        return "in"
    return None


def conversation_is_bot_silent(conversation: Conversation) -> bool:
    """True in the handoff states: a person owns the conversation and the bot sends nothing."""
    return is_bot_silent(conversation.state)


def conversation_in_service_window(conversation: Conversation, now: datetime | None = None) -> bool:
    """Whether a free-form message may be sent: the customer wrote within the last 24 hours."""
    if conversation.last_inbound_at is None:
        return False
    now = now or timezone.now()
    return now - conversation.last_inbound_at < SERVICE_WINDOW


def conversations_waiting_for_human(*, older_than: timedelta | None = None) -> QuerySet[Conversation]:
    """The staff queue: conversations waiting for a person, oldest first."""
    queryset = Conversation.objects.filter(state=State.HANDOFF_REQUESTED, closed_at__isnull=True)
    if older_than is not None:
        queryset = queryset.filter(handoff_requested_at__lt=timezone.now() - older_than)
    return queryset.select_related("contact").order_by("handoff_requested_at", "pk")


def conversation_state_history(*, conversation_id: int, limit: int = 20) -> list[dict[str, str]]:
    """The applied transitions, oldest first (the most recent `limit`), for the decision prompt."""
    decisions = (
        TransitionDecision.objects.filter(conversation_id=conversation_id, outcome=TransitionDecision.Outcome.APPLIED)
        .order_by("-created_at", "-pk")
        .values("created_at", "source_state", "proposed_state", "actor_kind", "reason")[:limit]
    )
    return [
        {
            "at": row["created_at"].isoformat(),
            "from": row["source_state"],
            "to": row["proposed_state"],
            "by": row["actor_kind"],
            "reason": row["reason"],
        }
        for row in reversed(list(decisions))
    ]


@dataclass(frozen=True)
class TimelineEntry:
    """One line of a conversation's timeline: a message, or a state decision (applied or not)."""

    at: datetime
    kind: str  # "message" | "decision" | "transition"
    title: str
    who: str = ""
    why: str = ""
    text: str = ""
    extra: dict = field(default_factory=dict)


def _actor_label(kind: str, user) -> str:
    if kind == TransitionDecision.ActorKind.STAFF and user is not None:
        return str(_("atendente: %(name)s") % {"name": user.get_username()})
    return str(TransitionDecision.ActorKind(kind).label) if kind in TransitionDecision.ActorKind.values else kind


def state_label(value: str) -> str:
    """A state's human label ("Com uma pessoa"); anything else as it is."""
    return str(State(value).label) if value in State.values else value


def conversation_timeline(*, conversation_id: int, limit: int = 500) -> list[TimelineEntry]:
    """Messages, state decisions (with who, why, the message behind them) and bare transitions, by time."""
    entries: list[TimelineEntry] = []
    messages = Message.objects.filter(conversation_id=conversation_id).order_by("-created_at", "-pk")[:limit]
    for message in messages:
        if message.direction == Message.Direction.INBOUND:
            who = str(_("cliente"))
        elif message.provider == "staff":
            who = str(_("atendente"))
        else:
            who = str(_("assistente"))
        entries.append(
            TimelineEntry(
                at=message.created_at,
                kind="message",
                title=f"{who} · {message.type} · {message.get_status_display()}",
                who=who,
                text=message.text,
                extra={
                    "id": message.pk,
                    "direction": message.direction,
                    "status": message.status,
                    "status_reason": message.status_reason,
                    # A voice note: what was heard, in which language, how long it lasted.
                    "transcript": message.transcript,
                    "transcript_language": message.transcript_language,
                    "media_duration_s": message.media_duration_s,
                    "quoted_wamid": message.quoted_wamid,
                    "provider": message.provider,
                },
            )
        )

    decisions = (
        TransitionDecision.objects.filter(conversation_id=conversation_id)
        .select_related("actor")
        .order_by("-created_at", "-pk")[:limit]
    )
    logged_ids = set()
    for decision in decisions:
        if decision.state_log_id:
            logged_ids.add(decision.state_log_id)
        target = decision.proposed_state or decision.transition
        source, target_label = state_label(decision.source_state), state_label(target)
        if decision.outcome == TransitionDecision.Outcome.APPLIED:
            title = f"{source} → {state_label(decision.proposed_state)} ({transition_label(decision.transition)})"
        elif decision.outcome == TransitionDecision.Outcome.UNCHANGED:
            title = str(_("continuou em “%(state)s”") % {"state": source})
        else:
            title = str(
                _("recusada: %(source)s → %(target)s: %(why)s")
                % {"source": source, "target": target_label, "why": decision.get_refusal_display()}
            )
        entries.append(
            TimelineEntry(
                at=decision.created_at,
                kind="decision",
                title=title,
                who=_actor_label(decision.actor_kind, decision.actor),
                why=decision.reason,
                text=decision.detail,
                extra={
                    "outcome": decision.outcome,
                    "message_id": decision.message_id,
                    "correlation_id": decision.correlation_id,
                },
            )
        )

    # Transitions made outside the services (e.g. a data fix in a shell) still belong on the timeline.
    content_type = ContentType.objects.get_for_model(Conversation)
    bare_logs = (
        StateLog.objects.filter(content_type=content_type, object_id=conversation_id)
        .exclude(pk__in=logged_ids)
        .select_related("by")
        .order_by("-timestamp")[:limit]
    )
    for state_log in bare_logs:
        entries.append(
            TimelineEntry(
                at=state_log.timestamp,
                kind="transition",
                title=(
                    f"{state_label(state_log.source_state)} → {state_label(state_log.state)} "
                    f"({transition_label(state_log.transition)})"
                ),
                who=state_log.by.get_username() if state_log.by else "",
                why=state_log.description or "",
            )
        )

    entries.sort(key=lambda entry: entry.at)
    return entries


@dataclass(frozen=True)
class TransitionKPI:
    """The "FSM transition success" KPI: the share of proposals the state machine honoured."""

    total: int
    applied: int
    unchanged: int
    refused: int

    @property
    def success_rate(self) -> float | None:
        """(applied + unchanged) / all decisions; None when there were none."""
        if not self.total:
            return None
        return (self.applied + self.unchanged) / self.total


def transition_success_kpi(
    *, since: datetime | None = None, until: datetime | None = None, actor_kind: str | None = "bot"
) -> TransitionKPI:
    """Count decisions by outcome over a period (by default the bot's, i.e. the LLM's proposals)."""
    queryset = TransitionDecision.objects.all()
    if actor_kind:
        queryset = queryset.filter(actor_kind=actor_kind)
    if since is not None:
        queryset = queryset.filter(created_at__gte=since)
    if until is not None:
        queryset = queryset.filter(created_at__lt=until)
    counts = queryset.aggregate(
        total=Count("pk"),
        applied=Count("pk", filter=Q(outcome=TransitionDecision.Outcome.APPLIED)),
        unchanged=Count("pk", filter=Q(outcome=TransitionDecision.Outcome.UNCHANGED)),
        refused=Count("pk", filter=Q(outcome=TransitionDecision.Outcome.REFUSED)),
    )
    return TransitionKPI(**counts)


@dataclass(frozen=True)
class RunEvent:
    """One moment of a run, for `run_timeline`."""

    at: datetime
    what: str
    detail: str = ""


def run_timeline(*, run_key: str) -> list[RunEvent]:
    """Everything one run did, in time order: receipt, each LLM call's start and end, decision, reply, send, statuses.

    What on-call reads to see where one customer's reply spent its time (`manage.py run_timeline`).
    """
    from conversations.models import DeliveryStatus
    from llm.models import LLMCall

    events: list[RunEvent] = []
    inbound = list(Message.objects.filter(run_key=run_key, direction=Message.Direction.INBOUND).order_by("pk"))
    for message in inbound:
        events.append(RunEvent(message.created_at, "webhook stored", f"message {message.pk} ({message.type})"))
    for call in LLMCall.objects.filter(run_key=run_key):
        events.append(RunEvent(call.started_at, f"{call.task} started", call.provider))
        events.append(
            RunEvent(call.finished_at, f"{call.task} finished", f"{call.outcome}, {call.latency_ms} ms, {call.model}")
        )
    for decision in TransitionDecision.objects.filter(message__in=inbound):
        detail = f"{decision.source_state} → {decision.proposed_state} ({decision.outcome})"
        events.append(RunEvent(decision.created_at, "state decision", detail))
    for reply in Message.objects.filter(run_key=run_key, direction=Message.Direction.OUTBOUND):
        events.append(RunEvent(reply.created_at, "reply finalized", f"{reply.type} by {reply.provider}"))
        if reply.sent_at:
            events.append(RunEvent(reply.sent_at, "reply sent", f"attempt {reply.send_attempts}"))
        for status in DeliveryStatus.objects.filter(message=reply):
            events.append(RunEvent(status.received_at, f"status {status.status}", ""))
    return sorted(events, key=lambda event: event.at)


def webhook_elements_waiting(*, received_before: datetime | None, limit: int) -> list[int]:
    """Stored webhook elements no step has read yet, oldest first (a lost or refused enqueue, a batch).

    `received_before=None`: every waiting element, however recent (the status batch's read).
    """
    waiting = WebhookElement.objects.filter(processed_at__isnull=True)
    if received_before is not None:
        waiting = waiting.filter(received_at__lt=received_before)
    return list(waiting.order_by("received_at").values_list("pk", flat=True)[:limit])
