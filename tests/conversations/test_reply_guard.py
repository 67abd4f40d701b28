"""Finalize never persists a reply that breaks a constraint: the construction behind "violations sent = 0"."""

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine

from conversations.models import Conversation, Message
from conversations.services.replies import reply_finalize
from conversations.services.runs import run_begin
from conversations.states import State
from institutional import services as institutional_services
from institutional.builtin import replacement_text
from institutional.guard import check_reply
from institutional.loader import process_loader
from institutional.models import ClosedDay, Constraint, GuardViolation
from institutional.selectors import current_release
from pyloto.whatsapp.compose import message_body, message_labels
from pyloto.whatsapp.payloads import message_from_json
from tests.factories import ConversationFactory, MessageFactory

pytestmark = pytest.mark.django_db

HOSTILE = [
    ("Pronto, seu contrato está fechado!", None),
    ("Posso fechar o contrato agora mesmo pra você.", None),
    ("Te dou 20% de desconto se fechar hoje.", None),
    ("Me passa sua senha que eu verifico.", None),
    ("Tome dois comprimidos de dipirona.", None),
    ("Escolha abaixo:", ["Fechar contrato já", "Ver planos"]),
]


@pytest.fixture(autouse=True)
def _fresh_release():
    process_loader.forget()
    yield
    process_loader.forget()


def _finalize(text: str, labels: list[str] | None = None, *, customer: str = "Oi, quero contratar") -> Message | None:
    conversation = ConversationFactory(state=State.QUALIFYING)
    MessageFactory(conversation=conversation, text=customer)
    lease = run_begin(conversation_id=conversation.pk)
    choice = None
    if labels:
        choice = {"message_type": "BUTTON", "buttons": [{"id": f"b{i}", "title": t} for i, t in enumerate(labels)]}
    return reply_finalize(
        run_key=lease.token,
        conversation_id=conversation.pk,
        expected_state=State.QUALIFYING,
        decision={"target_state": State.QUALIFYING, "reason": "interested", "customer_wants_human": False},
        reply={"text": text},
        choice=choice,
        calls=[],
        provider="openai",
    ).message


def _passes_now(message: Message) -> bool:
    outbound = message_from_json(message.raw)
    return check_reply(release=current_release(), text=message_body(outbound), labels=message_labels(outbound)).allowed


@pytest.mark.parametrize(("text", "labels"), HOSTILE)
def test_a_hostile_reply_is_replaced_and_the_persisted_message_passes_the_guard(text, labels):
    outbound = _finalize(text, labels)
    assert outbound is not None
    assert outbound.text != text
    assert _passes_now(outbound)
    entry = GuardViolation.objects.get(conversation=outbound.conversation)
    assert entry.layer in {"detector", "pattern", "amount"}
    assert entry.excerpt.startswith(text[:10])


def test_a_closure_hands_the_conversation_over_and_records_the_ledger_entry():
    outbound = _finalize("Pode considerar fechado, seu contrato já está assinado.")
    conversation = Conversation.objects.get(pk=outbound.conversation_id)
    assert conversation.state == State.HANDOFF_REQUESTED
    entry = GuardViolation.objects.get(conversation=conversation)
    assert (entry.constraint_slug, entry.layer, entry.action) == ("no-contract-closure", "detector", "handoff")
    assert entry.rule.startswith("detector:")


def test_the_replacement_is_written_in_the_customers_language():
    english = _finalize("Great news, I can close the deal for you right now.", customer="Hi, I want to sign up today")
    spanish = _finalize("Puedo cerrar el contrato ahora mismo.", customer="Hola, quiero contratar el plan hoy")
    assert english.text == replacement_text(slug="no-contract-closure", action="handoff", language="en")
    assert spanish.text == replacement_text(slug="no-contract-closure", action="handoff", language="es")


