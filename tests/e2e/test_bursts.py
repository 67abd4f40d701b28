"""Bursts get one reply: the quiet window, and a message that supersedes a run whose LLM calls are in flight."""

import pytest
from prometheus_client import REGISTRY

from conversations.models import Message
from llm.models import LLMCall
from pyloto.whatsapp import simulator
from tests.support import E2E_TIMEOUT_S, post_webhook, say, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ANA, BIA, CAIO = "5511987651001", "5511987651002", "5511987651003"


def superseded_runs() -> float:
    return REGISTRY.get_sample_value("pyloto_runs_superseded_total") or 0.0


def inbound_of(wa_id: str):
    return Message.objects.filter(conversation__contact__wa_id=wa_id, direction="in")


def replies_to(fake_graph, wa_id: str) -> list[dict]:
    return [payload for payload in fake_graph.sent_messages() if payload["to"] == wa_id]


def test_a_burst_in_one_webhook_waits_for_the_quiet_window_and_gets_one_reply(
    worker, demo_release, llm_on, fake_graph, settings
):
    settings.BURST_QUIET_MS = 1500
    texts = ("Oi", "tudo bem?", "quanto custa o plano Essencial?")
    post_webhook(
        simulator.webhook_body(
            messages=[simulator.message_element(text=text, wa_id=ANA) for text in texts],
            contacts=[simulator.contact_element(wa_id=ANA)],
        )
    )

    wait_until(lambda: set(inbound_of(ANA).values_list("status", flat=True)) == {"answered"}, timeout=E2E_TIMEOUT_S)
    fake_graph.wait_for_sent(1, timeout_s=E2E_TIMEOUT_S)

    assert len(replies_to(fake_graph, ANA)) == 1
    assert len(set(inbound_of(ANA).values_list("run_key", flat=True))) == 1  # one run answered all three
    assert LLMCall.objects.filter(task="decide_state").count() == 1


def test_a_message_during_the_llm_calls_supersedes_the_run_and_the_burst_gets_one_reply(
    worker, demo_release, llm_on, fake_graph
):
    # Every decision call is held until a second one is in flight: Ana's first run cannot finish
    # before her second message is stored; Bia's message releases it, Caio's releases Ana's rerun.
    llm_on.configure(hold_in_flight=2, hold_schema_names=["StateDecision"], hold_timeout_s=E2E_TIMEOUT_S)
    before = superseded_runs()
    say("Quanto custa", wa_id=ANA)
    wait_until(lambda: inbound_of(ANA).filter(status="processing").exists(), timeout=E2E_TIMEOUT_S)
    say("o plano Essencial?", wa_id=ANA)
    say("Oi", wa_id=BIA)
    wait_until(lambda: superseded_runs() > before, timeout=E2E_TIMEOUT_S)
    say("Oi", wa_id=CAIO)

    fake_graph.wait_for_sent(3, timeout_s=E2E_TIMEOUT_S)
    wait_until(lambda: set(inbound_of(ANA).values_list("status", flat=True)) == {"answered"}, timeout=E2E_TIMEOUT_S)

    assert len(replies_to(fake_graph, ANA)) == 1
    (run_key,) = set(inbound_of(ANA).values_list("run_key", flat=True))
    reply = Message.objects.get(conversation__contact__wa_id=ANA, direction="out")
    assert reply.run_key == run_key  # the rerun answered both messages
    # The superseded run's three calls are accounted, beside the rerun's three.
    assert LLMCall.objects.filter(conversation__contact__wa_id=ANA).count() == 6
    assert len(replies_to(fake_graph, BIA)) == 1 and len(replies_to(fake_graph, CAIO)) == 1
