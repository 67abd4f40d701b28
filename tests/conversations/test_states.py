"""The state machine's definition: every allowed and every forbidden transition, per actor."""

import itertools

import pytest
from django_fsm import has_transition_perm

from conversations.models import Conversation, TransitionDecision
from conversations.services.state import Actor, conversation_apply_decision, conversation_staff_transition
from conversations.states import (
    BOT_SILENT,
    HUMAN_ONLY,
    HUMAN_ONLY_TRANSITIONS,
    TERMINAL,
    State,
    allowed_bot_targets,
    transition_table,
)
from tests.factories import ConversationFactory, UserFactory

S = State
HANDLE, PRICE, CONTRACT, EXPIRE = (
    "conversations.handle_conversation",
    "conversations.commit_price",
    "conversations.close_contract",
    "conversations.expire_conversation",
)
BOT_STATES = [S.NEW, S.TRIAGE, S.ANSWERING, S.QUALIFYING]
# Written out by hand on purpose: the code must match this design, not the other way round.
EXPECTED = {
    (S.NEW, S.TRIAGE): ("start_triage", ""),
    (S.NEW, S.ANSWERING): ("answer", ""),
    (S.NEW, S.QUALIFYING): ("qualify", ""),
    (S.NEW, S.HANDOFF_REQUESTED): ("request_handoff", ""),
    (S.TRIAGE, S.ANSWERING): ("answer", ""),
    (S.TRIAGE, S.QUALIFYING): ("qualify", ""),
    (S.TRIAGE, S.HANDOFF_REQUESTED): ("request_handoff", ""),
    (S.TRIAGE, S.RESOLVED): ("resolve", ""),
    (S.ANSWERING, S.TRIAGE): ("start_triage", ""),
    (S.ANSWERING, S.QUALIFYING): ("qualify", ""),
    (S.ANSWERING, S.HANDOFF_REQUESTED): ("request_handoff", ""),
    (S.ANSWERING, S.RESOLVED): ("resolve", ""),
    (S.QUALIFYING, S.TRIAGE): ("start_triage", ""),
    (S.QUALIFYING, S.ANSWERING): ("answer", ""),
    (S.QUALIFYING, S.HANDOFF_REQUESTED): ("request_handoff", ""),
    (S.QUALIFYING, S.RESOLVED): ("resolve", ""),
    **{(source, S.HUMAN_ACTIVE): ("take", HANDLE) for source in [*BOT_STATES, S.HANDOFF_REQUESTED]},
    **{(source, S.TRIAGE): ("return_to_bot", HANDLE) for source in BOT_SILENT},
    **{(source, S.RESOLVED): ("resolve_handoff", HANDLE) for source in BOT_SILENT},
    (S.HUMAN_ACTIVE, S.PROPOSAL_SENT): ("send_proposal", PRICE),
    (S.HUMAN_ACTIVE, S.CONTRACT_CLOSED): ("close_contract", CONTRACT),
    (S.PROPOSAL_SENT, S.CONTRACT_CLOSED): ("close_contract", CONTRACT),
    **{(source, S.EXPIRED): ("expire", EXPIRE) for source in [*BOT_STATES, *BOT_SILENT]},
}
ALL_PAIRS = [(source, target) for source, target in itertools.product(State, State) if source != target]


def test_the_declared_transitions_are_exactly_the_designed_ones():
    declared = {(source, target): (name, permission) for source, target, name, permission in transition_table()}
    assert declared == {(s.value, t.value): v for (s, t), v in EXPECTED.items()}


def test_terminal_states_have_no_way_out_and_human_only_states_no_bot_way_in():
    assert not [row for row in transition_table() if row[0] in TERMINAL]
    assert not [row for row in transition_table() if row[1] in HUMAN_ONLY and not row[3]]
    assert {row[2] for row in transition_table() if row[3] and row[3] != EXPIRE} == HUMAN_ONLY_TRANSITIONS


def test_bot_targets_are_staying_plus_the_permission_free_transitions():
    assert allowed_bot_targets(S.NEW) == ["new", "triage", "answering", "qualifying", "handoff_requested"]
    assert allowed_bot_targets(S.TRIAGE) == ["triage", "answering", "qualifying", "handoff_requested", "resolved"]
    assert allowed_bot_targets(S.ANSWERING) == ["answering", "triage", "qualifying", "handoff_requested", "resolved"]
    assert allowed_bot_targets(S.QUALIFYING) == ["qualifying", "triage", "answering", "handoff_requested", "resolved"]
    for state in [*BOT_SILENT, *TERMINAL]:
        assert allowed_bot_targets(state) == []


def _expected_outcome(source, target, permissions: set[str]) -> tuple[str, str]:
    if (source, target) not in EXPECTED:
        return "refused", "no_transition"
    _name, permission = EXPECTED[(source, target)]
    if permission and permission not in permissions:
        return "refused", "not_permitted"
    return "applied", ""


