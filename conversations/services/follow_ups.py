"""Follow-ups: a person writes to a customer to pick a conversation up again, now or at a chosen time.

What creates them is staff, from the inbox ("Retomar contato"): the customer who asked for a person on
Friday night and whose 24-hour window closed before Monday's opening, the quote someone promised to
send, the customer who went quiet. Inside the window a follow-up goes out as written; outside it, as the
approved template mapped to follow-ups — the send planner decides at send time, like every message.

A follow-up is an outbound message (`purpose=follow_up`, written by staff, no bot turn) stored `pending`
with `next_attempt_at` at its time: the caller sends a due one at once; a later one is sent by the
sweeper once that time has passed (the sweeper leaves pending messages alone until their time).
Scheduling refuses early, with the planner's own reason, what could not go out at that time.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import structlog
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from conversations.models import Conversation, Message, SendPurpose
from conversations.services.planner import SendPlan, send_plan
from conversations.services.replies import staff_message_store
from conversations.states import Perm
from pyloto.whatsapp.payloads import TEXT_BODY_MAX, TextMessage

log = structlog.get_logger(__name__)


class FollowUpRefused(Exception):
    """A follow-up that cannot be scheduled; `code` says why (the planner's codes, or the checks below)."""

    def __init__(self, message: Any, *, code: str) -> None:
        super().__init__(message)
        self.code = code


def follow_up_plan(*, conversation: Conversation, text: str | None = None, at: datetime | None = None) -> SendPlan:
    """How a follow-up would go out at `at` (default now): free-form, the mapped template, or not at all."""
    return send_plan(
        conversation=conversation, purpose=SendPurpose.FOLLOW_UP, message=TextMessage(body=text or "…"), now=at
    )


def follow_up_schedule(*, conversation_id: int, user: Any, text: str, send_at: datetime | None = None) -> Message:
    """Store a staff follow-up for `send_at` (default: now). Returns it `pending`; the caller sends a due one.

    Refused (FollowUpRefused) without the permission to handle conversations, for an empty or too long
    text, or when the planner could not send it at that time (the window closed by then and no approved
    template is mapped to follow-ups; the customer opted out).
    """
    now = timezone.now()
    body = text.strip()
    at = max(send_at or now, now)
    with transaction.atomic():
        conversation = (
            Conversation.objects.select_related("contact").select_for_update(of=("self",)).get(pk=conversation_id)
        )
        if not user.has_perm(Perm.HANDLE):
            raise FollowUpRefused(_("You may not handle conversations."), code="not_permitted")
        if not body or len(body) > TEXT_BODY_MAX:
            raise FollowUpRefused(
                _("A reply has 1 to %(max)d characters.") % {"max": TEXT_BODY_MAX}, code="invalid_text"
            )
        plan = follow_up_plan(conversation=conversation, text=body, at=at)
        if not plan.sendable:
            raise FollowUpRefused(plan.reason, code=plan.reason_code)
        follow_up = staff_message_store(
            conversation=conversation, body=body, purpose=SendPurpose.FOLLOW_UP, next_attempt_at=at
        )
    log.info(
        "follow_up_scheduled",
        message_id=follow_up.pk,
        conversation_id=conversation_id,
        user_id=user.pk,
        delay_s=round((at - now).total_seconds()),
        plan=plan.action,
    )
    return follow_up


def follow_up_is_due(message: Message, *, now: datetime | None = None) -> bool:
    """Whether a scheduled follow-up should be sent now (its time has come)."""
    return message.next_attempt_at is None or message.next_attempt_at <= (now or timezone.now())
