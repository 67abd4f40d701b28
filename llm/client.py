"""The OpenAI-compatible client: one cached SDK client per process and validated structured completions."""

from __future__ import annotations

import functools
import json
import time
from dataclasses import dataclass, field
from typing import Any, cast

import openai
import pydantic
import structlog
from django.conf import settings
from openai._constants import RAW_RESPONSE_HEADER
from openai._legacy_response import LegacyAPIResponse
from openai.lib._parsing import type_to_response_format_param
from openai.types.shared_params import ResponseFormatJSONSchema

from llm.errors import LLMNotConfigured, LLMOutputInvalid, LLMPermanentError, LLMTransientError
from pyloto.process_cache import ProcessCache

log = structlog.get_logger(__name__)

TASK_DECIDE_STATE = "decide_state"
TASK_WRITE_REPLY = "write_reply"
TASK_CHOOSE_MESSAGE_TYPE = "choose_message_type"

# Attempts per structured call: the first answer plus one corrective re-ask.
MAX_ATTEMPTS = 2
# Settings overrides in tests create new keys; old clients are dropped (not closed: a thread may still use one).
_clients: ProcessCache[openai.OpenAI] = ProcessCache()

_INVALID_OUTPUT_ERRORS = (pydantic.ValidationError, json.JSONDecodeError)
_TRANSIENT_STATUS_ERRORS = (openai.RateLimitError, openai.InternalServerError, openai.ConflictError)
_PERMANENT_STATUS_ERRORS = (
    openai.AuthenticationError,
    openai.PermissionDeniedError,
    openai.BadRequestError,
    openai.NotFoundError,
    openai.UnprocessableEntityError,
)


@functools.cache
def response_format_of(schema: type[pydantic.BaseModel]) -> ResponseFormatJSONSchema:
    """The strict json_schema response format for `schema`, built once per process.

    The SDK's `parse(response_format=Model)` rebuilds it from the pydantic model on every call (≈7 ms
    of CPU on a busy machine, three times per answered message); the request is the same.
    """
    return type_to_response_format_param(schema)  # type: ignore[return-value]  # always a json_schema format


def llm_configured() -> bool:
    """True when an API key is set; without one the offline provider answers."""
    return bool(settings.OPENAI_API_KEY)


def get_openai_client() -> openai.OpenAI:
    """The process-wide SDK client for the current settings (thread-safe, reuses its connection pool)."""
    api_key, base_url = str(settings.OPENAI_API_KEY), str(settings.OPENAI_BASE_URL)
    timeout_s, max_retries = float(settings.LLM_TIMEOUT_S), int(settings.LLM_SDK_MAX_RETRIES)
    # Explicit arguments: the SDK would otherwise read OPENAI_* from os.environ behind settings' back.
    return _clients.get_or_create(
        (api_key, base_url, timeout_s, max_retries),
        lambda: openai.OpenAI(
            api_key=api_key or "unset", base_url=base_url, timeout=timeout_s, max_retries=max_retries
        ),
    )


def model_for_task(task: str) -> str:
    """The model for one LLM task: `LLM_MODEL_<TASK>` when set, else `LLM_MODEL`."""
    override = getattr(settings, f"LLM_MODEL_{task.upper()}", "")
    return str(override or settings.LLM_MODEL)


@dataclass
class StructuredResult:
    """A validated structured completion with what the accounting row needs."""

    output: pydantic.BaseModel
    model: str
    tokens_in: int
    tokens_out: int
    latency_ms: int
    started_at: float
    finished_at: float
    attempts: int
    sdk_retries: int = field(default=0)

    def to_json(self) -> dict[str, Any]:
        """JSON primitives only, so a Celery task can return it through the json serializer."""
        return {
            "output": self.output.model_dump(mode="json"),
            "model": self.model,
            "tokens_in": self.tokens_in,
            "tokens_out": self.tokens_out,
            "latency_ms": self.latency_ms,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "attempts": self.attempts,
            "sdk_retries": self.sdk_retries,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], *, schema: type[pydantic.BaseModel]) -> StructuredResult:
        """Rebuild from `to_json()`, validating the output against `schema` again."""
        return cls(
            output=schema.model_validate(data["output"]),
            model=str(data["model"]),
            tokens_in=int(data["tokens_in"]),
            tokens_out=int(data["tokens_out"]),
            latency_ms=int(data["latency_ms"]),
            started_at=float(data["started_at"]),
            finished_at=float(data["finished_at"]),
            attempts=int(data["attempts"]),
            sdk_retries=int(data.get("sdk_retries", 0)),
        )


