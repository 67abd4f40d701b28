"""Opt-out end to end: PARAR is confirmed once, then silence; VOLTAR brings the bot back; all audited."""

import pytest

from conversations.models import ContactAuditEntry, Message
from tests.support import E2E_TIMEOUT_S, inbound_settled, say, sent_texts, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_parar_silences_the_bot_and_voltar_brings_it_back(worker, demo_release, fake_graph, settings):
    settings.OPENAI_API_KEY = ""
    customer = "5511900000777"
    say("PARAR", wa_id=customer)
    fake_graph.wait_for_sent(1, timeout_s=E2E_TIMEOUT_S)
    assert "não vai mais receber" in sent_texts(fake_graph)[0]
    say("Oi, tem alguém aí?", wa_id=customer)
    say("Parar", wa_id=customer)
    wait_until(lambda: inbound_settled(3))
    assert Message.objects.filter(direction="in", status="dropped", status_reason="contact opted out").count() == 2
    say("VOLTAR", wa_id=customer)
    fake_graph.wait_for_sent(2, timeout_s=E2E_TIMEOUT_S)
    assert "de volta" in sent_texts(fake_graph)[1]
    say("Quais serviços vocês oferecem?", wa_id=customer)
    fake_graph.wait_for_sent(3, timeout_s=E2E_TIMEOUT_S)
    wait_until(lambda: inbound_settled(5))
    assert len(fake_graph.sent_messages()) == 3
    assert list(ContactAuditEntry.objects.order_by("pk").values_list("kind", flat=True)) == ["opted_out", "opted_in"]
    assert set(Message.objects.filter(direction="out").values_list("provider", flat=True)) >= {"optout", "system"}
