"""A Graph outage longer than a few retries: the reply waits and goes out once, it is never dead-lettered."""

import pytest

from conversations.models import DeadLetter, Message
from tests.support import say, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_reply_survives_a_graph_outage_of_many_throttled_and_failed_attempts(
    worker, demo_release, fake_graph, settings
):
    settings.OPENAI_API_KEY = ""  # the offline provider answers: this is about delivery
    settings.SEND_BACKOFF_MAX_S = 0.5  # the real waits are minutes; the schedule's shape is the same
    outage = [{"code": 130429, "status": 429, "retry_after": 0.1}, {"code": 131000, "status": 503}] * 4
    fake_graph.configure(script=outage, inject_into="message")  # the next eight sends are refused

    say("Qual o horário de atendimento?", wa_id="5511900002001")

    sent = fake_graph.wait_for_sent(1, timeout_s=60)
    reply = wait_until(lambda: Message.objects.filter(direction="out", status="sent").first(), timeout=30)
    assert len(sent) == 1
    assert [r["injected"] for r in fake_graph.requests(kind="message")] == [True] * len(outage) + [False]
    assert reply.send_attempts == len(outage) + 1  # more than the five retries a send used to get
    assert DeadLetter.objects.count() == 0
    assert Message.objects.get(direction="in").status == "answered"