@dataclass
class _Attempt:
    output: pydantic.BaseModel | None
    model: str
    tokens_in: int
    tokens_out: int
    sdk_retries: int
    content: str | None = None
    invalid_reason: str = ""


def structured_completion(
    *,
    task: str,
    messages: list[dict],
    schema: type[pydantic.BaseModel],
    temperature: float | None = None,
    timeout_s: float | None = None,
    model: str | None = None,
) -> StructuredResult:
    """Ask for JSON matching `schema` (strict json_schema); re-ask once on invalid output.

    Raises LLMNotConfigured, LLMTransientError, LLMPermanentError or LLMOutputInvalid; each carries the
    call's accounting (model, tokens, latency, attempts) in `details` so a failed call can be recorded too.
    `timeout_s` gives this call its own time budget per attempt, without the SDK's retries.
    """
    model = model or model_for_task(task)
    if not llm_configured():
        raise LLMNotConfigured("no OPENAI_API_KEY configured", code="not_configured", details={"task": task})
    client = get_openai_client()
    if timeout_s is not None:
        client = client.with_options(timeout=timeout_s, max_retries=0)
    conversation = list(messages)
    started_at = time.time()
    t0 = time.perf_counter()
    tokens_in = tokens_out = sdk_retries = 0
    reported_model = model
    reasons: list[str] = []

    def accounting(attempts: int) -> dict[str, Any]:
        finished_at = time.time()
        return {
            "task": task,
            "model": reported_model,
            "tokens_in": tokens_in,
            "tokens_out": tokens_out,
            "latency_ms": int((time.perf_counter() - t0) * 1000),
            "started_at": started_at,
            "finished_at": finished_at,
            "attempts": attempts,
            "sdk_retries": sdk_retries,
        }

    for attempt_no in range(1, MAX_ATTEMPTS + 1):
        try:
            attempt = _attempt(client, model=model, messages=conversation, schema=schema, temperature=temperature)
        except (LLMTransientError, LLMPermanentError) as exc:
            exc.details.update(accounting(attempt_no))
            log.warning(
                "llm_call_failed",
                task=task,
                model=model,
                error_class=type(exc).__name__,
                code=exc.code,
                attempt=attempt_no,
            )
            raise
        tokens_in += attempt.tokens_in
        tokens_out += attempt.tokens_out
        sdk_retries += attempt.sdk_retries
        reported_model = attempt.model
        if attempt.output is not None:
            figures = accounting(attempt_no)
            log.info(
                "llm_call_succeeded",
                task=task,
                model=reported_model,
                tokens_in=tokens_in,
                tokens_out=tokens_out,
                latency_ms=figures["latency_ms"],
                attempts=attempt_no,
            )
            return StructuredResult(
                output=attempt.output,
                model=reported_model,
                tokens_in=tokens_in,
                tokens_out=tokens_out,
                latency_ms=figures["latency_ms"],
                started_at=started_at,
                finished_at=figures["finished_at"],
                attempts=attempt_no,
                sdk_retries=sdk_retries,
            )
        reasons.append(attempt.invalid_reason)
        log.warning(
            "llm_output_invalid", task=task, model=reported_model, attempt=attempt_no, reason=attempt.invalid_reason
        )
        conversation = [*conversation, *_corrective_messages(attempt)]

    details = accounting(MAX_ATTEMPTS)
    details["reasons"] = reasons
    raise LLMOutputInvalid(
        f"{task}: output invalid after {MAX_ATTEMPTS} attempts: {reasons[-1]}", code="invalid_output", details=details
    )


