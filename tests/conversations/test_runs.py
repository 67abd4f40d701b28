"""The run lease: claim, burst detection, release, expiry and reclaim."""

from datetime import timedelta

import pytest
from django.utils import timezone

from conversations.models import Conversation, Message
from conversations.services.runs import run_begin, run_end, run_has_new_inbound, run_reclaim_expired, run_renew
from tests.factories import ConversationFactory, MessageFactory

pytestmark = pytest.mark.django_db


def _status(*messages: Message) -> list[str]:
    return [Message.objects.get(pk=m.pk).status for m in messages]


def test_a_run_claims_the_conversation_and_takes_the_waiting_messages_oldest_first():
    conversation = ConversationFactory()
    now = timezone.now()
    second = MessageFactory(conversation=conversation)
    first = MessageFactory(conversation=conversation)
    Message.objects.filter(pk=first.pk).update(created_at=now - timedelta(seconds=5))
    Message.objects.filter(pk=second.pk).update(created_at=now - timedelta(seconds=2))
    answered = MessageFactory(conversation=conversation, status=Message.Status.ANSWERED)
    MessageFactory(conversation=conversation, outbound=True)

    lease = run_begin(conversation_id=conversation.pk, lease_seconds=60)

    assert lease is not None and lease.conversation_id == conversation.pk
    assert lease.message_ids == (first.pk, second.pk)
    assert _status(first, second, answered) == ["processing", "processing", "answered"]
    conversation.refresh_from_db()
    assert conversation.run_token == lease.token
    assert conversation.run_lease_expires_at == lease.expires_at
    assert timedelta(seconds=59) < lease.expires_at - lease.started_at <= timedelta(seconds=60)


def test_the_lease_length_defaults_to_the_setting(settings):
    settings.RUN_LEASE_SECONDS = 7
    lease = run_begin(conversation_id=ConversationFactory().pk)
    assert lease.expires_at - lease.started_at == timedelta(seconds=7)


def test_a_second_run_is_refused_while_the_first_holds_the_lease():
    conversation = ConversationFactory()
    assert run_begin(conversation_id=conversation.pk) is not None
    assert run_begin(conversation_id=conversation.pk) is None


def test_messages_arriving_during_a_run_wait_for_the_next_run_which_answers_them_together():
    conversation = ConversationFactory()
    first = MessageFactory(conversation=conversation, text="oi")
    lease = run_begin(conversation_id=conversation.pk)
    assert not run_has_new_inbound(conversation_id=conversation.pk, since_message_id=max(lease.message_ids))

    burst = [MessageFactory(conversation=conversation, text=t) for t in ("queria saber", "o preço", "do plano")]
    assert run_has_new_inbound(conversation_id=conversation.pk, since_message_id=max(lease.message_ids))
    assert run_has_new_inbound(conversation_id=conversation.pk)
    assert _status(*burst) == ["received"] * 3

    Message.objects.filter(pk=first.pk).update(status=Message.Status.ANSWERED)
    assert run_end(lease=lease)
    following = run_begin(conversation_id=conversation.pk)
    assert following.message_ids == tuple(m.pk for m in burst)
    assert not run_has_new_inbound(conversation_id=conversation.pk)


def test_run_end_releases_only_with_the_matching_token():
    conversation = ConversationFactory()
    lease = run_begin(conversation_id=conversation.pk)
    assert not run_end(lease="not-the-token", conversation_id=conversation.pk)
    assert Conversation.objects.get(pk=conversation.pk).run_token == lease.token
    assert run_end(lease=lease.token, conversation_id=conversation.pk)
    assert Conversation.objects.get(pk=conversation.pk).run_token is None
    assert not run_end(lease=lease)  # already released
    with pytest.raises(ValueError, match="conversation_id"):
        run_end(lease=lease.token)


def test_an_expired_lease_is_reclaimed_by_the_next_run_with_the_crashed_runs_messages():
    conversation = ConversationFactory()
    stranded = MessageFactory(conversation=conversation)
    crashed = run_begin(conversation_id=conversation.pk, lease_seconds=60)
    Conversation.objects.filter(pk=conversation.pk).update(run_lease_expires_at=timezone.now() - timedelta(seconds=1))
    newer = MessageFactory(conversation=conversation)

    lease = run_begin(conversation_id=conversation.pk)

    assert lease is not None and lease.token != crashed.token
    assert lease.message_ids == (stranded.pk, newer.pk)
    # The crashed worker, if it comes back, can neither renew nor release the new run's lease.
    assert run_renew(lease=crashed) is None
    assert not run_end(lease=crashed)
    assert Conversation.objects.get(pk=conversation.pk).run_token == lease.token


def test_an_expired_lease_whose_run_is_alive_is_renewed_not_taken_over():
    conversation = ConversationFactory()
    waiting = MessageFactory(conversation=conversation)
    live = run_begin(conversation_id=conversation.pk, lease_seconds=60)
    Conversation.objects.filter(pk=conversation.pk).update(run_lease_expires_at=timezone.now() - timedelta(seconds=1))
    asked = []

    def alive(token: str) -> bool:
        asked.append(token)
        return True

    assert run_begin(conversation_id=conversation.pk, holder_is_alive=alive) is None

    assert asked == [live.token]
    conversation.refresh_from_db()
    assert conversation.run_token == live.token
    assert conversation.run_lease_expires_at > timezone.now()
    assert _status(waiting) == ["processing"]
    # A live lease is not even asked about.
    assert run_begin(conversation_id=conversation.pk, holder_is_alive=alive) is None
    assert asked == [live.token]


def test_run_renew_extends_a_live_lease():
    conversation = ConversationFactory()
    lease = run_begin(conversation_id=conversation.pk, lease_seconds=5)
    renewed = run_renew(lease=lease, lease_seconds=300)
    assert renewed is not None and renewed.expires_at > lease.expires_at
    assert Conversation.objects.get(pk=conversation.pk).run_lease_expires_at == renewed.expires_at


def test_the_sweeper_reclaims_expired_leases_and_puts_their_messages_back():
    crashed_conversation, live_conversation = ConversationFactory(), ConversationFactory()
    stranded = MessageFactory(conversation=crashed_conversation)
    in_flight = MessageFactory(conversation=live_conversation)
    run_begin(conversation_id=crashed_conversation.pk, lease_seconds=1)
    live = run_begin(conversation_id=live_conversation.pk, lease_seconds=300)

    reclaimed = run_reclaim_expired(now=timezone.now() + timedelta(seconds=5))

    assert reclaimed == [crashed_conversation.pk]
    assert Conversation.objects.get(pk=crashed_conversation.pk).run_token is None
    assert _status(stranded, in_flight) == ["received", "processing"]
    assert Conversation.objects.get(pk=live_conversation.pk).run_token == live.token
    assert run_reclaim_expired() == []