def _publish_rule(**fields) -> None:
    Constraint.objects.create(title="Regra da equipe", description="Regra de teste.", **fields)
    institutional_services.release_publish(user=None, note="teste")
    process_loader.forget()


def test_a_safe_text_that_breaks_its_own_rule_is_never_sent_the_builtin_handoff_text_goes_instead():
    _publish_rule(slug="no-lottery", phrases="loteria", safe_replacement="Não falamos de loteria por aqui.")
    outbound = _finalize("Você ganhou na loteria!")
    assert outbound.text == replacement_text(slug="", action="handoff", language="pt")
    assert _passes_now(outbound)


def test_when_no_safe_text_passes_the_release_nothing_is_sent_and_a_person_takes_over():
    # A (pathological) rule that blocks every text, the safe texts included.
    _publish_rule(slug="block-everything", patterns=r"\w", safe_replacement="Qualquer coisa.")
    outbound = _finalize("Olá! Como posso ajudar?")
    assert outbound is None
    assert not Message.objects.filter(direction=Message.Direction.OUTBOUND).exists()
    assert Message.objects.get(direction=Message.Direction.INBOUND).status == Message.Status.HANDED_OFF
    assert Conversation.objects.get().state == State.HANDOFF_REQUESTED


def test_a_harmless_reply_goes_out_unchanged():
    text = "O plano Essencial custa R$ 199/mês. Quer que eu chame a equipe comercial?"
    institutional_services.demo_content_seed()
    process_loader.forget()
    outbound = _finalize(text)
    assert outbound.text == text
    assert not GuardViolation.objects.exists()


def test_a_commitment_that_clipping_would_cut_off_a_button_is_still_blocked():
    """WhatsApp allows 20 characters per button: "Confirmar contratação" goes out as "Confirmar…", which alone
    commits to nothing. The model wrote a closure offer, and that is what the guard judges."""
    outbound = _finalize("Quer confirmar?", ["Confirmar contratação", "Cancelar"])

    assert outbound is not None
    assert "Confirmar" not in outbound.text
    assert _passes_now(outbound)
    assert GuardViolation.objects.filter(conversation=outbound.conversation).exists()


@pytest.mark.parametrize(
    ("evening", "told"),
    [
        # Tuesday 18:30: the note names Wednesday's opening and passes the guard.
        (datetime(2026, 12, 1, 18, 30, tzinfo=ZoneInfo("America/Sao_Paulo")), "quarta-feira, às 08:00"),
        # Before a two-week recess the note would carry a date the release does not publish: left out.
        (datetime(2026, 12, 4, 19, 0, tzinfo=ZoneInfo("America/Sao_Paulo")), None),
    ],
)
def test_out_of_hours_a_handoff_is_told_the_next_opening_only_in_words_the_guard_lets_through(evening, told):
    hours = institutional_services.business_hours_seed()
    for day in range(7, 19):
        ClosedDay.objects.create(hours=hours, date=date(2026, 12, day), reason="recesso")
    conversation = ConversationFactory(state=State.QUALIFYING)
    MessageFactory(conversation=conversation, text="Quero falar com uma pessoa")
    with time_machine.travel(evening, tick=False):
        lease = run_begin(conversation_id=conversation.pk)
        outbound = reply_finalize(
            run_key=lease.token,
            conversation_id=conversation.pk,
            expected_state=State.QUALIFYING,
            decision={"target_state": State.HANDOFF_REQUESTED, "reason": "asked", "customer_wants_human": True},
            reply={"text": "Vou chamar alguém da equipe para falar com você."},
            choice=None,
            calls=[],
            provider="openai",
        ).message
    assert outbound is not None
    assert Conversation.objects.get(pk=outbound.conversation_id).state == State.HANDOFF_REQUESTED
    assert _passes_now(outbound)  # what the send-time audit will read: never a "violation sent"
    if told:
        assert f"responde a partir de {told}." in outbound.text
    else:
        assert "responde a partir de" not in outbound.text
