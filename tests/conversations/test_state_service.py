"""The state service: audit trail, refusals, rollback, handoff and the FSM success KPI."""

from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone
from django_fsm_log.models import StateLog

from conversations.models import Conversation, TransitionDecision
from conversations.selectors import conversation_is_bot_silent, conversation_state_history, transition_success_kpi
from conversations.services.state import (
    Actor,
    conversation_apply_decision,
    conversation_close_contract,
    conversation_request_handoff,
    conversation_resolve,
    conversation_return_to_bot,
    conversation_send_proposal,
    conversation_take,
)
from conversations.states import State
from tests.factories import ConversationFactory, MessageFactory

pytestmark = pytest.mark.django_db


def test_an_applied_decision_records_who_from_to_why_message_and_correlation_id(bot):
    conversation = ConversationFactory(state=State.TRIAGE)
    message = MessageFactory(conversation=conversation, text="Quanto custa o plano anual?")

    outcome = conversation_apply_decision(
        conversation_id=conversation.pk,
        target_state=State.QUALIFYING,
        actor=bot,
        reason="asked for a price: collect details first",
        message_id=message.pk,
        correlation_id="cid-123",
    )

    assert outcome.applied and outcome.state == State.QUALIFYING and outcome.transition == "qualify"
    decision = TransitionDecision.objects.get(pk=outcome.decision_id)
    assert decision.actor_kind == "bot" and decision.actor.username == "pyloto-bot"
    assert (decision.source_state, decision.proposed_state, decision.outcome) == ("triage", "qualifying", "applied")
    assert decision.reason == "asked for a price: collect details first"
    assert decision.message == message and decision.correlation_id == "cid-123"
    state_log = decision.state_log
    assert state_log is not None
    assert (state_log.source_state, state_log.state, state_log.transition) == ("triage", "qualifying", "qualify")
    assert state_log.by == bot.user
    assert state_log.description == "asked for a price: collect details first"
    assert list(StateLog.objects.for_(conversation)) == [state_log]


def test_a_refused_decision_keeps_the_state_records_the_refusal_and_writes_no_state_log(bot):
    conversation = ConversationFactory(state=State.ANSWERING)
    outcome = conversation_apply_decision(
        conversation_id=conversation.pk,
        target_state=State.CONTRACT_CLOSED,
        actor=bot,
        reason="customer agreed",
        correlation_id="cid-9",
    )
    assert outcome.refused and outcome.refusal == "no_transition" and outcome.state == State.ANSWERING
    decision = TransitionDecision.objects.get(conversation=conversation)
    assert (decision.outcome, decision.refusal, decision.proposed_state) == (
        "refused",
        "no_transition",
        "contract_closed",
    )
    assert "no transition" in decision.detail and decision.correlation_id == "cid-9"
    assert decision.state_log is None
    assert not StateLog.objects.for_(conversation).exists()
    assert Conversation.objects.get(pk=conversation.pk).state == State.ANSWERING


def test_a_failed_save_rolls_back_the_transition_its_state_log_and_its_decision(bot):
    conversation = ConversationFactory(state=State.TRIAGE)
    with (
        mock.patch.object(Conversation, "save", side_effect=RuntimeError("disk full")),
        pytest.raises(RuntimeError),
    ):
        conversation_apply_decision(
            conversation_id=conversation.pk, target_state=State.ANSWERING, actor=bot, reason="r"
        )
    assert Conversation.objects.get(pk=conversation.pk).state == State.TRIAGE
    assert not StateLog.objects.for_(conversation).exists()
    assert not TransitionDecision.objects.filter(conversation=conversation).exists()


def test_a_decision_made_on_a_state_that_has_since_changed_is_refused_as_stale(bot):
    conversation = ConversationFactory(state=State.ANSWERING)
    outcome = conversation_apply_decision(
        conversation_id=conversation.pk,
        target_state=State.QUALIFYING,
        actor=bot,
        reason="r",
        expected_state=State.TRIAGE,
    )
    assert (outcome.outcome, outcome.refusal) == ("refused", "stale")
    assert Conversation.objects.get(pk=conversation.pk).state == State.ANSWERING


def test_terminal_transitions_close_the_session(bot):
    conversation = ConversationFactory(state=State.ANSWERING)
    conversation_apply_decision(conversation_id=conversation.pk, target_state=State.RESOLVED, actor=bot, reason="bye")
    conversation.refresh_from_db()
    assert conversation.state == State.RESOLVED and conversation.closed_at is not None


