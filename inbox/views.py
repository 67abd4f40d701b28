"""The inbox pages: thin views over the conversations services and the inbox selectors.

Pages are server-rendered; htmx (a vendored static file) polls the queue and the chat so new messages
appear without a reload. Every action is a plain POST that works without JavaScript too.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.contrib.auth.models import User
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from conversations.models import Conversation
from conversations.selectors import conversation_in_service_window
from conversations.services.follow_ups import FollowUpRefused, follow_up_is_due, follow_up_plan, follow_up_schedule
from conversations.services.planner import TEMPLATE
from conversations.services.replies import (
    StaffReplyRefused,
    staff_reply_plan,
    staff_reply_refusal,
)
from conversations.services.state import (
    DecisionOutcome,
    conversation_resolve,
    conversation_return_to_bot,
    conversation_take,
    conversation_take_next,
)
from conversations.states import Perm, State
from inbox.selectors import conversation_chat, handoff_summary, inbox_queue
from pyloto.pipeline.dispatch import reply_send_enqueue, staff_reply_send

INBOX_PERMISSION = "inbox.use_inbox"


class AuthenticatedRequest(HttpRequest):
    """What `inbox_view` guarantees: a logged-in user (never AnonymousUser)."""

    user: User


def inbox_view(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Log in first, then hold the inbox permission (403 otherwise)."""
    return login_required(permission_required(INBOX_PERMISSION, raise_exception=True)(view))


def _is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


@require_GET
@inbox_view
def queue(request: AuthenticatedRequest) -> HttpResponse:
    template = "inbox/_queue.html" if _is_htmx(request) else "inbox/queue.html"
    return render(request, template, {"sections": inbox_queue(user=request.user)})


def _conversation_context(request: AuthenticatedRequest, conversation: Conversation) -> dict[str, Any]:
    refusal = staff_reply_refusal(conversation=conversation, user=request.user)
    can_handle = request.user.has_perm(Perm.HANDLE)
    # Outside the 24 h window a reply may still go out as the approved template mapped to staff replies.
    plan = staff_reply_plan(conversation=conversation) if refusal is None else None
    return {
        "reply_template": plan.template if plan is not None and plan.action == TEMPLATE else None,
        "conversation": conversation,
        "state_label": State(conversation.state).label,
        "entries": conversation_chat(conversation_id=conversation.pk),
        "reply_refusal": refusal,
        "in_window": conversation_in_service_window(conversation),
        "can_handle": can_handle,
        "follow_up_plan": follow_up_plan(conversation=conversation) if can_handle else None,
        "can_take": can_handle and conversation.state == State.HANDOFF_REQUESTED,
        "can_release": can_handle and conversation.state in (State.HANDOFF_REQUESTED, State.HUMAN_ACTIVE),
    }


@require_GET
@inbox_view
def conversation(request: AuthenticatedRequest, conversation_id: int) -> HttpResponse:
    found = get_object_or_404(Conversation.objects.select_related("contact", "assigned_to"), pk=conversation_id)
    context = {**_conversation_context(request, found), "summary": handoff_summary(conversation=found)}
    return render(request, "inbox/conversation.html", context)


@require_GET
@inbox_view
def conversation_live(request: AuthenticatedRequest, conversation_id: int) -> HttpResponse:
    """What the chat page polls: the bubbles, plus the header and reply status swapped out of band."""
    found = get_object_or_404(Conversation.objects.select_related("contact", "assigned_to"), pk=conversation_id)
    return render(request, "inbox/_live.html", _conversation_context(request, found))


def _after_transition(request: AuthenticatedRequest, outcome: DecisionOutcome, done: str) -> None:
    if outcome.refused:
        messages.error(request, _("Not done: %(detail)s") % {"detail": outcome.detail})
    else:
        messages.success(request, done)


def _back(conversation_id: int) -> HttpResponseRedirect:
    return HttpResponseRedirect(reverse("inbox:conversation", args=[conversation_id]))


def _note(request: AuthenticatedRequest) -> str:
    return request.POST.get("note", "").strip()[:2000]


