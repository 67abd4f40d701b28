"""The finalize step of a run: merge the LLM canvas' results into the run's one reply (plain functions).

The chord body hands over the header tasks' results; these unpack them and call the replies service,
which guards, persists and closes the run. What follows (the send, the handoff summary, the next run)
is `pyloto.pipeline.dispatch`'s to start.
"""

from typing import Any

from conversations.services.replies import Finalized, reply_finalize
from llm.services import llm_calls_record
from pyloto.observability.correlation import current_correlation_id


def _steps(parts: list[dict[str, Any]]) -> tuple[dict | None, dict | None, dict | None]:
    by_part = {part["part"]: part for part in parts}
    return by_part["reply"]["decision"], by_part["reply"]["result"], by_part["choice"]["result"]


def _calls(*steps: dict | None) -> list[dict[str, Any]]:
    return [step["call"] for step in steps if step and step.get("call")]


def run_finalize(parts: list[dict[str, Any]], *, run_key: str, conversation_id: int, expected_state: str) -> Finalized:
    """The decision, the reply and the message type, merged into one guarded reply (offline for what failed).

    A reply the customer made obsolete by writing again meanwhile is not written (`Finalized.superseded`).
    """
    decision, reply, choice = _steps(parts)
    return reply_finalize(
        run_key=run_key,
        conversation_id=conversation_id,
        expected_state=expected_state,
        decision=decision["output"] if decision else None,
        reply=reply["output"] if reply else None,
        choice=choice["output"] if choice else None,
        calls=_calls(decision, reply, choice),
        provider="openai",
        supersede_on_new_inbound=True,
    )


def run_recover(*, run_key: str, conversation_id: int, expected_state: str) -> Finalized:
    """A canvas task failed outright: the offline provider answers the run."""
    return reply_finalize(
        run_key=run_key,
        conversation_id=conversation_id,
        expected_state=expected_state,
        decision=None,
        reply=None,
        choice=None,
        calls=[],
        provider="offline",
    )


def shadow_record(parts: list[dict[str, Any]], *, run_key: str, conversation_id: int, release_number: int) -> int:
    """A shadow variant's run: its calls are recorded for comparison, nothing is sent; how many."""
    calls = _calls(*_steps(parts))
    llm_calls_record(
        calls=calls,
        conversation_id=conversation_id,
        run_key=run_key,
        release_number=release_number,
        correlation_id=current_correlation_id(),
    )
    return len(calls)
