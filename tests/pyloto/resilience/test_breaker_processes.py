"""The whole breaker cycle, closed → open → half-open → closed, across two worker processes sharing Redis."""

import json
import os
import subprocess
import sys

import pytest
from django.conf import settings

from tests.pyloto.resilience._breaker_child import MARK

FAIL_MAX = 3
# Longer than any stall of a loaded machine between two commands (the trial permit lasts one reset
# timeout in Redis's real time): the processes move their clocks past it instead of waiting.
RESET_TIMEOUT_S = 30.0


class BreakerProcess:
    """One worker process with its own `llm_breaker()`, driven over stdin/stdout."""

    def __init__(self) -> None:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "REDIS_URL": settings.REDIS_URL,
            "LLM_BREAKER_FAIL_MAX": str(FAIL_MAX),
            "LLM_BREAKER_RESET_TIMEOUT_S": str(RESET_TIMEOUT_S),
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.pyloto.resilience._breaker_child"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            cwd=settings.BASE_DIR,
        )
        assert json.loads(self._line()) == {"ready": True}

    def _line(self) -> str:
        assert self.process.stdout is not None
        while True:
            line = self.process.stdout.readline()
            assert line, f"breaker process exited with {self.process.wait(timeout=10)}"
            if line.startswith(MARK):
                return line.removeprefix(MARK)

    def ask(self, command: str):
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return json.loads(self._line())["result"]

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait(timeout=10)


def _wait_reset_timeout(*processes: BreakerProcess) -> None:
    for process in processes:
        process.ask(f"wait {RESET_TIMEOUT_S + 1}")


@pytest.fixture
def two_workers():
    a, b = BreakerProcess(), BreakerProcess()
    yield a, b
    a.close()
    b.close()


def test_closed_open_half_open_closed_across_two_processes(two_workers):
    a, b = two_workers
    assert a.ask("state") == b.ask("state") == "closed"

    # Closed → open: failures recorded by one process open the circuit for the other.
    for _ in range(FAIL_MAX):
        a.ask("fail")
    assert b.ask("state") == "open"
    assert b.ask("rejects") is True
    assert b.ask("allows") is False

    # Open → half-open, after the reset timeout. The pipeline's read-only check takes no permit…
    _wait_reset_timeout(a, b)
    assert b.ask("rejects") is False
    assert a.ask("rejects") is False
    assert a.ask("state") == "open", "deciding which path to take must not move the circuit"
    # …so the first LLM call, in either process, is the one trial; the other process waits for it.
    assert b.ask("allows") is True
    assert a.ask("state") == "half-open"
    assert a.ask("allows") is False

    # Half-open → closed: the trial's success closes the circuit for both.
    b.ask("succeed")
    assert a.ask("state") == "closed"
    assert a.ask("allows") is True
    assert b.ask("allows") is True


def test_a_failed_trial_reopens_the_circuit_for_another_reset_timeout(two_workers):
    a, b = two_workers
    for _ in range(FAIL_MAX):
        b.ask("fail")
    _wait_reset_timeout(a, b)
    assert a.ask("allows") is True

    a.ask("fail")

    assert b.ask("state") == "open"
    assert b.ask("rejects") is True
    _wait_reset_timeout(a, b)
    assert b.ask("allows") is True