@require_POST
@inbox_view
def take(request: AuthenticatedRequest, conversation_id: int) -> HttpResponse:
    get_object_or_404(Conversation, pk=conversation_id)
    outcome = conversation_take(conversation_id=conversation_id, user=request.user, note=_note(request))
    _after_transition(request, outcome, _("You took this conversation: the bot stays silent until you return it."))
    return _back(conversation_id)


@require_POST
@inbox_view
def take_next(request: AuthenticatedRequest) -> HttpResponse:
    outcome = conversation_take_next(user=request.user)
    if outcome is None:
        messages.info(request, _("Nobody is waiting for a person."))
        return HttpResponseRedirect(reverse("inbox:queue"))
    _after_transition(request, outcome, _("You took the conversation that waited longest."))
    return _back(outcome.conversation_id)


def _release(
    request: AuthenticatedRequest, conversation_id: int, service: Callable[..., DecisionOutcome], done: str
) -> HttpResponse:
    """Resolve or return to the bot: back to the queue when done, to the conversation when refused."""
    get_object_or_404(Conversation, pk=conversation_id)
    outcome = service(conversation_id=conversation_id, user=request.user, note=_note(request))
    _after_transition(request, outcome, done)
    return _back(conversation_id) if outcome.refused else HttpResponseRedirect(reverse("inbox:queue"))


@require_POST
@inbox_view
def resolve(request: AuthenticatedRequest, conversation_id: int) -> HttpResponse:
    return _release(request, conversation_id, conversation_resolve, _("Conversation resolved and closed."))


@require_POST
@inbox_view
def return_to_bot(request: AuthenticatedRequest, conversation_id: int) -> HttpResponse:
    done = _("Returned to the bot: the assistant answers this customer again.")
    return _release(request, conversation_id, conversation_return_to_bot, done)


@require_POST
@inbox_view
def reply(request: AuthenticatedRequest, conversation_id: int) -> HttpResponse:
    text = request.POST.get("text", "")
    try:
        staff_reply_send(conversation_id=conversation_id, user=request.user, text=text)
    except Conversation.DoesNotExist:
        return HttpResponse(status=404)
    except StaffReplyRefused as refusal:
        # The page again, with what they wrote still in the box: a refused reply loses nothing.
        found = Conversation.objects.select_related("contact", "assigned_to").get(pk=conversation_id)
        messages.error(request, _("Not sent: %(reason)s") % {"reason": refusal})
        context = {
            **_conversation_context(request, found),
            "summary": handoff_summary(conversation=found),
            "draft": text,
        }
        return render(request, "inbox/conversation.html", context, status=400)
    messages.success(request, _("Sent to the customer."))
    return _back(conversation_id)


def _send_at(value: str) -> datetime | None:
    """The form's `datetime-local` (the server's time zone); None when empty. ValueError when unreadable."""
    if not value.strip():
        return None
    moment = datetime.fromisoformat(value.strip())
    return timezone.make_aware(moment) if timezone.is_naive(moment) else moment


@require_POST
@inbox_view
def follow_up(request: AuthenticatedRequest, conversation_id: int) -> HttpResponse:
    """Schedule a follow-up (now, or at the chosen time); a refused one comes back with the text kept."""
    found = get_object_or_404(Conversation.objects.select_related("contact", "assigned_to"), pk=conversation_id)
    text, when = request.POST.get("text", ""), request.POST.get("send_at", "")
    try:
        message = follow_up_schedule(
            conversation_id=conversation_id, user=request.user, text=text, send_at=_send_at(when)
        )
    except (FollowUpRefused, ValueError) as refusal:
        reason = refusal if isinstance(refusal, FollowUpRefused) else _("the date and time are not valid.")
        messages.error(request, _("Not scheduled: %(reason)s") % {"reason": reason})
        context = {
            **_conversation_context(request, found),
            "summary": handoff_summary(conversation=found),
            "follow_up_draft": text,
            "follow_up_at": when,
        }
        return render(request, "inbox/conversation.html", context, status=400)
    if follow_up_is_due(message):
        transaction.on_commit(lambda: reply_send_enqueue(message_id=message.pk))
        messages.success(request, _("Follow-up sent to the customer."))
    else:
        at = timezone.localtime(message.next_attempt_at).strftime("%d/%m/%Y %H:%M")
        messages.success(request, _("Follow-up scheduled for %(at)s.") % {"at": at})
    return _back(conversation_id)
