"""Pacing end to end: a burst of replies through a real delivery worker never exceeds the Graph fake's limits."""

import pytest

from conversations.models import Message
from pyloto.pipeline.dispatch import reply_send_enqueue
from tests.factories import ConversationFactory, MessageFactory
from tests.fakes.graph_server import max_in_window
from tests.support import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

RATE = 40.0
RECIPIENTS = 40
PER_RECIPIENT = 4
JITTER_S = 0.25


def test_a_burst_of_replies_waits_its_turn_and_every_reply_goes_out_once_within_the_limits(
    worker, fake_graph, settings
):
    settings.WHATSAPP_NUMBER_RATE_PER_S = RATE
    settings.WHATSAPP_NUMBER_BURST = 1
    settings.WHATSAPP_PAIR_INTERVAL_S = 1.0
    settings.WHATSAPP_PAIR_BURST = 2
    # The fake holds the same limits, allowing for the scheduling jitter between a slot and its request.
    fake_graph.configure(throughput_per_s=RATE, pair_interval_s=1.0, pair_burst=2, pacing_jitter_s=JITTER_S)
    ids = []
    for _ in range(RECIPIENTS):
        conversation = ConversationFactory()
        for index in range(PER_RECIPIENT):
            ids.append(
                MessageFactory(
                    conversation=conversation,
                    direction="out",
                    wamid=None,
                    status="pending",
                    text=f"resposta {index}",
                    raw={"kind": "text", "body": f"resposta {index}", "preview_url": False},
                ).pk
            )
    for message_id in ids:
        reply_send_enqueue(message_id=message_id)
    total = RECIPIENTS * PER_RECIPIENT
    sent = fake_graph.wait_for_sent(total, timeout_s=180)
    assert len(sent) == total
    records = fake_graph.requests(kind="message")
    accepted = [record for record in records if record.get("response", {}).get("status") == 200]
    assert len(accepted) == total  # every reply went out exactly once
    refused = len(records) - len(accepted)
    stats = fake_graph.stats()
    assert refused == stats.get("throttled_130429", 0) + stats.get("throttled_131056", 0)
    # The pacer hands out slots within the limits; the fake judges arrival times, which a loaded machine can
    # bunch past its jitter allowance. Such a send is refused, backs off and goes out later, once: a handful
    # may, a pacer that ignored the limits would see most of the burst refused.
    assert refused <= total // 10, stats
    accepted_at = [record["received_at"] for record in accepted]
    assert max_in_window(accepted_at, window_s=1.0 - JITTER_S) <= RATE
    by_recipient: dict[str, list[float]] = {}
    for record in accepted:
        by_recipient.setdefault(record["json"]["to"], []).append(record["received_at"])
    assert len(by_recipient) == RECIPIENTS
    # The worker records each send after the fake answered it: wait for the last one.
    assert wait_until(lambda: Message.objects.filter(pk__in=ids, status="sent").count() == total, timeout=60)
