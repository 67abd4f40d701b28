"""The structured-completion client against the fake OpenAI server, through the real openai SDK."""

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Literal

import pytest
from pydantic import BaseModel, Field

from llm.client import (
    StructuredResult,
    get_openai_client,
    llm_configured,
    model_for_task,
    structured_completion,
)
from llm.errors import LLMNotConfigured, LLMOutputInvalid, LLMPermanentError, LLMTransientError
from pyloto.errors import PermanentError, TransientError

MESSAGES = [
    {"role": "system", "content": "Decide the next conversation state."},
    {"role": "user", "content": "Quero saber o preço do plano."},
]


class Decision(BaseModel):
    next_state: Literal["greeting", "qualifying", "handoff"]
    reason: str = Field(max_length=200)
    confidence: float = Field(ge=0, le=1)


class Button(BaseModel):
    id: str = Field(min_length=1, max_length=20)
    title: str = Field(min_length=1, max_length=20)


class Row(BaseModel):
    title: str = Field(max_length=24)
    description: str | None = Field(default=None, max_length=72)


class Section(BaseModel):
    title: str = Field(max_length=24)
    rows: list[Row] = Field(min_length=1, max_length=10)


class MessageChoice(BaseModel):
    kind: Literal["text", "button", "list", "image", "video"]
    schema_version: Literal["1"]
    buttons: list[Button] = Field(min_length=2, max_length=3)
    sections: list[Section] | None
    header: Button | None
    priority: int = Field(ge=1, le=5)
    tags: list[Literal["sales", "support", "billing"]] = Field(max_length=2)
    needs_human: bool


class Node(BaseModel):
    label: str = Field(max_length=10)
    children: list["Node"]


DECISION = {"next_state": "qualifying", "reason": "asks for a price", "confidence": 0.9}


def test_structured_call_returns_validated_output_with_tokens_and_latency(fake_openai):
    fake_openai.script([{"match": {"schema_name": "Decision"}, "response": DECISION, "delay_ms": 30}])

    result = structured_completion(task="decide_state", messages=MESSAGES, schema=Decision, temperature=0.2)

    assert isinstance(result.output, Decision)
    assert result.output.next_state == "qualifying"
    assert result.model == "gpt-4o-mini"
    assert result.attempts == 1
    assert result.tokens_in > 0 and result.tokens_out > 0
    assert result.latency_ms >= 30
    assert result.started_at <= result.finished_at
    (request,) = fake_openai.requests()
    # A strict json_schema named after the pydantic model went out, as the SDK's parse() would send it.
    assert request["schema_name"] == "Decision"
    assert request["response_format_type"] == "json_schema"
    assert request["strict"] is True
    assert request["temperature"] == 0.2
    assert request["messages"] == MESSAGES


@pytest.mark.parametrize("schema", [Decision, MessageChoice, Node])
def test_fake_generates_output_valid_for_nested_schemas(fake_openai, schema):
    result = structured_completion(task="choose_message_type", messages=MESSAGES, schema=schema)

    assert isinstance(result.output, schema)
    assert result.attempts == 1, "the generated answer must validate on the first try"


def test_generated_message_choice_respects_bounds(fake_openai):
    output = structured_completion(task="choose_message_type", messages=MESSAGES, schema=MessageChoice).output

    assert output.kind == "text"
    assert output.schema_version == "1"
    assert 2 <= len(output.buttons) <= 3
    # uniqueness between array items: each item is a different variant
    assert len({b.id for b in output.buttons}) == len(output.buttons)
    assert all(len(b.title) <= 20 for b in output.buttons)
    assert output.sections is not None and 1 <= len(output.sections[0].rows) <= 10


