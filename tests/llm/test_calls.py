"""The DB-free LLM calls: what a step returns when it never reaches the LLM still records cleanly."""

import pytest

from llm import calls
from llm.services import llm_call_record
from pyloto.errors import TransientError
from pyloto.resilience.breaker import breaker_record_failure, llm_breaker
from tests.support import llm_payload


@pytest.mark.django_db
def test_a_step_skipped_by_the_open_breaker_is_recorded_with_its_moment(fake_openai):
    breaker = llm_breaker()
    for _ in range(breaker.fail_max):
        breaker_record_failure(breaker, TransientError("down"))
    step = calls.decide_state_call(llm_payload())
    assert step["output"] is None
    assert step["call"]["outcome"] == "circuit_open"
    assert fake_openai.requests() == []
    call = step["call"]
    recorded = llm_call_record(
        task=call["task"],
        model=call["model"],
        prompt_version=call["prompt_version"],
        release_number=0,
        tokens_in=0,
        tokens_out=0,
        latency_ms=0,
        outcome=call["outcome"],
        started_at=call["started_at"],
        finished_at=call["finished_at"],
    )
    assert recorded.started_at is not None and recorded.outcome == "circuit_open"


def test_a_successful_step_carries_output_and_accounting(fake_openai):
    step = calls.decide_state_call(llm_payload())
    assert step["output"]["target_state"] in {
        "new",
        "triage",
        "answering",
        "qualifying",
        "handoff_requested",
        "human_active",
        "proposal_sent",
        "contract_closed",
        "resolved",
        "expired",
    }
    assert step["call"]["outcome"] == "ok"
    assert step["call"]["prompt_version"].endswith("+b1")
    assert step["call"]["tokens_in"] > 0
