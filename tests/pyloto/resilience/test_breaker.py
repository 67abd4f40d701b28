"""The LLM circuit breaker: state shared through Redis by breakers of separate worker processes."""

from datetime import UTC, datetime

import pytest
import redis
import time_machine
from django.conf import settings
from prometheus_client import REGISTRY
from structlog.testing import capture_logs

from pyloto.errors import PermanentError, TransientError
from pyloto.resilience.breaker import (
    breaker_allows_call,
    breaker_record_failure,
    breaker_record_success,
    breaker_state,
    build_breaker,
    llm_breaker,
)

FAIL_MAX = 3
# Long enough that no stall of a loaded machine can reach it; the tests move the clock instead of waiting.
RESET_TIMEOUT_S = 30.0


def _worker_breaker(name="llm-test"):
    # A client of its own per breaker, as each worker process would have.
    return build_breaker(
        name=name,
        redis_client=redis.Redis.from_url(settings.REDIS_URL),
        fail_max=FAIL_MAX,
        reset_timeout_s=RESET_TIMEOUT_S,
    )


@pytest.fixture
def workers():
    return _worker_breaker(), _worker_breaker()


def _open(breaker):
    for _ in range(FAIL_MAX):
        breaker_record_failure(breaker, TransientError("timeout", code="timeout"))


@pytest.fixture
def clock():
    """The breaker reads `datetime.now`: travel past its reset timeout rather than sleep through it."""
    with time_machine.travel(datetime.now(UTC), tick=True) as traveller:
        yield traveller


def _wait_reset_timeout(clock):
    clock.shift(RESET_TIMEOUT_S + 1)


def test_failures_recorded_by_one_worker_open_the_circuit_for_the_other(workers):
    a, b = workers
    for _ in range(FAIL_MAX - 1):
        breaker_record_failure(a, TransientError("5xx", code=503))
    assert breaker_allows_call(b) is True
    assert breaker_state(b) == "closed"

    breaker_record_failure(a, TransientError("5xx", code=503))

    assert breaker_state(b) == "open"
    assert breaker_allows_call(b) is False
    assert breaker_allows_call(a) is False


def test_failures_from_both_workers_add_up(workers):
    a, b = workers
    breaker_record_failure(a, TransientError("timeout"))
    breaker_record_failure(b, TransientError("timeout"))
    breaker_record_failure(a, TransientError("timeout"))

    assert breaker_state(a) == breaker_state(b) == "open"


def test_after_the_reset_timeout_one_trial_is_allowed_and_its_success_closes_the_circuit(workers, clock):
    a, b = workers
    _open(a)
    _wait_reset_timeout(clock)

    assert breaker_allows_call(b) is True
    assert breaker_state(a) == "half-open"
    # One trial across all workers: the others keep using the fallback until it reports.
    assert breaker_allows_call(a) is False

    breaker_record_success(b)

    assert breaker_state(a) == "closed"
    assert breaker_allows_call(a) is True
    assert breaker_allows_call(b) is True


def test_a_failure_in_half_open_reopens_the_circuit(workers, clock):
    a, b = workers
    _open(a)
    _wait_reset_timeout(clock)
    assert breaker_allows_call(a) is True

    breaker_record_failure(a, TransientError("timeout"))

    assert breaker_state(b) == "open"
    assert breaker_allows_call(b) is False
    # A new reset timeout runs from the reopening, with a new trial.
    _wait_reset_timeout(clock)
    assert breaker_allows_call(b) is True


def test_permanent_errors_never_open_the_circuit(workers):
    a, b = workers
    for _ in range(FAIL_MAX * 3):
        breaker_record_failure(a, PermanentError("bad request", code=400))
        breaker_record_failure(a, ValueError("output failed validation"))

    assert breaker_state(b) == "closed"
    assert breaker_allows_call(b) is True


def test_only_consecutive_transient_failures_count(workers):
    a, b = workers
    for _ in range(FAIL_MAX - 1):
        breaker_record_failure(a, TransientError("timeout"))
    # The provider answered (even if to refuse the request): the run of failures is over.
    breaker_record_failure(b, PermanentError("bad request", code=400))
    breaker_record_failure(a, TransientError("timeout"))

    assert breaker_state(b) == "closed"


def test_outcomes_of_calls_started_before_the_opening_are_ignored(workers):
    a, b = workers
    _open(a)

    breaker_record_success(b)

    assert breaker_state(a) == "open"
    assert breaker_allows_call(a) is False


def test_recording_a_failure_keeps_the_callers_traceback(workers):
    a, _ = workers
    try:
        raise TransientError("timeout")
    except TransientError as caught:
        exc = caught
    traceback = exc.__traceback__

    breaker_record_failure(a, exc)

    assert exc.__traceback__ is traceback


def test_transitions_are_logged_and_set_the_state_gauge(clock):
    breaker = _worker_breaker(name="llm-test-gauge")
    with capture_logs() as logs:
        _open(breaker)

    changes = [entry for entry in logs if entry["event"] == "circuit_breaker_state_changed"]
    assert changes == [
        {
            "event": "circuit_breaker_state_changed",
            "log_level": "warning",
            "name": "llm-test-gauge",
            "old": "closed",
            "new": "open",
        }
    ]
    assert REGISTRY.get_sample_value("pyloto_circuit_breaker_state", {"name": "llm-test-gauge"}) == 2

    _wait_reset_timeout(clock)
    breaker_allows_call(breaker)
    assert REGISTRY.get_sample_value("pyloto_circuit_breaker_state", {"name": "llm-test-gauge"}) == 1
    breaker_record_success(breaker)
    assert REGISTRY.get_sample_value("pyloto_circuit_breaker_state", {"name": "llm-test-gauge"}) == 0


@pytest.fixture
def fresh_llm_breaker(settings):
    settings.LLM_BREAKER_FAIL_MAX = 2
    settings.LLM_BREAKER_RESET_TIMEOUT_S = 30.0
    llm_breaker.cache_clear()
    yield
    llm_breaker.cache_clear()


@pytest.mark.usefixtures("fresh_llm_breaker")
def test_llm_breaker_is_one_per_process_configured_from_settings_and_shared_under_llm():
    breaker = llm_breaker()
    assert llm_breaker() is breaker
    assert breaker.name == "llm"
    assert breaker.fail_max == 2

    breaker_record_failure(breaker, TransientError("timeout"))
    breaker_record_failure(breaker, TransientError("timeout"))

    # Another process's breaker named "llm" sees the same circuit.
    other = build_breaker(
        name="llm", redis_client=redis.Redis.from_url(settings.REDIS_URL), fail_max=2, reset_timeout_s=30.0
    )
    assert breaker_state(other) == "open"
    assert breaker_allows_call(other) is False


@pytest.mark.usefixtures("fresh_llm_breaker")
def test_embedded_mode_keeps_the_circuit_in_memory(settings):
    settings.EMBEDDED = True
    breaker = llm_breaker()
    breaker_record_failure(breaker, TransientError("timeout"))
    breaker_record_failure(breaker, TransientError("timeout"))

    assert breaker_state(breaker) == "open"
    assert redis.Redis.from_url(settings.REDIS_URL).keys("llm:*") == []