def test_handoff_silences_the_bot_and_queues_the_conversation(bot):
    conversation = ConversationFactory(state=State.ANSWERING)
    assert not conversation_is_bot_silent(conversation)

    outcome = conversation_request_handoff(
        conversation_id=conversation.pk, actor=bot, reason="customer asked for a person", correlation_id="c1"
    )

    conversation.refresh_from_db()
    assert outcome.applied and conversation.state == State.HANDOFF_REQUESTED
    assert conversation.handoff_requested_at is not None
    assert conversation_is_bot_silent(conversation)
    # Asking again while waiting changes nothing and is not counted as a failure.
    again = conversation_request_handoff(conversation_id=conversation.pk, actor=bot, reason="again")
    assert again.outcome == "unchanged"
    # While a person owns it, the bot's proposals are refused: it cannot talk its way back.
    back = conversation_apply_decision(
        conversation_id=conversation.pk, target_state=State.ANSWERING, actor=bot, reason="I can answer that"
    )
    assert back.refused and Conversation.objects.get(pk=conversation.pk).state == State.HANDOFF_REQUESTED


def test_staff_take_resolve_and_return_record_the_named_user_and_note(agent):
    waiting = ConversationFactory(state=State.HANDOFF_REQUESTED, handoff_requested_at=timezone.now())
    taken = conversation_take(conversation_id=waiting.pk, user=agent)
    waiting.refresh_from_db()
    assert taken.applied and waiting.state == State.HUMAN_ACTIVE and waiting.assigned_to == agent
    assert conversation_is_bot_silent(waiting)

    returned = conversation_return_to_bot(conversation_id=waiting.pk, user=agent, note="answered the billing question")
    waiting.refresh_from_db()
    assert returned.applied and waiting.state == State.TRIAGE
    assert waiting.assigned_to is None and waiting.handoff_requested_at is None
    decision = TransitionDecision.objects.get(pk=returned.decision_id)
    assert (decision.actor_kind, decision.actor, decision.reason) == ("staff", agent, "answered the billing question")
    assert decision.state_log.by == agent

    other = ConversationFactory(state=State.HANDOFF_REQUESTED)
    resolved = conversation_resolve(conversation_id=other.pk, user=agent, note="spam")
    other.refresh_from_db()
    assert resolved.applied and other.state == State.RESOLVED and other.closed_at is not None


def test_only_a_person_commits_to_a_price_and_closes_the_contract(agent, support_agent):
    conversation = ConversationFactory(state=State.HUMAN_ACTIVE)
    refused = conversation_send_proposal(conversation_id=conversation.pk, user=support_agent, note="R$ 900")
    assert (refused.outcome, refused.refusal) == ("refused", "not_permitted")

    assert conversation_send_proposal(conversation_id=conversation.pk, user=agent, note="R$ 900/mês").applied
    closed = conversation_close_contract(conversation_id=conversation.pk, user=agent, note="signed")
    conversation.refresh_from_db()
    assert closed.applied and conversation.state == State.CONTRACT_CLOSED and conversation.closed_at is not None


def test_the_state_history_for_the_prompt_lists_applied_transitions_oldest_first(bot, agent):
    conversation = ConversationFactory(state=State.NEW)
    conversation_apply_decision(conversation_id=conversation.pk, target_state=State.TRIAGE, actor=bot, reason="hi")
    conversation_apply_decision(conversation_id=conversation.pk, target_state=State.HUMAN_ACTIVE, actor=bot, reason="x")
    conversation_take(conversation_id=conversation.pk, user=agent)
    history = conversation_state_history(conversation_id=conversation.pk)
    assert [(row["from"], row["to"], row["by"]) for row in history] == [
        ("new", "triage", "bot"),
        ("triage", "human_active", "staff"),
    ]


def test_the_fsm_success_kpi_is_applied_plus_unchanged_over_all_bot_decisions(bot, agent):
    conversation = ConversationFactory(state=State.NEW)
    decide = conversation_apply_decision
    decide(conversation_id=conversation.pk, target_state=State.TRIAGE, actor=bot, reason="")  # applied
    decide(conversation_id=conversation.pk, target_state=State.TRIAGE, actor=bot, reason="")  # unchanged
    decide(conversation_id=conversation.pk, target_state=State.ANSWERING, actor=bot, reason="")  # applied
    decide(conversation_id=conversation.pk, target_state=State.CONTRACT_CLOSED, actor=bot, reason="")  # refused
    conversation_take(conversation_id=conversation.pk, user=agent)  # staff: not in the bot's KPI

    kpi = transition_success_kpi()
    assert (kpi.total, kpi.applied, kpi.unchanged, kpi.refused) == (4, 2, 1, 1)
    assert kpi.success_rate == pytest.approx(0.75)
    assert transition_success_kpi(actor_kind="staff").total == 1
    assert transition_success_kpi(since=timezone.now() + timedelta(minutes=1)).success_rate is None


def test_a_staff_actor_needs_an_authenticated_user():
    from django.contrib.auth.models import AnonymousUser

    with pytest.raises(ValueError, match="authenticated"):
        Actor.staff(AnonymousUser())
