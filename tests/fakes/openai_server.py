"""A fake OpenAI-compatible Chat Completions server (aiohttp) answering schema-valid JSON, scriptable per test.

Run standalone:  python -m tests.fakes.openai_server --port 8092 --latency-ms 800
From tests:      `with running_openai_server(latency_ms=0) as fake: ...` or the `fake_openai` fixture.

It also transcribes audio (`POST /v1/audio/transcriptions`, multipart, like OpenAI): a file made by
`pyloto.whatsapp.simulator.fake_voice_note(text)` is "heard" as that text; anything else gets 400.
`transcription_status` (config) answers every transcription with that HTTP error instead.

Control API (JSON): POST /_fake/script (a list of entries, appended), DELETE /_fake/script,
GET|DELETE /_fake/requests, GET|POST /_fake/config, POST /_fake/reset.

A script entry: {"match": {"schema_name": "...", "contains": "...", "model": "..."},
"response": <object, or a raw string sent as the content>, "status": <HTTP error code>,
"delay_ms": <latency for this answer>, "finish_reason": "length", "refusal": "...",
"headers": {extra response headers, e.g. "retry-after-ms"}, "repeat": true | "times": n}.
Entries are tried in order; the first matching one answers and is consumed (unless `repeat`).
Without a matching entry the answer is generated from the request's `response_format.json_schema.schema`.

`hold_in_flight=N` (config) holds every completion (or only those whose schema is in `hold_schema_names`)
until N are in flight together, then answers them all: a test proves calls overlap without timing anything.
Past `hold_timeout_s` a held call gets a 400 naming how many arrived.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import math
import random
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import pytest
import structlog
from aiohttp import web

from pyloto.observability.logging import configure_logging
from pyloto.whatsapp.simulator import heard_text
from tests.fakes.hold import DEFAULT_HOLD_TIMEOUT_S, HoldTimedOut, InFlightGate

log = structlog.get_logger(__name__)

DEFAULT_LATENCY_MS = 800.0
DEFAULT_TEXT = "Olá! Esta é uma resposta do servidor de teste."
# Recursive schemas stop growing past this depth (nullable branches turn null, optional arrays empty).
_MAX_DEPTH = 6
_FORMAT_SAMPLES = {
    "date-time": "2026-01-01T12:00:00Z",
    "date": "2026-01-01",
    "time": "12:00:00",
    "email": "cliente@example.com",
    "uri": "https://example.com/media/sample.jpg",
    "uuid": "00000000-0000-4000-8000-000000000000",
}
_PATTERN_CANDIDATES = ("a", "A", "0", "abc", "ABC", "a1", "A1", "test", "Test", "item_1", "1", "12", "123", "x-1")
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "invalid_api_key",
    403: "permission_denied",
    404: "not_found_error",
    429: "rate_limit_exceeded",
}


# --- JSON Schema instance generator ---------------------------------------------------------------


def schema_instance(schema: dict, *, root: dict | None = None, depth: int = 0, variant: int = 0) -> Any:
    """A deterministic instance valid for `schema` (the subset strict structured outputs use).

    `variant` varies enum picks and strings between array items so `uniqueItems` holds.
    """
    root = root if root is not None else schema
    schema = _resolve(schema, root)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        values = schema["enum"]
        return values[variant % len(values)] if values else None
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return _pick_branch(schema[key], root=root, depth=depth, variant=variant)
    if "allOf" in schema:
        merged: dict = {}
        for part in schema["allOf"]:
            merged = _merge(merged, _resolve(part, root))
        rest = {k: v for k, v in schema.items() if k != "allOf"}
        return schema_instance(_merge(merged, rest), root=root, depth=depth, variant=variant)

    kind = schema.get("type")
    if isinstance(kind, list):
        non_null = [k for k in kind if k != "null"]
        if not non_null or (depth > _MAX_DEPTH and "null" in kind):
            return None
        kind = non_null[0]
    if kind is None:
        if "properties" in schema:
            kind = "object"
        elif "items" in schema or "prefixItems" in schema:
            kind = "array"
        else:
            return DEFAULT_TEXT
    if kind == "object":
        return _object_instance(schema, root=root, depth=depth, variant=variant)
    if kind == "array":
        return _array_instance(schema, root=root, depth=depth)
    if kind == "string":
        return _string_instance(schema, variant=variant)
    if kind == "integer":
        return int(_number_instance(schema, integer=True))
    if kind == "number":
        return _number_instance(schema, integer=False)
    if kind == "boolean":
        return False
    return None


def _resolve(schema: dict, root: dict) -> dict:
    seen = 0
    while isinstance(schema, dict) and "$ref" in schema:
        ref = schema["$ref"]
        if not ref.startswith("#"):
            raise ValueError(f"only local $ref is supported, got {ref!r}")
        target: Any = root
        for part in ref.lstrip("#/").split("/") if ref != "#" else []:
            target = target[part.replace("~1", "/").replace("~0", "~")]
        siblings = {k: v for k, v in schema.items() if k != "$ref"}
        schema = _merge(target, siblings) if siblings else target
        seen += 1
        if seen > 64:
            raise ValueError("$ref cycle without progress")
    return schema


def _merge(base: dict, extra: dict) -> dict:
    merged = dict(base)
    for key, value in extra.items():
        if key == "properties":
            merged["properties"] = {**merged.get("properties", {}), **value}
        elif key == "required":
            merged["required"] = list(dict.fromkeys([*merged.get("required", []), *value]))
        else:
            merged[key] = value
    return merged


def _pick_branch(branches: list[dict], *, root: dict, depth: int, variant: int) -> Any:
    resolved = [_resolve(b, root) for b in branches]
    non_null = [b for b in resolved if b.get("type") != "null"]
    has_null = len(non_null) < len(resolved)
    if not non_null or (has_null and depth > _MAX_DEPTH):
        return None
    return schema_instance(non_null[0], root=root, depth=depth + 1, variant=variant)


def _object_instance(schema: dict, *, root: dict, depth: int, variant: int) -> dict:
    properties: dict = schema.get("properties", {})
    # Every listed property is produced: required ones must be, optional ones are valid either way.
    names = list(dict.fromkeys([*properties, *schema.get("required", [])]))
    result = {}
    for name in names:
        prop = properties.get(name, {})
        result[name] = schema_instance(prop, root=root, depth=depth + 1, variant=variant)
    return result


def _array_instance(schema: dict, *, root: dict, depth: int) -> list:
    prefix = schema.get("prefixItems") or []
    min_items = int(schema.get("minItems", 0))
    max_items = schema.get("maxItems")
    count = max(min_items, len(prefix), 0 if depth > _MAX_DEPTH else 1)
    if max_items is not None:
        count = min(count, int(max_items))
    items_schema = schema.get("items", {})
    out = []
    for i in range(count):
        item_schema = prefix[i] if i < len(prefix) else items_schema
        if item_schema is False:
            break
        out.append(schema_instance(item_schema or {}, root=root, depth=depth + 1, variant=i))
    return out


def _string_instance(schema: dict, *, variant: int) -> str:
    min_len = int(schema.get("minLength", 0))
    max_len = schema.get("maxLength")
    text = _FORMAT_SAMPLES.get(schema.get("format", ""), DEFAULT_TEXT)
    if variant:
        text = f"{variant + 1} {text}"
    pattern = schema.get("pattern")
    if pattern:
        for candidate in (text, *_PATTERN_CANDIDATES):
            if re.search(pattern, candidate) and _fits(candidate, min_len, max_len):
                return candidate
    if max_len is not None:
        text = text[: int(max_len)].rstrip() or text[: int(max_len)]
    while len(text) < min_len:
        text += " " + DEFAULT_TEXT
    if max_len is not None:
        text = text[: int(max_len)]
    return text


def _fits(text: str, min_len: int, max_len: Any) -> bool:
    return len(text) >= min_len and (max_len is None or len(text) <= int(max_len))


def _number_instance(schema: dict, *, integer: bool) -> float:
    low = schema.get("minimum")
    high = schema.get("maximum")
    ex_low = schema.get("exclusiveMinimum")
    ex_high = schema.get("exclusiveMaximum")
    step = 1 if integer else 0.5
    if ex_low is not None:
        low = ex_low + step if low is None else max(low, ex_low + step)
    if ex_high is not None:
        high = ex_high - step if high is None else min(high, ex_high - step)
    if integer:
        low = math.ceil(low) if low is not None else None
        high = math.floor(high) if high is not None else None
    if low is not None and high is not None and low > high and not integer:
        # Open interval narrower than the step: its midpoint is inside.
        value = (schema.get("exclusiveMinimum", low) + schema.get("exclusiveMaximum", high)) / 2
    elif low is not None:
        value = low
    elif high is not None:
        value = min(high, 0)
    else:
        value = 0
    multiple = schema.get("multipleOf")
    if multiple:
        value = math.ceil(value / multiple) * multiple
    return value if not integer else int(value)


# --- Server state ---------------------------------------------------------------------------------


@dataclass
class FakeConfig:
    """What the fake does when nothing is scripted."""

    latency_ms: float = DEFAULT_LATENCY_MS
    jitter_ms: float = 0.0
    error_rate: float = 0.0
    # When set, any other bearer token gets 401 (as OpenAI answers an invalid key).
    api_key: str = ""
    seed: int = 0
    max_records: int = 20_000
    # > 1: hold each completion until this many are in flight together (see the module docstring).
    hold_in_flight: int = 0
    hold_timeout_s: float = DEFAULT_HOLD_TIMEOUT_S
    # Empty holds every completion; otherwise only these structured-output schema names.
    hold_schema_names: list[str] = field(default_factory=list)
    # When set, every transcription is answered with this HTTP error status.
    transcription_status: int = 0


class FakeOpenAIState:
    """Script queue, configuration and request log; shared by the event loop and test threads."""

    def __init__(self, config: FakeConfig) -> None:
        self._initial = FakeConfig(**asdict(config))
        self._lock = threading.Lock()
        self._seq = itertools.count(1)
        self.config = config
        self._rng = random.Random(config.seed)
        self._script: list[dict] = []
        self._records: deque[dict] = deque(maxlen=config.max_records)
        # Used only from the server's event loop.
        self.gate = InFlightGate()

    def configure(self, **changes: Any) -> dict:
        known = {f.name for f in fields(FakeConfig)}
        unknown = set(changes) - known
        if unknown:
            raise ValueError(f"unknown fake config keys: {sorted(unknown)}")
        with self._lock:
            for key, value in changes.items():
                setattr(self.config, key, value)
            if "seed" in changes:
                self._rng = random.Random(self.config.seed)
            if "max_records" in changes:
                self._records = deque(self._records, maxlen=int(self.config.max_records))
            return asdict(self.config)

    def add_script(self, entries: list[dict]) -> int:
        for entry in entries:
            if not isinstance(entry, dict):
                raise ValueError("script entries must be objects")
        with self._lock:
            self._script.extend({**entry, "_used": 0} for entry in entries)
            return len(self._script)

    def clear_script(self) -> None:
        with self._lock:
            self._script.clear()

    def take(self, *, schema_name: str, text: str, model: str) -> dict | None:
        """The first matching script entry, consumed unless it repeats."""
        with self._lock:
            for index, entry in enumerate(self._script):
                match = entry.get("match") or {}
                if match.get("schema_name") not in (None, schema_name):
                    continue
                if match.get("model") not in (None, model):
                    continue
                if match.get("contains") and match["contains"] not in text:
                    continue
                entry["_used"] += 1
                if not entry.get("repeat") and entry["_used"] >= int(entry.get("times", 1)):
                    del self._script[index]
                return entry
        return None

    def draw_error(self) -> bool:
        with self._lock:
            return self.config.error_rate > 0 and self._rng.random() < self.config.error_rate

    def draw_latency_s(self) -> float:
        with self._lock:
            jitter = self._rng.uniform(-self.config.jitter_ms, self.config.jitter_ms) if self.config.jitter_ms else 0
            return max(self.config.latency_ms + jitter, 0.0) / 1000

    def record(self, entry: dict) -> None:
        with self._lock:
            entry["seq"] = next(self._seq)
            self._records.append(entry)

    def requests(self) -> list[dict]:
        with self._lock:
            return [dict(r) for r in self._records]

    def clear_requests(self) -> None:
        with self._lock:
            self._records.clear()

    def reset(self) -> None:
        with self._lock:
            self.config = FakeConfig(**asdict(self._initial))
            self._rng = random.Random(self.config.seed)
            self._script.clear()
            self._records = deque(maxlen=self.config.max_records)
            self.gate = InFlightGate()


# --- HTTP handlers --------------------------------------------------------------------------------

STATE_KEY = web.AppKey("state", FakeOpenAIState)


def _messages_text(messages: list) -> str:
    parts: list[str] = []
    for message in messages:
        if not isinstance(message, dict):
            continue
        content = message.get("content")
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts.extend(p.get("text", "") for p in content if isinstance(p, dict))
    return "\n".join(parts)


def _estimate_tokens(text: str) -> int:
    # About four characters per token for Latin-script text: close enough for cost and load figures.
    return max(1, math.ceil(len(text) / 4))


def _prompt_tokens(text: str, message_count: int, response_format: Any) -> int:
    # Like OpenAI: a few tokens of framing per message, and the response schema counts as prompt too.
    schema_chars = len(json.dumps(response_format)) if isinstance(response_format, dict) else 0
    return _estimate_tokens(text) + 4 * message_count + math.ceil(schema_chars / 4)


def _error_response(status: int, message: str, headers: dict | None = None) -> web.Response:
    error_type = _ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    body = {"error": {"message": message, "type": error_type, "param": None, "code": error_type}}
    all_headers = {"x-request-id": f"req_{uuid.uuid4().hex[:16]}", **(headers or {})}
    return web.json_response(body, status=status, headers=all_headers)


def _completion_body(
    *, model: str, content: str | None, refusal: str | None, finish_reason: str, prompt_tokens: int
) -> dict:
    completion_tokens = _estimate_tokens(content or refusal or "")
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": refusal},
                "logprobs": None,
                "finish_reason": finish_reason,
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
        "system_fingerprint": "fp_fake",
    }


def _generated_content(response_format: dict | None) -> tuple[str, str]:
    """(schema name, content) for the request's response_format."""
    if not response_format or response_format.get("type") == "text":
        return "", DEFAULT_TEXT
    if response_format.get("type") == "json_object":
        return "", json.dumps({"answer": DEFAULT_TEXT}, ensure_ascii=False)
    spec = response_format.get("json_schema") or {}
    schema = spec.get("schema") or {}
    return str(spec.get("name", "")), json.dumps(schema_instance(schema), ensure_ascii=False)


