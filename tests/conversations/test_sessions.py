"""Sessions: lazy and swept expiry after the TTL, the new conversation after it, the service window."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone
from django_fsm_log.models import StateLog

from config.celery_app import app as celery_app
from conversations.models import Conversation, TransitionDecision
from conversations.selectors import conversation_in_service_window
from conversations.services.sessions import conversation_expire_idle, conversation_get_or_start
from conversations.states import State
from conversations.tasks import expire_idle_conversations
from pyloto.queues import Queue, route_by_declared_queue
from tests.factories import ContactFactory, ConversationFactory

pytestmark = pytest.mark.django_db


def test_a_message_within_the_ttl_continues_the_open_conversation():
    now = timezone.now()
    conversation = ConversationFactory(state=State.ANSWERING, last_activity_at=now - timedelta(hours=23))
    assert conversation_get_or_start(contact=conversation.contact, at=now) == conversation
    assert Conversation.objects.filter(contact=conversation.contact).count() == 1


def test_the_first_message_of_a_contact_starts_a_conversation_in_new():
    contact = ContactFactory()
    conversation = conversation_get_or_start(contact=contact, at=timezone.now())
    assert conversation.pk and conversation.state == State.NEW and conversation.closed_at is None


def test_a_contact_inserted_by_the_same_transaction_gets_its_conversation_without_a_lookup(
    django_assert_num_queries,
):
    contact, at = ContactFactory(), timezone.now()

    with django_assert_num_queries(1):  # the INSERT: a contact this transaction created has no conversation
        conversation = conversation_get_or_start(contact=contact, at=at, contact_is_new=True, inbound=True)

    conversation.refresh_from_db()
    assert (conversation.last_inbound_at, conversation.last_activity_at) == (at, at)


def test_coming_back_after_a_day_expires_the_old_conversation_and_starts_a_new_one():
    now = timezone.now()
    old = ConversationFactory(state=State.QUALIFYING, last_activity_at=now - timedelta(hours=25))

    fresh = conversation_get_or_start(contact=old.contact, at=now)

    old.refresh_from_db()
    assert fresh.pk != old.pk and fresh.state == State.NEW and fresh.contact == old.contact
    assert old.state == State.EXPIRED and old.closed_at is not None
    decision = TransitionDecision.objects.get(conversation=old)
    assert (decision.actor_kind, decision.actor.username, decision.outcome) == ("system", "pyloto-system", "applied")
    assert StateLog.objects.for_(old).get().state == State.EXPIRED


def test_a_message_after_a_resolved_conversation_starts_a_new_one():
    resolved = ConversationFactory(state=State.RESOLVED, closed_at=timezone.now())
    fresh = conversation_get_or_start(contact=resolved.contact, at=timezone.now())
    assert fresh.pk != resolved.pk and fresh.state == State.NEW


def test_the_sweeper_expires_only_conversations_idle_past_the_ttl(settings):
    settings.SESSION_TTL_HOURS = 24
    now = timezone.now()
    idle = ConversationFactory(state=State.ANSWERING, last_activity_at=now - timedelta(hours=24, minutes=1))
    idle_waiting = ConversationFactory(state=State.HANDOFF_REQUESTED, last_activity_at=now - timedelta(days=3))
    active = ConversationFactory(state=State.ANSWERING, last_activity_at=now - timedelta(hours=23))
    done = ConversationFactory(state=State.RESOLVED, last_activity_at=now - timedelta(days=5), closed_at=now)

    assert conversation_expire_idle(now=now) == 2

    states = dict(Conversation.objects.values_list("pk", "state"))
    assert states[idle.pk] == states[idle_waiting.pk] == State.EXPIRED
    assert states[active.pk] == State.ANSWERING and states[done.pk] == State.RESOLVED
    # Expiry keeps "idle since" as it was.
    assert Conversation.objects.get(pk=idle.pk).last_activity_at == idle.last_activity_at
    assert conversation_expire_idle(now=now) == 0


def test_the_ttl_comes_from_the_setting(settings):
    settings.SESSION_TTL_HOURS = 1
    now = timezone.now()
    conversation = ConversationFactory(last_activity_at=now - timedelta(minutes=61))
    assert conversation_expire_idle(now=now) == 1
    assert Conversation.objects.get(pk=conversation.pk).state == State.EXPIRED


def test_the_expiry_task_runs_the_sweep():
    conversation = ConversationFactory(last_activity_at=timezone.now() - timedelta(days=2))
    assert expire_idle_conversations.apply().get() == 1
    assert Conversation.objects.get(pk=conversation.pk).state == State.EXPIRED


def test_the_beat_schedule_runs_the_registered_expiry_task_every_five_minutes_on_the_maintenance_queue():
    entry = settings.CELERY_BEAT_SCHEDULE["expire-idle-conversations"]
    assert entry["task"] in celery_app.tasks
    registered = celery_app.tasks[entry["task"]]
    assert registered.name == expire_idle_conversations.name
    assert entry["schedule"] == 300.0
    assert entry["options"]["queue"] == Queue.MAINTENANCE
    assert route_by_declared_queue(entry["task"], (), {}, {}, task=registered) == {"queue": "maintenance"}


def test_the_service_window_is_24_hours_from_the_customers_last_message():
    now = timezone.now()
    recent = ConversationFactory(last_inbound_at=now - timedelta(hours=23, minutes=59))
    stale = ConversationFactory(last_inbound_at=now - timedelta(hours=24, seconds=1))
    never = ConversationFactory(last_inbound_at=None)
    assert conversation_in_service_window(recent, now=now)
    assert not conversation_in_service_window(stale, now=now)
    assert not conversation_in_service_window(never, now=now)
