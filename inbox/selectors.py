"""Reads for the inbox pages: the queue's sections, a conversation as a chat, and the handoff summary."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db.models import OuterRef, QuerySet, Subquery
from django.utils import timezone
from django.utils.translation import gettext as _

from conversations.models import Conversation, Message, TransitionDecision
from conversations.models import HandoffSummary as HandoffSummaryModel
from conversations.selectors import conversations_waiting_for_human, state_label
from conversations.states import BOT_SILENT, State
from institutional.hours import BusinessHoursStatus, business_hours_status, business_waits

# How many conversations the "mine" and "recent" sections list.
SECTION_LIMIT = 30
RECENT_WINDOW = timedelta(hours=24)
# The chat shows the newest messages of a long conversation.
CHAT_LIMIT = 300
# What the deterministic handoff summary quotes.
SUMMARY_CUSTOMER_MESSAGES = 3
SUMMARY_BOT_MESSAGES = 2
SUMMARY_QUOTE_CHARS = 280


def _with_last_message(queryset: QuerySet[Conversation]) -> QuerySet[Conversation]:
    """Annotate each conversation with its newest message's text, direction, type and time (one subquery each)."""
    newest = Message.objects.filter(conversation=OuterRef("pk")).order_by("-created_at", "-pk")
    return queryset.annotate(
        last_message_text=Subquery(newest.values("text")[:1]),
        last_message_direction=Subquery(newest.values("direction")[:1]),
        last_message_provider=Subquery(newest.values("provider")[:1]),
        last_message_at=Subquery(newest.values("created_at")[:1]),
    )


@dataclass(frozen=True)
class QueueSections:
    """The queue page: who waits for a person (oldest first), what I took, what moved recently."""

    waiting: list[Conversation]
    mine: list[Conversation]
    recent: list[Conversation]
    # Is the team in? Out of hours the waiting customers were told the next opening; staff see it too.
    hours: BusinessHoursStatus | None = None


def inbox_queue(*, user: Any, now: datetime | None = None) -> QueueSections:
    now = now or timezone.now()
    waiting = list(_with_last_message(conversations_waiting_for_human()))
    mine = list(
        _with_last_message(
            Conversation.objects.filter(assigned_to=user, state__in=BOT_SILENT, closed_at__isnull=True)
            .select_related("contact")
            .order_by("-last_activity_at", "-pk")
        )[:SECTION_LIMIT]
    )
    shown = {conversation.pk for conversation in [*waiting, *mine]}
    recent = list(
        _with_last_message(
            Conversation.objects.filter(last_activity_at__gte=now - RECENT_WINDOW)
            .exclude(pk__in=shown)
            .select_related("contact", "assigned_to")
            .order_by("-last_activity_at", "-pk")
        )[:SECTION_LIMIT]
    )
    # Each waiting row carries `business_wait`: its wait counted in opening hours only (the SLA's clock).
    starts = [conversation.handoff_requested_at or conversation.started_at for conversation in waiting]
    for conversation, wait in zip(waiting, business_waits(starts, until=now), strict=True):
        conversation.business_wait = wait  # type: ignore[attr-defined]
    return QueueSections(waiting=waiting, mine=mine, recent=recent, hours=business_hours_status(at=now))


@dataclass(frozen=True)
class ChatMessage:
    """One bubble: who wrote it (customer, bot or staff), what it says, and how it was delivered."""

    id: int
    author: str  # "customer" | "bot" | "staff"
    at: datetime
    text: str
    kind_label: str  # "" for plain text, else how to read it ("Tapped a button", "List", …)
    options: list[str] = field(default_factory=list)  # the buttons or list rows a bot message offered
    status: str = ""
    status_label: str = ""
    staff_name: str = ""
    media_link: str = ""


@dataclass(frozen=True)
class ChatNotice:
    """A line between bubbles: a state change, with who made it and why."""

    id: int
    at: datetime
    text: str
    why: str = ""


def _inbound_kind(message: Message) -> str:
    raw = message.raw if isinstance(message.raw, dict) else {}
    if message.type == "interactive":
        body = raw.get("interactive")
        if isinstance(body, dict) and (body.get("type") == "list_reply" or "list_reply" in body):
            return _("Chose from the list")
        return _("Tapped a button")
    if message.type == "button":
        return _("Tapped a template button")
    if message.type == "audio":
        return _("Voice note")
    if message.type in {"image", "video", "document", "location", "reaction", "sticker", "contacts"}:
        return {
            "image": _("Image"),
            "video": _("Video"),
            "document": _("Document"),
            "location": _("Location"),
            "reaction": _("Reaction"),
            "sticker": _("Sticker"),
            "contacts": _("Contact card"),
        }[message.type]
    return ""


def _outbound_parts(message: Message) -> tuple[str, list[str], str]:
    """(kind label, offered options, media link) for a message we sent, read from its stored payload."""
    raw = message.raw if isinstance(message.raw, dict) else {}
    kind = raw.get("kind", message.type)
    if kind == "button":
        return _("Buttons"), [str(b.get("title", "")) for b in raw.get("buttons", []) if isinstance(b, dict)], ""
    if kind == "list":
        rows = [
            str(row.get("title", ""))
            for section in raw.get("sections", [])
            if isinstance(section, dict)
            for row in section.get("rows", [])
            if isinstance(row, dict)
        ]
        label = _("List (%(button)s)") % {"button": raw.get("button_label", "")}
        return label, rows, ""
    if kind in {"image", "video"}:
        return (_("Image") if kind == "image" else _("Video")), [], str(raw.get("link", ""))
    return "", [], ""


