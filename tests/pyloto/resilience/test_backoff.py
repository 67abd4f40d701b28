"""Retry delays: jittered, capped, honouring Retry-After; sends keep trying for minutes, not seconds."""

import random

from django.conf import settings

from pyloto.pipeline.tasks import send_reply
from pyloto.resilience.backoff import backoff_seconds


def test_delays_grow_with_jitter_up_to_the_cap():
    random.seed(7)
    delays = [backoff_seconds(n, cap_s=60) for n in range(10)]
    assert 0.5 <= delays[0] <= 1.0
    assert 4.0 <= delays[3] <= 8.0
    assert all(30.0 <= delay <= 60.0 for delay in delays[6:])
    assert len({round(delay, 6) for delay in delays}) == len(delays), "jitter spreads callers that failed together"


def test_retry_after_is_honoured_within_the_cap():
    assert backoff_seconds(0, cap_s=60, retry_after_s=12) == 12
    assert backoff_seconds(0, cap_s=60, retry_after_s=3600) == 60
    assert 4.0 <= backoff_seconds(3, cap_s=60, retry_after_s=0.1) <= 8.0


def test_a_send_retries_transient_graph_errors_for_minutes_and_stops_before_the_dead_letter_budget():
    assert send_reply.max_retries == settings.SEND_MAX_RETRIES
    shortest = sum(min(2.0**n, settings.SEND_BACKOFF_MAX_S) * 0.5 for n in range(settings.SEND_MAX_RETRIES))
    longest = sum(min(2.0**n, settings.SEND_BACKOFF_MAX_S) for n in range(settings.SEND_MAX_RETRIES))
    assert shortest >= 180, "a Graph outage of three minutes must not exhaust a send's retries"
    assert longest < settings.SWEEP_DEAD_LETTER_AFTER_S