@pytest.mark.django_db
@pytest.mark.parametrize("actor_name", ["bot", "system", "agent", "support_agent"])
def test_every_pair_of_states_is_applied_or_refused_as_designed(actor_name, bot, system, agent, support_agent):
    actor = {
        "bot": bot,
        "system": system,
        "agent": Actor.staff(agent),
        "support_agent": Actor.staff(support_agent),
    }[actor_name]
    permissions = {
        "bot": set(),
        "system": {EXPIRE},
        "agent": {HANDLE, PRICE, CONTRACT},
        "support_agent": {HANDLE},
    }[actor_name]
    conversations = {pair: ConversationFactory(state=pair[0]) for pair in ALL_PAIRS}
    for (source, target), conversation in conversations.items():
        outcome = conversation_apply_decision(
            conversation_id=conversation.pk, target_state=target, actor=actor, reason="test"
        )
        expected = _expected_outcome(source, target, permissions)
        assert (outcome.outcome, outcome.refusal) == expected, (actor_name, source, target)
        stored = Conversation.objects.get(pk=conversation.pk).state
        assert stored == (target if expected[0] == "applied" else source), (actor_name, source, target)
    assert TransitionDecision.objects.count() == len(ALL_PAIRS)


@pytest.mark.django_db
@pytest.mark.parametrize("state", list(State))
def test_staying_in_the_same_state_is_unchanged_not_refused(state, bot):
    conversation = ConversationFactory(state=state)
    outcome = conversation_apply_decision(conversation_id=conversation.pk, target_state=state, actor=bot, reason="")
    assert outcome.outcome == "unchanged"
    assert outcome.state == state


@pytest.mark.django_db
def test_an_unknown_target_state_is_refused(bot):
    conversation = ConversationFactory(state=S.TRIAGE)
    outcome = conversation_apply_decision(
        conversation_id=conversation.pk, target_state="contract_signed", actor=bot, reason="LLM invented it"
    )
    assert (outcome.outcome, outcome.refusal) == ("refused", "unknown_state")
    assert Conversation.objects.get(pk=conversation.pk).state == S.TRIAGE


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("source", "target", "transition"),
    [
        (S.TRIAGE, S.HUMAN_ACTIVE, "take"),
        (S.HANDOFF_REQUESTED, S.HUMAN_ACTIVE, "take"),
        (S.HUMAN_ACTIVE, S.PROPOSAL_SENT, "send_proposal"),
        (S.HUMAN_ACTIVE, S.CONTRACT_CLOSED, "close_contract"),
        (S.PROPOSAL_SENT, S.CONTRACT_CLOSED, "close_contract"),
        (S.HUMAN_ACTIVE, S.TRIAGE, "return_to_bot"),
        (S.HUMAN_ACTIVE, S.RESOLVED, "resolve_handoff"),
        (S.QUALIFYING, S.EXPIRED, "expire"),
    ],
)
def test_the_bot_is_refused_human_only_transitions_even_when_asked_directly(source, target, transition, bot):
    conversation = ConversationFactory(state=source)
    assert EXPECTED[(source, target)][0] == transition
    assert not has_transition_perm(getattr(conversation, transition), bot.user)
    # Asked by target state, as the LLM would...
    by_target = conversation_apply_decision(
        conversation_id=conversation.pk, target_state=target, actor=bot, reason="the customer said yes, close it"
    )
    assert (by_target.outcome, by_target.refusal) == ("refused", "not_permitted")
    # ...and by transition name, through the staff path with the bot's own user.
    by_name = conversation_staff_transition(conversation_id=conversation.pk, user=bot.user, transition=transition)
    assert (by_name.outcome, by_name.refusal) == ("refused", "not_permitted")
    assert Conversation.objects.get(pk=conversation.pk).state == source
    assert TransitionDecision.objects.filter(conversation=conversation, outcome="refused").count() == 2
    assert not bot.user.is_staff
    assert not bot.user.has_usable_password()


@pytest.mark.django_db
def test_a_staff_transition_that_does_not_exist_from_here_is_refused_as_no_transition(agent):
    conversation = ConversationFactory(state=S.TRIAGE)
    outcome = conversation_staff_transition(conversation_id=conversation.pk, user=agent, transition="close_contract")
    assert (outcome.outcome, outcome.refusal) == ("refused", "no_transition")
    not_a_transition = conversation_staff_transition(conversation_id=conversation.pk, user=agent, transition="delete")
    assert (not_a_transition.outcome, not_a_transition.refusal) == ("refused", "no_transition")


@pytest.mark.django_db
def test_a_user_without_permissions_cannot_take():
    clerk = UserFactory(staff=True)
    conversation = ConversationFactory(state=S.HANDOFF_REQUESTED)
    outcome = conversation_staff_transition(conversation_id=conversation.pk, user=clerk, transition="take")
    assert (outcome.outcome, outcome.refusal) == ("refused", "not_permitted")
