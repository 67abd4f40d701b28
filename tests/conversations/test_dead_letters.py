"""Dead letters: recorded with their messages closed, listed and replayed from the admin and the command."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from conversations.models import DeadLetter, Message
from conversations.services.dead_letters import dead_letter_record
from pyloto.pipeline.dispatch import dead_letter_replay
from pyloto.queues import Queue
from tests.factories import ConversationFactory, MessageFactory, UserFactory
from tests.support import queued_task_names

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def failed_send():
    conversation = ConversationFactory()
    inbound = MessageFactory(conversation=conversation, status="answered", run_key="run-1")
    outbound = MessageFactory(
        conversation=conversation,
        direction="out",
        wamid=None,
        status="failed",
        run_key="run-1",
        raw={"kind": "text", "body": "Olá!"},
    )
    dead = dead_letter_record(
        stage=DeadLetter.Stage.SEND,
        conversation_id=conversation.pk,
        message_id=outbound.pk,
        error="undeliverable",
        error_code="131026",
        run_key="run-1",
    )
    return dead, inbound, outbound


def test_recording_a_send_dead_letter_closes_the_runs_inbound_messages(failed_send):
    dead, inbound, _outbound = failed_send
    inbound.refresh_from_db()
    assert inbound.status == "dead_lettered"
    assert inbound.status_reason == "undeliverable"
    assert dead.resolved_at is None


def test_replaying_a_send_puts_the_reply_back_to_pending_and_enqueues_it_once(failed_send):
    dead, inbound, outbound = failed_send
    assert dead_letter_replay(dead_letter_id=dead.pk) == "send_replayed"
    outbound.refresh_from_db()
    inbound.refresh_from_db()
    dead.refresh_from_db()
    assert outbound.status == "pending"
    assert inbound.status == "answered"
    assert dead.replay_count == 1 and dead.resolved_at is not None
    assert queued_task_names(Queue.DELIVERY) == ["pyloto.pipeline.tasks.send_reply"]
    assert dead_letter_replay(dead_letter_id=dead.pk) == "already_resolved"
    assert len(queued_task_names(Queue.DELIVERY)) == 1


def test_replaying_a_run_dead_letter_answers_its_messages_again():
    message = MessageFactory(status="received")
    dead = dead_letter_record(
        stage=DeadLetter.Stage.RUN,
        conversation_id=message.conversation_id,
        message_id=message.pk,
        error="not answered within 900 s",
        error_code="unanswered",
    )
    message.refresh_from_db()
    assert message.status == "dead_lettered"
    assert dead_letter_replay(dead_letter_id=dead.pk) == "run_replayed"
    message.refresh_from_db()
    assert message.status == "received"
    assert queued_task_names(Queue.PIPELINE) == ["pyloto.pipeline.tasks.run_conversation"]


def test_the_command_lists_and_replays(failed_send):
    dead, _inbound, _outbound = failed_send
    out = StringIO()
    call_command("dead_letters", stdout=out)
    assert "131026" in out.getvalue() and "1 dead letter(s)" in out.getvalue()
    call_command("dead_letters", "--replay", str(dead.pk), stdout=out)
    assert f"{dead.pk}: send_replayed" in out.getvalue()
    listing = StringIO()
    call_command("dead_letters", stdout=listing)
    assert "0 dead letter(s)" in listing.getvalue()
    with pytest.raises(CommandError):
        call_command("dead_letters", "--replay", "999999")


def test_the_admin_replay_action_needs_the_permission(client, failed_send):
    dead, _inbound, _outbound = failed_send
    url = reverse("admin:conversations_deadletter_changelist")
    viewer = UserFactory(staff=True, permissions=["conversations.view_deadletter"])
    client.force_login(viewer)
    response = client.get(url)
    assert response.status_code == 200 and "131026" in response.content.decode()
    client.post(url, {"action": "replay", "_selected_action": [dead.pk]})
    dead.refresh_from_db()
    assert dead.resolved_at is None  # no replay permission: the action is not offered

    operator = UserFactory(staff=True, permissions=["conversations.view_deadletter", "conversations.replay_deadletter"])
    client.force_login(operator)
    response = client.post(url, {"action": "replay", "_selected_action": [dead.pk]}, follow=True)
    assert "1 reprocessada(s)" in response.content.decode()
    dead.refresh_from_db()
    assert dead.resolved_at is not None
    assert Message.objects.get(direction="out").status == "pending"
