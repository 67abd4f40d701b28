"""A send whose answer never came back, though Meta got it: its status webhook confirms it, nothing is resent."""

from datetime import timedelta

import pytest
from django.utils import timezone

from conversations.models import Message
from pyloto.pipeline.sweeper import pipeline_sweep
from tests.support import say, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_timed_out_send_that_meta_accepted_is_confirmed_by_its_status_webhook(
    worker, demo_release, fake_graph, settings, live_server
):
    settings.OPENAI_API_KEY = ""  # the offline provider answers: this is about delivery
    settings.WHATSAPP_TIMEOUT_S = 0.5
    # Meta accepts the message but its answer arrives after our timeout; its statuses reach our webhook.
    fake_graph.configure(
        latency_ms=1500,
        inject_into="message",
        emit_statuses=True,
        webhook_url=f"{live_server.url}/webhooks/whatsapp/",
        app_secret=settings.WHATSAPP_APP_SECRET,
    )

    say("Qual o horário de atendimento?", wa_id="5511900003001")

    reply = wait_until(
        lambda: Message.objects.filter(direction="out", status__in=["sent", "delivered"]).first(), timeout=30
    )
    assert reply.wamid.startswith("wamid.")
    assert reply.send_ambiguous_since is None
    fake_graph.wait_for_sent(1, timeout_s=30)  # the fake records a send once its (late) answer is out
    # However long the sweeper waits, a confirmed reply is never sent again.
    pipeline_sweep(now=timezone.now() + timedelta(seconds=settings.SEND_CONFIRM_WINDOW_S * 10))
    assert len(fake_graph.sent_messages()) == 1
    assert Message.objects.get(pk=reply.pk).status in ("sent", "delivered")
    assert fake_graph.sent_messages()[0]["biz_opaque_callback_data"] == reply.idempotency_key