def test_reasks_once_on_invalid_output_then_succeeds(fake_openai):
    fake_openai.script(
        [
            {"match": {"schema_name": "Decision"}, "response": "this is not JSON"},
            {"match": {"schema_name": "Decision"}, "response": DECISION},
        ]
    )

    result = structured_completion(task="decide_state", messages=MESSAGES, schema=Decision)

    assert result.output.next_state == "qualifying"
    assert result.attempts == 2
    first, second = fake_openai.requests()
    assert first["messages"] == MESSAGES
    # The re-ask carries the bad answer and a corrective user message.
    assert second["messages"][: len(MESSAGES)] == MESSAGES
    assert second["messages"][len(MESSAGES)] == {"role": "assistant", "content": "this is not JSON"}
    assert second["messages"][-1]["role"] == "user"
    assert "not valid" in second["messages"][-1]["content"]
    # Tokens of both attempts are counted.
    assert result.tokens_in > 2 * len(MESSAGES) * 4


def test_schema_violation_twice_raises_output_invalid(fake_openai):
    bad = {"next_state": "closed_contract", "reason": "x", "confidence": 3}
    fake_openai.script([{"match": {"schema_name": "Decision"}, "response": bad, "repeat": True}])

    with pytest.raises(LLMOutputInvalid) as info:
        structured_completion(task="decide_state", messages=MESSAGES, schema=Decision)

    assert isinstance(info.value, PermanentError)
    assert info.value.details["attempts"] == 2
    assert info.value.details["tokens_in"] > 0
    assert "next_state" in info.value.details["reasons"][0]
    assert len(fake_openai.requests()) == 2


def test_truncated_output_is_reasked(fake_openai):
    fake_openai.script(
        [
            {"response": '{"next_state": "qual', "finish_reason": "length"},
            {"response": DECISION},
        ]
    )

    result = structured_completion(task="decide_state", messages=MESSAGES, schema=Decision)

    assert result.attempts == 2
    assert "truncated" in fake_openai.requests()[1]["messages"][-1]["content"]


def test_refusal_counts_as_invalid_output(fake_openai):
    fake_openai.script([{"refusal": "I can't help with that.", "repeat": True}])

    with pytest.raises(LLMOutputInvalid) as info:
        structured_completion(task="write_reply", messages=MESSAGES, schema=Decision)

    assert info.value.details["reasons"] == ["refusal", "refusal"]


@pytest.mark.parametrize("status", [500, 503, 429])
def test_server_errors_are_transient(fake_openai, settings, status):
    settings.LLM_SDK_MAX_RETRIES = 0
    fake_openai.script([{"status": status}])

    with pytest.raises(LLMTransientError) as info:
        structured_completion(task="decide_state", messages=MESSAGES, schema=Decision)

    assert isinstance(info.value, TransientError)
    assert info.value.code == status
    assert len(fake_openai.requests()) == 1


def test_sdk_retries_a_server_error_before_giving_up(fake_openai, settings):
    settings.LLM_SDK_MAX_RETRIES = 1
    fake_openai.script([{"status": 500, "headers": {"retry-after-ms": "5"}}, {"response": DECISION}])

    result = structured_completion(task="decide_state", messages=MESSAGES, schema=Decision)

    assert result.output.next_state == "qualifying"
    assert result.sdk_retries == 1
    assert [r["status"] for r in fake_openai.requests()] == [500, 200]


def test_wrong_api_key_is_permanent_and_not_retried(fake_openai, settings):
    settings.LLM_SDK_MAX_RETRIES = 2
    fake_openai.configure(api_key="sk-the-right-one")
    settings.OPENAI_API_KEY = "sk-a-wrong-one"

    with pytest.raises(LLMPermanentError) as info:
        structured_completion(task="decide_state", messages=MESSAGES, schema=Decision)

    assert info.value.code == 401
    assert isinstance(info.value, PermanentError)
    assert [r["status"] for r in fake_openai.requests()] == [401]


@pytest.mark.parametrize("status", [400, 403, 404])
def test_client_errors_are_permanent(fake_openai, status):
    fake_openai.script([{"status": status}])

    with pytest.raises(LLMPermanentError) as info:
        structured_completion(task="decide_state", messages=MESSAGES, schema=Decision)

    assert info.value.code == status