def _chat_message(message: Message) -> ChatMessage:
    if message.direction == Message.Direction.INBOUND:
        kind_label = _inbound_kind(message)
        if message.transcript:
            kind_label = _("Voice note, transcribed")
        return ChatMessage(
            id=message.pk,
            author="customer",
            at=message.created_at,
            # A voice note reads as its transcript (the customer's words), not as an empty bubble.
            text=message.transcript or message.text,
            kind_label=kind_label,
        )
    kind_label, options, media_link = _outbound_parts(message)
    return ChatMessage(
        id=message.pk,
        author="staff" if message.provider == "staff" else "bot",
        at=message.created_at,
        text=message.text,
        kind_label=kind_label,
        options=options,
        status=message.status,
        status_label=str(message.get_status_display()),
        media_link=media_link,
    )


def _notice(decision: TransitionDecision) -> ChatNotice:
    source = state_label(decision.source_state)
    target = state_label(decision.proposed_state)
    if decision.actor_kind == TransitionDecision.ActorKind.STAFF and decision.actor is not None:
        who = decision.actor.get_full_name() or decision.actor.get_username()
    elif decision.actor_kind == TransitionDecision.ActorKind.BOT:
        who = _("the assistant")
    else:
        who = _("the system")
    return ChatNotice(
        id=decision.pk,
        at=decision.created_at,
        text=_("%(who)s moved the conversation from “%(source)s” to “%(target)s”")
        % {"who": who, "source": source, "target": target},
        why=decision.reason,
    )


def conversation_chat(*, conversation_id: int, limit: int = CHAT_LIMIT) -> list[ChatMessage | ChatNotice]:
    """The conversation's messages and applied state changes, oldest first, as the chat shows them."""
    messages = list(Message.objects.filter(conversation_id=conversation_id).order_by("-created_at", "-pk")[:limit])
    since = messages[-1].created_at if messages else None
    decisions = TransitionDecision.objects.filter(
        conversation_id=conversation_id, outcome=TransitionDecision.Outcome.APPLIED
    ).select_related("actor")
    if since is not None and len(messages) == limit:
        decisions = decisions.filter(created_at__gte=since)
    entries: list[ChatMessage | ChatNotice] = [_chat_message(message) for message in messages]
    entries.extend(_notice(decision) for decision in decisions.order_by("created_at", "pk"))
    # A notice sorts after the message that caused it when both carry the same instant.
    entries.sort(key=lambda entry: (entry.at, isinstance(entry, ChatNotice), entry.id))
    return entries


@dataclass(frozen=True)
class HandoffSummary:
    """What a person needs before answering: what the customer wants, what the bot said, why it handed over."""

    customer_wants: list[str]
    bot_said: list[str]
    why: str
    requested_at: datetime | None
    # "llm" (written at handoff time) or "timeline" (built here from the messages).
    source: str = "timeline"


def _quote(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= SUMMARY_QUOTE_CHARS else text[: SUMMARY_QUOTE_CHARS - 1].rstrip() + "…"


def handoff_summary(*, conversation: Conversation) -> HandoffSummary | None:
    """The summary of the latest handoff: the LLM's, written at handoff time, or else built from the timeline.

    None when the conversation was never handed over.
    """
    handoff = (
        TransitionDecision.objects.filter(
            conversation=conversation,
            outcome=TransitionDecision.Outcome.APPLIED,
            proposed_state=State.HANDOFF_REQUESTED,
        )
        .order_by("-created_at", "-pk")
        .first()
    )
    if handoff is None:
        return None
    written = HandoffSummaryModel.objects.filter(decision=handoff).first()
    if written is not None:
        return HandoffSummary(
            customer_wants=[written.customer_wants],
            bot_said=[written.bot_said],
            why=written.why,
            requested_at=handoff.created_at,
            source="llm",
        )
    # Up to the next state change (a person taking it): the bot's handoff reply, written in the same
    # transaction just after the decision, and what the customer added while waiting both belong here.
    next_change = (
        TransitionDecision.objects.filter(
            conversation=conversation, outcome=TransitionDecision.Outcome.APPLIED, created_at__gt=handoff.created_at
        )
        .order_by("created_at", "pk")
        .values_list("created_at", flat=True)
        .first()
    )
    before = Message.objects.filter(conversation=conversation)
    if next_change is not None:
        before = before.filter(created_at__lt=next_change)
    customer = before.filter(direction=Message.Direction.INBOUND).exclude(text="").order_by("-created_at", "-pk")
    bot = (
        before.filter(direction=Message.Direction.OUTBOUND)
        .exclude(provider="staff")
        .exclude(text="")
        .order_by("-created_at", "-pk")
    )
    return HandoffSummary(
        customer_wants=[
            _quote(text) for text in reversed(customer.values_list("text", flat=True)[:SUMMARY_CUSTOMER_MESSAGES])
        ],
        bot_said=[_quote(text) for text in reversed(bot.values_list("text", flat=True)[:SUMMARY_BOT_MESSAGES])],
        why=handoff.reason or _("No reason recorded."),
        requested_at=handoff.created_at,
    )