async def chat_completions(request: web.Request) -> web.Response:
    state: FakeOpenAIState = request.app[STATE_KEY]
    received_at = time.time()
    record: dict[str, Any] = {"method": request.method, "path": request.path, "received_at": received_at}
    try:
        payload = await request.json()
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        record.update(status=400, responded_at=time.time(), schema_name="")
        state.record(record)
        return _error_response(400, "request body must be a JSON object")

    model = str(payload.get("model", ""))
    messages = payload.get("messages") or []
    response_format = payload.get("response_format")
    schema_name = ""
    strict = False
    if isinstance(response_format, dict) and isinstance(response_format.get("json_schema"), dict):
        schema_name = str(response_format["json_schema"].get("name", ""))
        strict = response_format["json_schema"].get("strict") is True
    text = _messages_text(messages)
    record.update(
        model=model,
        schema_name=schema_name,
        response_format_type=response_format.get("type") if isinstance(response_format, dict) else None,
        strict=strict,
        messages=messages,
        temperature=payload.get("temperature"),
        scripted=False,
    )

    expected_key = state.config.api_key
    if expected_key and request.headers.get("Authorization", "") != f"Bearer {expected_key}":
        record.update(status=401, responded_at=time.time())
        state.record(record)
        return _error_response(401, "Incorrect API key provided.")

    held = not state.config.hold_schema_names or schema_name in state.config.hold_schema_names
    try:
        if held:
            await state.gate.hold(count=int(state.config.hold_in_flight), timeout_s=float(state.config.hold_timeout_s))
    except HoldTimedOut as exc:
        record.update(status=400, responded_at=time.time())
        state.record(record)
        return _error_response(400, str(exc))

    entry = state.take(schema_name=schema_name, text=text, model=model)
    delay_s = state.draw_latency_s()
    if entry is not None:
        record["scripted"] = True
        if entry.get("delay_ms") is not None:
            delay_s = float(entry["delay_ms"]) / 1000
    if delay_s > 0:
        await asyncio.sleep(delay_s)

    status = int(entry.get("status") or 0) if entry else 0
    if not status and entry is None and state.draw_error():
        status = 500
    if status >= 400:
        record.update(status=status, responded_at=time.time())
        state.record(record)
        headers = {str(k): str(v) for k, v in (entry.get("headers") or {}).items()} if entry else None
        return _error_response(status, f"fake error {status}", headers)

    refusal = entry.get("refusal") if entry else None
    if entry is not None and "response" in entry:
        response = entry["response"]
        content = response if isinstance(response, str) else json.dumps(response, ensure_ascii=False)
    else:
        try:
            _, content = _generated_content(response_format if isinstance(response_format, dict) else None)
        except (ValueError, KeyError, TypeError) as exc:
            record.update(status=400, responded_at=time.time())
            state.record(record)
            return _error_response(400, f"unsupported response_format schema: {exc}")
    if refusal:
        content = None
    finish_reason = str(entry.get("finish_reason", "stop")) if entry else "stop"
    body = _completion_body(
        model=model,
        content=content,
        refusal=refusal,
        finish_reason=finish_reason,
        prompt_tokens=_prompt_tokens(text, len(messages), response_format),
    )
    record.update(status=200, responded_at=time.time(), content=content)
    state.record(record)
    headers = {"x-request-id": f"req_{uuid.uuid4().hex[:16]}"}
    if entry:
        headers.update({str(k): str(v) for k, v in (entry.get("headers") or {}).items()})
    return web.json_response(body, headers=headers, dumps=_dumps)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


