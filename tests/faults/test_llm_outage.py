"""An LLM outage: the breaker opens, the offline provider answers, and LLM calls resume within one reset timeout."""

import time

import pytest

from conversations.models import Message
from pyloto.resilience.breaker import breaker_state, llm_breaker
from tests.support import say, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

RESET_TIMEOUT_S = 2.0


@pytest.fixture
def quick_breaker(settings):
    settings.LLM_BREAKER_FAIL_MAX = 2
    settings.LLM_BREAKER_RESET_TIMEOUT_S = RESET_TIMEOUT_S
    llm_breaker.cache_clear()
    yield llm_breaker()
    llm_breaker.cache_clear()


def _ask(text: str, *, wa_id: str) -> Message:
    """A new customer writes; the reply they got once it was sent."""
    say(text, wa_id=wa_id)
    return wait_until(
        lambda: Message.objects.filter(direction="out", conversation__contact__wa_id=wa_id, status="sent").first()
    )


def test_after_an_llm_outage_the_first_run_past_the_reset_timeout_is_answered_by_the_llm(
    worker, demo_release, llm_on, fake_graph, quick_breaker
):
    # The outage: every LLM request answers HTTP 500.
    llm_on.configure(error_rate=1.0, latency_ms=0)
    assert _ask("Qual o horário de atendimento?", wa_id="5511900001001").provider == "offline"
    assert breaker_state(quick_breaker) == "open"
    during = len(llm_on.requests())

    # The provider is back. Once one reset timeout has passed, the next run makes the trial call.
    llm_on.configure(error_rate=0.0)
    time.sleep(RESET_TIMEOUT_S + 0.2)
    reply = _ask("Vocês atendem empresas?", wa_id="5511900001003")

    assert reply.provider == "openai"
    assert breaker_state(quick_breaker) == "closed"
    assert len(llm_on.requests()) == during + 3  # the trial (decide_state), then the chord's two calls
