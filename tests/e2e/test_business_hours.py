"""On a Brazilian holiday at 10:00, a request for a person is answered with the next opening time (frozen clock)."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine

from conversations.models import Conversation
from tests.support import E2E_TIMEOUT_S, say, sent_texts, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CHRISTMAS_10AM = datetime(2026, 12, 25, 10, 0, tzinfo=ZoneInfo("America/Sao_Paulo"))


def test_on_christmas_at_10_a_request_for_a_person_gets_the_next_opening(worker, demo_release, fake_graph):
    # The demo's hours: Monday to Friday 8h–18h, Brasília time, closed on national holidays. Christmas 2026
    # is a Friday, so the next person answers on Monday the 28th at 8:00. The clock ticks from 10:00.
    with time_machine.travel(CHRISTMAS_10AM, tick=True):
        say("Quero falar com um atendente, por favor", wa_id="5511987650099")
        fake_graph.wait_for_sent(1, timeout_s=E2E_TIMEOUT_S)
        texts = sent_texts(fake_graph)
        assert len(texts) == 1
        assert "Natal" in texts[0] and "segunda-feira, às 08:00" in texts[0]
        conversation = Conversation.objects.get(contact__wa_id="5511987650099")
        assert conversation.state == "handoff_requested"
        # The customer writes again while waiting: read, but no "typing…" — the bot will stay silent.
        say("Alguém aí?", wa_id="5511987650099")
        wait_until(lambda: len(fake_graph.read_receipts()) >= 2, timeout=E2E_TIMEOUT_S)
        first, second = fake_graph.read_receipts()[:2]
        assert first.get("typing_indicator") == {"type": "text"}
        assert "typing_indicator" not in second
        assert len(sent_texts(fake_graph)) == 1


def test_on_a_working_morning_the_handoff_says_nothing_about_hours(worker, demo_release, fake_graph):
    with time_machine.travel(datetime(2026, 12, 22, 10, 0, tzinfo=ZoneInfo("America/Sao_Paulo")), tick=True):
        say("Quero falar com um atendente, por favor", wa_id="5511987650098")
        fake_graph.wait_for_sent(1, timeout_s=E2E_TIMEOUT_S)
        assert "responde a partir de" not in sent_texts(fake_graph)[0]
