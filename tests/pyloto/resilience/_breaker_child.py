"""A worker process holding the LLM breaker: reads one command a line on stdin, answers one JSON line.

Started by test_breaker_processes with the test settings, so its breaker shares the circuit in Redis.
"""

import json
import sys

import django

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
    _answer({"ready": True})
    for line in sys.stdin:
        _answer({"result": commands[line.strip()]()})


if __name__ == "__main__":
    main()