async def list_models(request: web.Request) -> web.Response:
    return web.json_response({"object": "list", "data": [{"id": "gpt-4o-mini", "object": "model", "owned_by": "fake"}]})


async def post_script(request: web.Request) -> web.Response:
    state: FakeOpenAIState = request.app[STATE_KEY]
    payload = await request.json()
    entries = payload.get("entries", []) if isinstance(payload, dict) else payload
    if isinstance(payload, dict) and payload.get("replace"):
        state.clear_script()
    try:
        queued = state.add_script(list(entries))
    except (ValueError, TypeError) as exc:
        return web.json_response({"error": str(exc)}, status=400)
    return web.json_response({"queued": queued})


async def delete_script(request: web.Request) -> web.Response:
    request.app[STATE_KEY].clear_script()
    return web.json_response({"queued": 0})


async def get_requests(request: web.Request) -> web.Response:
    return web.json_response({"requests": request.app[STATE_KEY].requests()}, dumps=_dumps)


async def delete_requests(request: web.Request) -> web.Response:
    request.app[STATE_KEY].clear_requests()
    return web.json_response({"requests": []})


async def config_view(request: web.Request) -> web.Response:
    state: FakeOpenAIState = request.app[STATE_KEY]
    if request.method == "GET":
        return web.json_response(asdict(state.config))
    try:
        return web.json_response(state.configure(**(await request.json())))
    except (ValueError, TypeError) as exc:
        return web.json_response({"error": str(exc)}, status=400)


