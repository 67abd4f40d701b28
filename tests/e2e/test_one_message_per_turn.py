"""The invariant Meta's billing makes a rule: one outbound message per bot turn, whatever the turn produced.

Since October 2026 every service reply is billed, so a turn that sent "text, then buttons" would cost
double. Real runs — through the worker, the openai SDK and the Graph fake — of every shape a turn can
take (text, buttons, list, image, a handoff, a reply the guard replaced, a burst, the offline answerer)
must each leave exactly one message at the Graph fake, interactive ones carrying the body text, and the
KPIs must say 1.00 messages per turn.
"""

from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from conversations.kpis import kpis_for_period
from conversations.models import Message
from tests.support import E2E_TIMEOUT_S, TEXT_CHOICE, inbound_settled, say, scripted, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

BUTTONS = {
    "message_type": "BUTTON",
    "buttons": [{"id": "mais", "title": "Quero saber mais"}, {"id": "valores", "title": "Ver valores"}],
    "list_button_label": "",
    "list_rows": [],
    "media": None,
    "reason": "two next steps",
}
LIST = {
    "message_type": "LIST",
    "buttons": [],
    "list_button_label": "Ver serviços",
    "list_rows": [
        {"id": "consultoria", "title": "Consultoria", "description": "Diagnóstico e plano"},
        {"id": "automacao", "title": "Automação", "description": "Atendimento no WhatsApp"},
    ],
    "media": None,
    "reason": "several services",
}
IMAGE = {
    "message_type": "IMAGE",
    "buttons": [],
    "list_button_label": "",
    "list_rows": [],
    "media": {"kind": "image", "url": "https://example.com/not-in-the-context.png", "caption": "Veja"},
    "reason": "a picture",
}


def _answering(marker: str, text: str, choice: dict) -> list[dict]:
    decision = {"target_state": "answering", "reason": marker, "customer_wants_human": False}
    return [
        scripted("StateDecision", decision, match={"schema_name": "StateDecision", "contains": marker}, repeat=True),
        scripted("ReplyDraft", {"text": text}, match={"schema_name": "ReplyDraft", "contains": marker}, repeat=True),
        scripted(
            "MessageTypeChoice", choice, match={"schema_name": "MessageTypeChoice", "contains": marker}, repeat=True
        ),
    ]


def assert_one_message_per_turn(fake_graph, *, customers: int) -> list[dict]:
    """Every run that answered left one stored message and one accepted send; interactive ones carry the body."""
    outbound = Message.objects.filter(direction="out").exclude(run_key="")
    wait_until(lambda: not outbound.filter(status__in=["pending", "sending"]).exists(), timeout=E2E_TIMEOUT_S)
    per_run = Counter(outbound.values_list("run_key", flat=True))
    assert per_run, "no turn answered"
    assert set(per_run.values()) == {1}, per_run
    sent = fake_graph.sent_messages()
    assert len(sent) == outbound.count() == outbound.filter(status="sent").count()
    for payload in sent:
        if payload["type"] == "interactive":
            # The body travels with the buttons or the list, never in a separate text before them.
            assert payload["interactive"]["body"]["text"].strip(), payload
    # Per customer: exactly as many sends as turns answered for them, not one more.
    turns_by_customer = Counter(outbound.values_list("conversation__contact__wa_id", flat=True))
    assert Counter(payload["to"] for payload in sent) == turns_by_customer
    assert len(turns_by_customer) == customers
    now = timezone.now()
    figures = kpis_for_period(since=now - timedelta(hours=1), until=now + timedelta(seconds=1)).whatsapp
    assert figures.turns == len(per_run) and figures.messages_per_turn == 1.0
    return sent


def test_every_kind_of_llm_turn_sends_exactly_one_message(worker, demo_release, llm_on, fake_graph):
    llm_on.script(
        [
            *_answering("BOTOES", "Oferecemos consultoria e automação de atendimento.", BUTTONS),
            *_answering("LISTA", "Estes são os nossos serviços.", LIST),
            # A media link the context does not hold: degraded to text, still one message.
            *_answering("IMAGEM", "Segue a imagem do nosso escritório.", IMAGE),
            scripted(
                "ReplyDraft",
                {"text": "Perfeito, seu contrato está fechado! Parabéns."},
                match={"schema_name": "ReplyDraft", "contains": "fechamos"},
                repeat=True,
            ),
            scripted("MessageTypeChoice", BUTTONS, match={"schema_name": "MessageTypeChoice", "contains": "fechamos"}),
            # Everything else: answer with a plain text.
            scripted(
                "StateDecision",
                {"target_state": "answering", "reason": "r", "customer_wants_human": False},
                repeat=True,
            ),
            scripted("ReplyDraft", {"text": "Olá! Como posso ajudar?"}, repeat=True),
            scripted("MessageTypeChoice", TEXT_CHOICE, repeat=True),
        ]
    )
    say("Quais serviços? BOTOES", wa_id="5511930000001")
    say("Me mostra a LISTA de serviços", wa_id="5511930000002")
    say("Tem foto? IMAGEM", wa_id="5511930000003")
    say("Quero falar com um atendente", wa_id="5511930000004")  # the deterministic handoff rule
    say("Então fechamos?", wa_id="5511930000005")  # the guard replaces the reply and hands over
    for text in ("Oi", "queria saber dos serviços BOTOES", "e os prazos? BOTOES"):  # a burst
        say(text, wa_id="5511930000006")
    wait_until(lambda: inbound_settled(8), timeout=E2E_TIMEOUT_S)

    sent = assert_one_message_per_turn(fake_graph, customers=6)
    kinds = {payload["to"]: payload for payload in sent}
    assert kinds["5511930000001"]["interactive"]["type"] == "button"
    assert kinds["5511930000002"]["interactive"]["type"] == "list"
    assert kinds["5511930000003"]["type"] == "text"
    # The handed-over turns: one message each, whatever the notice or the guard added to it.
    assert Message.objects.filter(direction="out", purpose="handoff_notice").count() == 2


def test_the_offline_answerers_turns_send_exactly_one_message(worker, demo_release, fake_graph, settings):
    settings.OPENAI_API_KEY = ""
    say("Oi", wa_id="5511930000011")  # the greeting with topic buttons
    say("Qual é o horário de atendimento?", wa_id="5511930000012")  # an FAQ answer
    say("Quero falar com uma pessoa", wa_id="5511930000013")  # a handoff
    wait_until(lambda: inbound_settled(3), timeout=E2E_TIMEOUT_S)

    sent = assert_one_message_per_turn(fake_graph, customers=3)
    assert {payload["to"]: payload["type"] for payload in sent}["5511930000011"] == "interactive"
    assert set(Message.objects.filter(direction="out").values_list("provider", flat=True)) == {"offline"}
