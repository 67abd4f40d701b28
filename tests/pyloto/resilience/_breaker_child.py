"""A worker process holding the LLM breaker: reads one command a line on stdin, answers one JSON line.

Started by test_breaker_processes with the test settings, so its breaker shares the circuit in Redis.
`wait N` moves this process's clock N seconds on (time-machine), as N seconds of waiting would.
"""

import json
import sys
from datetime import UTC, datetime, timedelta

import django
import time_machine

# Log lines share stdout; answers carry this mark.
MARK = "BREAKER "


def _answer(value: dict) -> None:
    sys.stdout.write(MARK + json.dumps(value) + "\n")
    sys.stdout.flush()


def main() -> None:
    django.setup()
    from pyloto.errors import TransientError
    from pyloto.resilience.breaker import (
        breaker_allows_call,
        breaker_record_failure,
        breaker_record_success,
        breaker_rejects_calls,
        breaker_state,
        llm_breaker,
    )

    breaker = llm_breaker()
    commands = {
        "allows": lambda: breaker_allows_call(breaker),
        "rejects": lambda: breaker_rejects_calls(breaker),
        "fail": lambda: breaker_record_failure(breaker, TransientError("HTTP 500", code=500)),
        "succeed": lambda: breaker_record_success(breaker),
        "state": lambda: breaker_state(breaker),
    }
    ahead_s = 0.0
    travel: time_machine.travel | None = None
    _answer({"ready": True})
    for line in sys.stdin:
        command, _, argument = line.strip().partition(" ")
        if command == "wait":
            # A fresh travel from the real clock each time, so every process is ahead by the same amount.
            if travel is not None:
                travel.stop()
            ahead_s += float(argument)
            travel = time_machine.travel(datetime.now(UTC) + timedelta(seconds=ahead_s), tick=True)
            travel.start()
            _answer({"result": None})
            continue
        _answer({"result": commands[command]()})
    if travel is not None:
        travel.stop()


if __name__ == "__main__":
    main()