async def post_reset(request: web.Request) -> web.Response:
    request.app[STATE_KEY].reset()
    return web.json_response({"reset": True})


async def audio_transcriptions(request: web.Request) -> web.Response:
    state: FakeOpenAIState = request.app[STATE_KEY]
    record: dict[str, Any] = {"method": request.method, "path": request.path, "received_at": time.time()}
    form = await request.post()
    upload = form.get("file")
    record.update(
        model=str(form.get("model", "")),
        response_format=str(form.get("response_format", "json")),
        filename=getattr(upload, "filename", ""),
        schema_name="transcription",
    )
    expected_key = state.config.api_key
    status, body = 200, {}
    if expected_key and request.headers.get("Authorization", "") != f"Bearer {expected_key}":
        status, body = 401, {"error": {"message": "Incorrect API key provided.", "type": "invalid_request_error"}}
    elif state.config.transcription_status:
        status = int(state.config.transcription_status)
        body = {"error": {"message": "fake transcription failure", "type": "server_error"}}
    elif not isinstance(upload, web.FileField) or not record["model"]:
        status, body = 400, {"error": {"message": "file and model are required", "type": "invalid_request_error"}}
    else:
        text = heard_text(upload.file.read())
        if text is None:
            status, body = 400, {"error": {"message": "Audio file might be corrupted", "type": "invalid_request_error"}}
        else:
            body = {"text": text}
            if record["response_format"] == "verbose_json":
                # Roughly how long it takes to say it: ~15 characters a second.
                body |= {"task": "transcribe", "language": "portuguese", "duration": round(len(text) / 15, 2)}
    record.update(status=status, responded_at=time.time(), text=body.get("text"))
    state.record(record)
    if record["response_format"] == "text" and status == 200:
        return web.Response(text=body["text"], content_type="text/plain")
    return web.json_response(body, status=status)


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


