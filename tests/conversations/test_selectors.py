"""Selectors: the deterministic handoff phrase rule and the conversation timeline."""

from datetime import timedelta

import pytest
from django.utils import timezone

from conversations.models import Message
from conversations.selectors import conversation_timeline, conversations_waiting_for_human, wants_human
from conversations.services.state import conversation_apply_decision, conversation_request_handoff
from conversations.states import State
from tests.factories import ConversationFactory, MessageFactory


@pytest.mark.parametrize(
    "text",
    [
        "Quero falar com atendente",
        "quero falar com um ATENDENTE por favor",
        "Posso falar com uma pessoa?",
        "falar com alguém",
        "me passa pra um humano",
        "atendimento humano!!",
        "Preciso de um operador",
        "quero uma pessoa de verdade",
        "I want a human",
        "Can I talk to a person?",
        "speak with someone please",
        "get me an agent",
        "live agent",
        "customer service representative",
    ],
)
def test_requests_for_a_person_are_recognised(text):
    assert wants_human(text)


@pytest.mark.parametrize(
    "text",
    [
        "Quanto custa o plano anual?",
        "Vocês têm serviço de recursos humanos?",
        "Sou agente de viagens",
        "Do you offer human resources consulting?",
        "Obrigado, era só isso",
        "",
    ],
)
def test_ordinary_messages_do_not_trigger_a_handoff(text):
    assert not wants_human(text)


@pytest.mark.django_db
def test_the_timeline_interleaves_messages_and_decisions_by_time_with_who_and_why(bot):
    conversation = ConversationFactory(state=State.TRIAGE)
    question = MessageFactory(conversation=conversation, text="quanto custa?")
    Message.objects.filter(pk=question.pk).update(created_at=timezone.now() - timedelta(seconds=10))
    conversation_apply_decision(
        conversation_id=conversation.pk,
        target_state=State.QUALIFYING,
        actor=bot,
        reason="price question",
        message_id=question.pk,
        correlation_id="cid-7",
    )
    conversation_apply_decision(
        conversation_id=conversation.pk, target_state=State.CONTRACT_CLOSED, actor=bot, reason="close it"
    )

    timeline = conversation_timeline(conversation_id=conversation.pk)

    assert [entry.kind for entry in timeline] == ["message", "decision", "decision"]
    assert timeline[0].text == "quanto custa?"
    # Read as a person reads it: state and transition labels, in Portuguese.
    assert timeline[1].title == "Triagem → Qualificando um interessado (Qualificar)"
    assert (timeline[1].who, timeline[1].why) == ("Assistente", "price question")
    assert timeline[1].extra["message_id"] == question.pk and timeline[1].extra["correlation_id"] == "cid-7"
    assert timeline[2].title.startswith("recusada: Qualificando um interessado → Contrato fechado por uma pessoa")
    assert [entry.at for entry in timeline] == sorted(entry.at for entry in timeline)


@pytest.mark.django_db
def test_the_staff_queue_lists_waiting_conversations_oldest_first(bot):
    first, second = ConversationFactory(state=State.ANSWERING), ConversationFactory(state=State.TRIAGE)
    ConversationFactory(state=State.ANSWERING)
    conversation_request_handoff(conversation_id=first.pk, actor=bot, reason="asked")
    conversation_request_handoff(conversation_id=second.pk, actor=bot, reason="asked")
    assert list(conversations_waiting_for_human()) == [first, second]
    assert list(conversations_waiting_for_human(older_than=timedelta(hours=1))) == []
