"""A real conversation through the webhook and a real worker leaves no raw phone, e-mail or CPF in the logs."""

import json
import logging

import pytest

from pyloto.observability.testing import capture_rendered_logs
from pyloto.whatsapp import simulator
from tests.support import E2E_TIMEOUT_S, inbound_settled, post_webhook, wait_until

WA_ID = "5511987650042"
OTHER_WA_ID = "5511987650043"
RAW_PII = [
    WA_ID,
    OTHER_WA_ID,
    "11987650042",
    "11987650043",
    "maria.souza@example.com",
    "529.982.247-25",
    "52998224725",
    "98765-4321",
    "(11) 98765-4321",
]

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def conversation_stack(worker, demo_release, fake_graph, settings):
    settings.OPENAI_API_KEY = ""  # the offline provider answers: no LLM needed for a full run
    return fake_graph


def test_a_conversation_logs_no_raw_personal_data(conversation_stack):
    text = "Qual o horário de atendimento? Sou a Maria: maria.souza@example.com, CPF 529.982.247-25, (11) 98765-4321"
    # The other customer's reply is refused by the Cloud API with an error quoting their number and
    # e-mail, as Meta's errors do: the refusal is logged (and dead-lettered) on its way.
    refusal = {
        "code": 131026,
        "status": 400,
        "message": f"(#131026) Undeliverable to {OTHER_WA_ID} (maria.souza@example.com)",
    }
    # DEBUG: every library's chatter too (HTTP clients, kombu, Django), not only our own events.
    with capture_rendered_logs(level=logging.DEBUG) as lines:
        first = post_webhook(simulator.text_webhook(text=text, wa_id=WA_ID))
        conversation_stack.wait_for_sent(1, timeout_s=E2E_TIMEOUT_S)
        wait_until(lambda: inbound_settled(1))
        conversation_stack.configure(script=[None, refusal])  # read receipt fine, then the refusal
        second = post_webhook(simulator.text_webhook(text="Qual o horário de atendimento?", wa_id=OTHER_WA_ID))
        wait_until(lambda: any("reply_send_failed" in line for line in lines))

    captured = "\n".join(lines)
    for raw in RAW_PII:
        assert raw not in captured, f"{raw!r} leaked into the logs"
    # The refusal did reach the logs — masked, keeping what on-call needs to correlate.
    assert "*********0043" in captured
    assert "m***@***.com" in captured
    # Each message's run logs, in the web process and in every task, carry its webhook's id.
    records = [json.loads(line) for line in lines]
    tasks = {cid: {r.get("task_name") for r in records if r["correlation_id"] == cid} for cid in (first, second)}
    for cid in (first, second):
        # The run's step answers (offline here) and sends the reply itself: both carry the id.
        assert tasks[cid] >= {None, "pyloto.pipeline.tasks.run_conversation"}
    assert {"request_finished", "webhook_ingested", "reply_sent"} <= {
        r["event"] for r in records if r["correlation_id"] == first
    }