def build_app(state: FakeOpenAIState) -> web.Application:
    # Prompts carry the whole institutional context: allow bodies well beyond aiohttp's 1 MiB default.
    app = web.Application(client_max_size=32 * 1024 * 1024)
    app[STATE_KEY] = state
    app.router.add_post("/v1/chat/completions", chat_completions)
    app.router.add_post("/chat/completions", chat_completions)
    app.router.add_post("/v1/audio/transcriptions", audio_transcriptions)
    app.router.add_post("/audio/transcriptions", audio_transcriptions)
    app.router.add_get("/v1/models", list_models)
    app.router.add_get("/models", list_models)
    app.router.add_post("/_fake/script", post_script)
    app.router.add_delete("/_fake/script", delete_script)
    app.router.add_get("/_fake/requests", get_requests)
    app.router.add_delete("/_fake/requests", delete_requests)
    app.router.add_get("/_fake/config", config_view)
    app.router.add_post("/_fake/config", config_view)
    app.router.add_post("/_fake/reset", post_reset)
    app.router.add_get("/healthz", healthz)
    return app


# --- Running it -----------------------------------------------------------------------------------


class FakeOpenAIServer:
    """The fake on its own event loop in a background thread; the handle tests talk to."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, **config: Any) -> None:
        self.host = host
        self.port = port
        self.state = FakeOpenAIState(FakeConfig(**config))
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._ready = threading.Event()
        self._start_error: BaseException | None = None

    @property
    def root_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """What OPENAI_BASE_URL should be set to."""
        return f"{self.root_url}/v1"

    def start(self) -> FakeOpenAIServer:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, name="fake-openai-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout=10):
            raise RuntimeError("fake OpenAI server did not start within 10 s")
        if self._start_error is not None:
            raise RuntimeError("fake OpenAI server failed to start") from self._start_error
        return self

    def _serve(self) -> None:
        loop = self._loop
        assert loop is not None
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._start_site())
        except OSError as exc:
            self._start_error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            if self._runner is not None:
                loop.run_until_complete(self._runner.cleanup())
            loop.close()

    async def _start_site(self) -> None:
        # A short shutdown grace: scripted delays may still be sleeping when a test ends.
        self._runner = web.AppRunner(build_app(self.state), access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, backlog=2048)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)

    # The handle tests use.
    def requests(self) -> list[dict]:
        """Every request so far, oldest first, with `received_at`/`responded_at` epoch seconds."""
        return self.state.requests()

    def script(self, entries: list[dict]) -> None:
        self.state.add_script(entries)

    def configure(self, **changes: Any) -> dict:
        return self.state.configure(**changes)

    def reset(self) -> None:
        self.state.reset()


@contextlib.contextmanager
def running_openai_server(**config: Any) -> Iterator[FakeOpenAIServer]:
    """Start the fake on an ephemeral 127.0.0.1 port for the duration of the block."""
    server = FakeOpenAIServer(**config).start()
    try:
        yield server
    finally:
        server.stop()


FAKE_API_KEY = "sk-fake-test-key"


@pytest.fixture
def fake_openai(settings) -> Iterator[FakeOpenAIServer]:
    """A fresh fake with no latency, and Django settings pointing the LLM client at it."""
    with running_openai_server(latency_ms=0) as server:
        settings.OPENAI_BASE_URL = server.base_url
        settings.OPENAI_API_KEY = FAKE_API_KEY
        yield server


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Fake OpenAI-compatible Chat Completions server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8092)
    parser.add_argument("--latency-ms", type=float, default=DEFAULT_LATENCY_MS)
    parser.add_argument("--jitter-ms", type=float, default=0.0)
    parser.add_argument("--error-rate", type=float, default=0.0, help="fraction of unscripted calls answered 500")
    parser.add_argument("--api-key", default="", help="when set, other keys get 401")
    parser.add_argument("--seed", type=int, default=0)
    # Each record holds the whole prompt: a long benchmark keeps fewer of them.
    parser.add_argument("--max-records", type=int, default=FakeConfig.max_records)
    args = parser.parse_args(argv)
    # The project's log format and clock (UTC), like every process `make run` starts.
    configure_logging(json=False)
    state = FakeOpenAIState(
        FakeConfig(
            latency_ms=args.latency_ms,
            jitter_ms=args.jitter_ms,
            error_rate=args.error_rate,
            api_key=args.api_key,
            seed=args.seed,
            max_records=args.max_records,
        )
    )
    log.info("fake_openai_listening", host=args.host, port=args.port, latency_ms=args.latency_ms)
    try:
        web.run_app(build_app(state), host=args.host, port=args.port, backlog=2048, access_log=None, print=None)
    except OSError as exc:
        # A taken port is a one-line error and a non-zero exit, never a traceback that looks like a crash.
        raise SystemExit(f"fake OpenAI server: cannot listen on {args.host}:{args.port}: {exc.strerror}") from None


if __name__ == "__main__":
    main()
