"""Concurrency with real database sessions: decisions and run claims racing on one conversation."""

import itertools
import threading
from collections.abc import Callable

import pytest
from django.db import connection
from django_fsm_log.models import StateLog

from conversations.models import Conversation, TransitionDecision
from conversations.services.runs import run_begin
from conversations.services.state import Actor, conversation_apply_decision, conversation_take
from conversations.states import State
from tests.factories import ConversationFactory, MessageFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _race(*calls: Callable[[], object]) -> list[object]:
    """Run the calls at the same moment, each in its own thread and database connection."""
    barrier = threading.Barrier(len(calls))
    results: list[object] = [None] * len(calls)
    errors: list[BaseException] = []

    def worker(index: int, call: Callable[[], object]) -> None:
        try:
            barrier.wait(timeout=10)
            results[index] = call()
        except BaseException as exc:  # re-raised in the test's thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    return results


def test_two_concurrent_decisions_on_the_same_state_never_both_apply():
    conversation = ConversationFactory(state=State.TRIAGE)
    bot = Actor.bot()

    def decide(target: str):
        return lambda: conversation_apply_decision(
            conversation_id=conversation.pk, target_state=target, actor=bot, reason=target, expected_state="triage"
        )

    outcomes = _race(decide(State.ANSWERING), decide(State.QUALIFYING))

    applied = [o for o in outcomes if o.applied]
    refused = [o for o in outcomes if o.refused]
    assert len(applied) == 1 and len(refused) == 1
    assert refused[0].refusal == "stale"
    assert Conversation.objects.get(pk=conversation.pk).state == applied[0].state
    assert StateLog.objects.for_(conversation).count() == 1
    assert TransitionDecision.objects.filter(conversation=conversation).count() == 2


def test_concurrent_decisions_are_serialised_so_the_audit_chain_stays_consistent():
    conversation = ConversationFactory(state=State.TRIAGE)
    bot = Actor.bot()
    staff = UserFactory(permissions=["conversations.handle_conversation"])

    outcomes = _race(
        lambda: conversation_apply_decision(
            conversation_id=conversation.pk, target_state=State.ANSWERING, actor=bot, reason="faq"
        ),
        lambda: conversation_take(conversation_id=conversation.pk, user=staff),
    )

    logs = list(StateLog.objects.for_(conversation).order_by("pk"))
    # Whatever the order, each transition started where the previous one ended (no lost update).
    assert logs[0].source_state == "triage"
    for previous, following in itertools.pairwise(logs):
        assert following.source_state == previous.state
    assert Conversation.objects.get(pk=conversation.pk).state == logs[-1].state == State.HUMAN_ACTIVE
    decided, taken = outcomes
    assert taken.applied
    assert len(logs) == (2 if decided.applied else 1)


def test_only_one_of_many_concurrent_runs_gets_the_lease():
    conversation = ConversationFactory()
    messages = [MessageFactory(conversation=conversation) for _ in range(3)]

    leases = _race(*[lambda: run_begin(conversation_id=conversation.pk) for _ in range(5)])

    winners = [lease for lease in leases if lease is not None]
    assert len(winners) == 1
    assert winners[0].message_ids == tuple(m.pk for m in messages)
    assert Conversation.objects.get(pk=conversation.pk).run_token == winners[0].token