def test_timeout_is_transient(fake_openai, settings):
    settings.LLM_SDK_MAX_RETRIES = 0
    settings.LLM_TIMEOUT_S = 0.2
    # Far longer than the timeout: had the client waited for it, the call would have succeeded.
    fake_openai.script([{"response": DECISION, "delay_ms": 30_000}])

    with pytest.raises(LLMTransientError) as info:
        structured_completion(task="decide_state", messages=MESSAGES, schema=Decision)

    assert info.value.code == "timeout"


def test_unreachable_server_is_transient(settings):
    settings.OPENAI_API_KEY = "sk-x"
    settings.OPENAI_BASE_URL = "http://127.0.0.1:9/v1"
    settings.LLM_SDK_MAX_RETRIES = 0

    with pytest.raises(LLMTransientError) as info:
        structured_completion(task="decide_state", messages=MESSAGES, schema=Decision)

    assert info.value.code == "connection"


def test_not_configured_without_api_key(fake_openai, settings):
    settings.OPENAI_API_KEY = ""

    assert llm_configured() is False
    with pytest.raises(LLMNotConfigured):
        structured_completion(task="decide_state", messages=MESSAGES, schema=Decision)
    assert fake_openai.requests() == []


def test_model_per_task_override(fake_openai, settings):
    settings.LLM_MODEL = "gpt-4o-mini"
    settings.LLM_MODEL_WRITE_REPLY = "gpt-4.1-mini"

    assert model_for_task("write_reply") == "gpt-4.1-mini"
    assert model_for_task("decide_state") == "gpt-4o-mini"
    assert model_for_task("choose_message_type") == "gpt-4o-mini"

    reply = structured_completion(task="write_reply", messages=MESSAGES, schema=Decision)
    decision = structured_completion(task="decide_state", messages=MESSAGES, schema=Decision)

    assert (reply.model, decision.model) == ("gpt-4.1-mini", "gpt-4o-mini")
    assert [r["model"] for r in fake_openai.requests()] == ["gpt-4.1-mini", "gpt-4o-mini"]


def test_client_is_cached_per_settings(settings):
    settings.OPENAI_API_KEY = "sk-a"
    settings.OPENAI_BASE_URL = "http://127.0.0.1:9/v1"
    settings.LLM_TIMEOUT_S = 7.0
    settings.LLM_SDK_MAX_RETRIES = 3

    client = get_openai_client()

    assert get_openai_client() is client
    assert client.max_retries == 3
    assert client.timeout == 7.0
    assert str(client.base_url).startswith("http://127.0.0.1:9/v1")
    settings.LLM_TIMEOUT_S = 8.0
    assert get_openai_client() is not client


def test_structured_result_json_round_trip(fake_openai):
    result = structured_completion(task="choose_message_type", messages=MESSAGES, schema=MessageChoice)

    wire = json.loads(json.dumps(result.to_json()))
    again = StructuredResult.from_json(wire, schema=MessageChoice)

    assert again == result
    assert isinstance(again.output, MessageChoice)


def test_concurrent_calls_share_one_client_on_threads(fake_openai, settings):
    # Like the LLM queue's threads pool: many calls in flight at once through the cached client.
    calls = 64
    # The fake answers none until all are in flight together: only overlapping calls can pass, at any load.
    fake_openai.configure(hold_in_flight=calls, hold_timeout_s=60)
    # The client must outwait the hold, and a retry would add an arrival the hold does not expect.
    settings.LLM_TIMEOUT_S = 120.0
    settings.LLM_SDK_MAX_RETRIES = 0

    def call(_: int) -> tuple[int, StructuredResult]:
        client = get_openai_client()
        return id(client), structured_completion(task="decide_state", messages=MESSAGES, schema=Decision)

    with ThreadPoolExecutor(max_workers=calls) as pool:
        outcomes = list(pool.map(call, range(calls)))

    assert len({client_id for client_id, _ in outcomes}) == 1, "every thread must reuse the one cached client"
    assert all(result.attempts == 1 for _, result in outcomes)
    records = fake_openai.requests()
    assert [r["status"] for r in records] == [200] * calls
    # Held together: every request arrived before the first one was answered.
    assert max(r["received_at"] for r in records) <= min(r["responded_at"] for r in records)