def _attempt(
    client: openai.OpenAI,
    *,
    model: str,
    messages: list[dict],
    schema: type[pydantic.BaseModel],
    temperature: float | None,
) -> _Attempt:
    """One HTTP call (plus the SDK's own retries); invalid output is returned, transport errors raised."""
    extra: dict[str, Any] = {}
    if temperature is not None:
        # Omitted rather than sent as null: some models and servers reject any temperature at all.
        extra["temperature"] = temperature
    try:
        # The request body as built here, through the client's generic `post` (the SDK's way to call an
        # endpoint by hand; retries, timeouts and errors are the client's): `chat.completions.create`
        # first walks every typed parameter against its annotations — each message against six message
        # types, the strict schema node by node —, 40-60 % of a call's CPU, to send the same JSON. The
        # raw-response header (what `with_raw_response` sets) keeps the body, so tokens of an answer that
        # fails validation still count, and the SDK's retry count.
        raw = cast(
            LegacyAPIResponse[object],
            client.post(
                "/chat/completions",
                cast_to=object,
                body={"model": model, "messages": messages, "response_format": response_format_of(schema), **extra},
                options={"headers": {RAW_RESPONSE_HEADER: "true"}},
            ),
        )
    except openai.APIError as exc:
        raise _map_api_error(exc) from exc

    try:
        body = raw.http_response.json()
    except ValueError as exc:
        raise LLMTransientError("LLM server answered with a non-JSON body", code="malformed_response") from exc
    if not isinstance(body, dict) or not body.get("choices"):
        raise LLMTransientError("LLM server answered without choices", code="malformed_response")

    usage = body.get("usage") or {}
    choice = body["choices"][0] if isinstance(body["choices"][0], dict) else {}
    message = choice.get("message") or {}
    result = _Attempt(
        output=None,
        model=str(body.get("model") or model),
        tokens_in=int(usage.get("prompt_tokens") or 0),
        tokens_out=int(usage.get("completion_tokens") or 0),
        sdk_retries=raw.retries_taken,
        content=message.get("content") if isinstance(message.get("content"), str) else None,
    )
    # What the SDK's parse() does with a pydantic response format, without rebuilding the schema.
    finish_reason = choice.get("finish_reason")
    if finish_reason in _FINISH_REASONS_INVALID:
        result.invalid_reason = _FINISH_REASONS_INVALID[finish_reason]
    elif message.get("refusal"):
        result.invalid_reason = "refusal"
    elif not result.content:
        result.invalid_reason = "empty content"
    else:
        try:
            result.output = schema.model_validate_json(result.content)
        except _INVALID_OUTPUT_ERRORS as exc:
            result.invalid_reason = _describe_invalid(exc)
    return result


_FINISH_REASONS_INVALID = {
    "length": "output truncated at the token limit",
    "content_filter": "output blocked by the content filter",
}


def _describe_invalid(exc: Exception) -> str:
    """A short reason without the model's text (which may quote the customer)."""
    if isinstance(exc, pydantic.ValidationError):
        parts = []
        for error in exc.errors(include_input=False, include_url=False)[:5]:
            loc = ".".join(str(p) for p in error["loc"]) or "(root)"
            parts.append(f"{loc}: {error['msg']}")
        return "; ".join(parts)
    return f"invalid JSON: {type(exc).__name__}"


def _corrective_messages(attempt: _Attempt) -> list[dict]:
    messages: list[dict] = []
    if attempt.content:
        messages.append({"role": "assistant", "content": attempt.content})
    messages.append(
        {
            "role": "user",
            "content": (
                f"Your previous answer was not valid for the required JSON schema ({attempt.invalid_reason}). "
                "Answer again with a single JSON object that matches the schema exactly, and keep it short."
            ),
        }
    )
    return messages


def _map_api_error(exc: openai.APIError) -> LLMTransientError | LLMPermanentError:
    """SDK errors onto our hierarchy; the SDK has already spent its own retries on the transient ones."""
    if isinstance(exc, openai.APITimeoutError):
        return LLMTransientError("LLM request timed out", code="timeout")
    if isinstance(exc, openai.APIConnectionError):
        return LLMTransientError("LLM server unreachable", code="connection")
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        message = f"LLM server answered {status}: {exc.code or exc.type or ''}".rstrip(": ")
        if (
            isinstance(exc, (openai.RateLimitError, openai.InternalServerError))
            or status >= 500
            or status in (408, 409)
        ):
            return LLMTransientError(message, code=status)
        if isinstance(exc, _PERMANENT_STATUS_ERRORS) or 400 <= status < 500:
            return LLMPermanentError(message, code=status)
    return LLMTransientError(f"LLM call failed: {type(exc).__name__}", code="api_error")
