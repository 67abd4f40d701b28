"""A fake WhatsApp Cloud (Graph) API: a real asyncio HTTP server that validates sends the way Meta does.

It checks every `POST /vNN.N/<phone_number_id>/messages` independently of our payload models (straight
from the JSON, so it catches their bugs), answers Meta-shaped successes and errors, records every
request, and can add latency and inject failures. Use it three ways:

- in tests: the `fake_graph` fixture (tests/fakes/graph_fixtures.py) or `with running_graph_server() as graph:`;
- by hand or under load: `python -m tests.fakes.graph_server --port 8091 --latency-ms 50 --error-rate 0.0`;
- from anything with an HTTP client: `GET/DELETE /_fake/requests`, `GET/POST /_fake/config`,
  `GET /_fake/stats`, `POST /_fake/reset`. `FakeGraph(base_url)` wraps those for Python callers.

`hold_in_flight=N` (config) holds every Graph POST until N are in flight together, then answers them all:
a test proves requests overlap without timing anything. Past `hold_timeout_s` a held request gets a
400 whose details say how many arrived.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import logging
import random
import re
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import httpx
from aiohttp import web

from pyloto.observability.logging import configure_logging
from tests.fakes.hold import DEFAULT_HOLD_TIMEOUT_S, HoldTimedOut, InFlightGate

log = logging.getLogger(__name__)

MESSAGES_PATH = re.compile(r"^/v\d+\.\d+/(?P<phone_number_id>[^/]+)/messages$")
BSUID = re.compile(r"^[A-Z]{2}\.(?:ENT\.)?[A-Za-z0-9]{1,128}$")
PHONE_CHARS = re.compile(r"[\s\-()+]")

# The status Meta answers with for the codes we inject; every other Graph error comes back as HTTP 400.
DEFAULT_STATUS_FOR_CODE = {130429: 429, 1: 500, 2: 500, 131000: 500, 131016: 503}
MESSAGE_FOR_CODE = {
    1: "An unknown error occurred",
    2: "Service temporarily unavailable",
    4: "(#4) Application request limit reached",
    100: "(#100) Invalid parameter",
    190: "Invalid OAuth access token - Cannot parse access token",
    80007: "(#80007) Rate limit issues",
    130429: "(#130429) Rate limit hit",
    131000: "(#131000) Something went wrong",
    131009: "(#131009) Parameter value is not valid",
    131016: "(#131016) Service unavailable",
    131026: "(#131026) Message undeliverable",
    131047: "(#131047) Re-engagement message",
    131051: "(#131051) Unsupported message type",
    131056: "(#131056) (Business Account, Consumer Account) pair rate limit hit",
}

SEND_KEYS = {
    "messaging_product",
    "recipient_type",
    "to",
    "recipient",
    "type",
    "context",
    "biz_opaque_callback_data",
}
READ_KEYS = {"messaging_product", "status", "message_id", "typing_indicator"}
CONTENT_TYPES = {"text", "interactive", "image", "video"}


@dataclass
class FakeGraphConfig:
    """Behaviour of the fake; every field can be changed at run time through `POST /_fake/config`."""

    access_token: str = "test-access-token"
    # None accepts any phone number id in the path; a value makes other ids fail like an unknown object.
    phone_number_id: str | None = None
    latency_ms: float = 0.0
    # Fraction of Graph POSTs answered with an injected transient error drawn from `error_codes`.
    error_rate: float = 0.0
    error_codes: list[int] = field(default_factory=lambda: [130429, 131000])
    # Retry-After header (seconds) on injected throttling errors; None sends no header.
    retry_after_s: float | None = None
    # Answers for the next Graph POSTs, one entry each: None (answer normally), a Graph error code, or
    # {"code": int, "status": int, "subcode": int, "message": str, "retry_after": float}.
    script: list[Any] = field(default_factory=list)
    seed: int | None = None
    # The recording is a ring buffer, so a long load test cannot exhaust memory.
    max_records: int = 100_000
    # > 1: hold each Graph POST until this many are in flight together (see the module docstring).
    hold_in_flight: int = 0
    hold_timeout_s: float = DEFAULT_HOLD_TIMEOUT_S


class _Rejected(Exception):
    """A request Meta would refuse; carries the Graph error to answer with."""

    def __init__(self, code: int, details: str, *, status: int = 400, subcode: int | None = None) -> None:
        super().__init__(details)
        self.code = code
        self.details = details
        self.status = status
        self.subcode = subcode


def graph_error_body(
    code: int, *, message: str | None = None, details: str | None = None, subcode: int | None = None
) -> dict[str, Any]:
    """A Meta-shaped error body: `{"error": {"message", "type", "code", "error_subcode", "fbtrace_id", ...}}`."""
    error: dict[str, Any] = {
        "message": message or MESSAGE_FOR_CODE.get(code, f"(#{code}) Error"),
        "type": "OAuthException",
        "code": code,
        "error_subcode": subcode,
        "fbtrace_id": "A" + uuid.uuid4().hex[:22],
    }
    if details:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details}
    return {"error": error}


# --- validation, straight from the JSON -------------------------------------------------------------


def _obj(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Rejected(100, f"{where} must be a JSON object")
    return value


def _only(value: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise _Rejected(100, f"Unexpected key(s) {unknown} in {where}")


def _string(value: Any, where: str, *, max_len: int, min_len: int = 1) -> str:
    if not isinstance(value, str):
        raise _Rejected(100, f"{where} must be a string")
    if not min_len <= len(value) <= max_len:
        raise _Rejected(131009, f"{where} length invalid. Min length: {min_len}, Max length: {max_len}")
    return value


def _text_object(value: Any, where: str, *, max_len: int) -> None:
    obj = _obj(value, where)
    _only(obj, {"text"}, where)
    _string(obj.get("text"), f"{where}.text", max_len=max_len)


def _validate_text(content: dict[str, Any]) -> None:
    _only(content, {"body", "preview_url"}, "text")
    _string(content.get("body"), "text.body", max_len=4096)
    if "preview_url" in content and not isinstance(content["preview_url"], bool):
        raise _Rejected(100, "text.preview_url must be a boolean")


def _validate_media(content: dict[str, Any], media_type: str) -> None:
    _only(content, {"id", "link", "caption"}, media_type)
    if ("id" in content) == ("link" in content):
        raise _Rejected(100, f"{media_type} needs exactly one of id or link")
    if "link" in content:
        link = _string(content["link"], f"{media_type}.link", max_len=2048)
        if not link.startswith("https://") or len(link) <= len("https://"):
            raise _Rejected(131009, f"{media_type}.link must be an https URL")
    if "caption" in content:
        _string(content["caption"], f"{media_type}.caption", max_len=1024)


def _validate_interactive(content: dict[str, Any]) -> str:
    _only(content, {"type", "header", "body", "footer", "action"}, "interactive")
    kind = content.get("type")
    if kind not in ("button", "list"):
        raise _Rejected(100, "interactive.type must be 'button' or 'list' in this fake")
    if "header" in content:
        header = _obj(content["header"], "interactive.header")
        _only(header, {"type", "text"}, "interactive.header")
        if header.get("type") != "text":
            raise _Rejected(100, "interactive.header.type must be 'text' in this fake")
        _string(header.get("text"), "interactive.header.text", max_len=60)
    if "body" not in content:
        raise _Rejected(100, "interactive.body is required")
    _text_object(content["body"], "interactive.body", max_len=1024)
    if "footer" in content:
        _text_object(content["footer"], "interactive.footer", max_len=60)
    action = _obj(content.get("action"), "interactive.action")
    if kind == "button":
        _validate_button_action(action)
    else:
        _validate_list_action(action)
    return kind


def _validate_button_action(action: dict[str, Any]) -> None:
    _only(action, {"buttons"}, "interactive.action")
    buttons = action.get("buttons")
    if not isinstance(buttons, list) or not 1 <= len(buttons) <= 3:
        raise _Rejected(131009, "Buttons count invalid. Min: 1, Max: 3")
    ids: set[str] = set()
    titles: set[str] = set()
    for index, raw in enumerate(buttons):
        where = f"interactive.action.buttons[{index}]"
        button = _obj(raw, where)
        _only(button, {"type", "reply"}, where)
        if button.get("type") != "reply":
            raise _Rejected(100, f"{where}.type must be 'reply'")
        reply = _obj(button.get("reply"), f"{where}.reply")
        _only(reply, {"id", "title"}, f"{where}.reply")
        button_id = _string(reply.get("id"), f"{where}.reply.id", max_len=256)
        title = _string(reply.get("title"), f"{where}.reply.title", max_len=20)
        if button_id in ids:
            raise _Rejected(131009, "Button IDs must be unique")
        if title in titles:
            raise _Rejected(131009, "Button titles must be unique")
        ids.add(button_id)
        titles.add(title)


def _validate_list_action(action: dict[str, Any]) -> None:
    _only(action, {"button", "sections"}, "interactive.action")
    _string(action.get("button"), "interactive.action.button", max_len=20)
    sections = action.get("sections")
    if not isinstance(sections, list) or not 1 <= len(sections) <= 10:
        raise _Rejected(131009, "Sections count invalid. Min: 1, Max: 10")
    row_ids: set[str] = set()
    total_rows = 0
    for s_index, raw_section in enumerate(sections):
        where = f"interactive.action.sections[{s_index}]"
        section = _obj(raw_section, where)
        _only(section, {"title", "rows"}, where)
        if "title" in section:
            _string(section["title"], f"{where}.title", max_len=24)
        elif len(sections) > 1:
            raise _Rejected(131009, f"{where}.title is required when there is more than one section")
        rows = section.get("rows")
        if not isinstance(rows, list) or not rows:
            raise _Rejected(131009, f"{where}.rows must hold at least one row")
        for r_index, raw_row in enumerate(rows):
            row_where = f"{where}.rows[{r_index}]"
            row = _obj(raw_row, row_where)
            _only(row, {"id", "title", "description"}, row_where)
            row_id = _string(row.get("id"), f"{row_where}.id", max_len=200)
            _string(row.get("title"), f"{row_where}.title", max_len=24)
            if "description" in row:
                _string(row["description"], f"{row_where}.description", max_len=72)
            if row_id in row_ids:
                raise _Rejected(131009, "Row IDs must be unique across sections")
            row_ids.add(row_id)
        total_rows += len(rows)
    if total_rows > 10:
        raise _Rejected(131009, f"Total row count exceed max allowed count: 10 (got {total_rows})")


def _validate_recipient(body: dict[str, Any]) -> dict[str, str]:
    """The response's `contacts[0]`; `to` (phone) wins over `recipient` (business-scoped user id)."""
    if "to" in body:
        to = body["to"]
        if not isinstance(to, str) or not to.strip():
            raise _Rejected(100, "to must be a non-empty string")
        digits = PHONE_CHARS.sub("", to)
        if not digits.isdigit() or not 5 <= len(digits) <= 20:
            raise _Rejected(100, "to must be a phone number")
        return {"input": to, "wa_id": digits}
    if "recipient" in body:
        user_id = body["recipient"]
        if not isinstance(user_id, str) or not BSUID.match(user_id):
            raise _Rejected(100, "recipient must be a business-scoped user id like 'US.13491208655302741918'")
        return {"input": user_id, "user_id": user_id}
    raise _Rejected(100, "The parameter to or recipient is required.")


def validate_send(body: dict[str, Any]) -> tuple[str, dict[str, str]]:
    """Check a message send; returns (message type, contact) or raises `_Rejected` as Meta would."""
    message_type = body.get("type", "text")
    if message_type not in CONTENT_TYPES:
        raise _Rejected(100, f"type '{message_type}' is not one this fake accepts ({sorted(CONTENT_TYPES)})")
    _only(body, SEND_KEYS | {message_type}, "the request")
    if body.get("recipient_type", "individual") != "individual":
        raise _Rejected(100, "recipient_type must be 'individual'")
    contact = _validate_recipient(body)
    if message_type not in body:
        raise _Rejected(100, f"The parameter {message_type} is required.")
    content = _obj(body[message_type], message_type)
    if message_type == "text":
        _validate_text(content)
        return "text", contact
    if message_type == "interactive":
        return _validate_interactive(content), contact
    _validate_media(content, message_type)
    return message_type, contact


def validate_read(body: dict[str, Any]) -> None:
    """Check a mark-as-read (with optional typing indicator) request."""
    _only(body, READ_KEYS, "the request")
    if body.get("status") != "read":
        raise _Rejected(100, "status must be 'read'")
    message_id = body.get("message_id")
    if not isinstance(message_id, str) or not message_id:
        raise _Rejected(100, "The parameter message_id is required.")
    if "typing_indicator" in body and body["typing_indicator"] != {"type": "text"}:
        raise _Rejected(100, "typing_indicator must be {'type': 'text'}")


# --- the server -------------------------------------------------------------------------------------


class _State:
    """Everything the server remembers; touched only from its event loop, so it needs no locks."""

    def __init__(self, config: FakeGraphConfig) -> None:
        self.initial = FakeGraphConfig(**asdict(config))
        self.reset()

    def reset(self) -> None:
        self.config = FakeGraphConfig(**asdict(self.initial))
        self.records: deque[dict[str, Any]] = deque(maxlen=self.config.max_records)
        self.script: deque[Any] = deque(self.config.script)
        self.rng = random.Random(self.config.seed)
        self.stats: Counter[str] = Counter()
        self.sequence = itertools.count(1)
        self.gate = InFlightGate()

    def configure(self, changes: dict[str, Any]) -> None:
        known = {f.name for f in fields(FakeGraphConfig)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ValueError(f"unknown config keys {unknown}")
        for key, value in changes.items():
            setattr(self.config, key, value)
        if "script" in changes:
            self.script = deque(changes["script"] or [])
        if "seed" in changes:
            self.rng = random.Random(changes["seed"])
        if "max_records" in changes:
            self.records = deque(self.records, maxlen=self.config.max_records)

    def next_injected(self) -> dict[str, Any] | None:
        """The failure to inject into this request, if any: the script first, then the error rate."""
        if self.script:
            entry = self.script.popleft()
            if entry is None or entry == 0 or entry == "ok":
                return None
            return entry if isinstance(entry, dict) else {"code": int(entry)}
        if self.config.error_rate > 0 and self.rng.random() < self.config.error_rate:
            return {"code": self.rng.choice(self.config.error_codes)}
        return None


STATE_KEY = web.AppKey("state", _State)


def _injected_response(entry: dict[str, Any], config: FakeGraphConfig) -> tuple[int, dict[str, Any], dict[str, str]]:
    code = int(entry["code"])
    status = int(entry.get("status") or DEFAULT_STATUS_FOR_CODE.get(code, 400))
    body = graph_error_body(code, message=entry.get("message"), subcode=entry.get("subcode"))
    retry_after = entry.get("retry_after", config.retry_after_s if status == 429 else None)
    headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
    return status, body, headers


async def _handle_messages(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    config = state.config
    received_at = time.time()
    record: dict[str, Any] = {
        "id": next(state.sequence),
        "method": request.method,
        "path": request.path,
        "received_at": received_at,
        "kind": "invalid",
        "type": None,
        "json": None,
        "injected": False,
    }
    state.records.append(record)
    state.stats["received"] += 1
    headers: dict[str, str] = {}
    raw = await request.read()
    try:
        await state.gate.hold(count=int(config.hold_in_flight), timeout_s=float(config.hold_timeout_s))
        status, body, headers = _answer(request, raw, record, state)
    except HoldTimedOut as exc:
        status, body = 400, graph_error_body(1, message="fake Graph hold timed out", details=str(exc))
    except _Rejected as rejected:
        status = rejected.status
        body = graph_error_body(rejected.code, details=rejected.details, subcode=rejected.subcode)
    if config.latency_ms > 0:
        await asyncio.sleep(config.latency_ms / 1000)
    record["response"] = {"status": status, "body": body}
    record["responded_at"] = time.time()
    state.stats["accepted" if status == 200 else "rejected"] += 1
    return web.json_response(body, status=status, headers=headers)


def _answer(
    request: web.Request, raw: bytes, record: dict[str, Any], state: _State
) -> tuple[int, dict[str, Any], dict[str, str]]:
    config = state.config
    path = MESSAGES_PATH.match(request.path)
    if path is None:
        raise _Rejected(2500, f"Unknown path components: {request.path}")
    authorization = request.headers.get("Authorization", "")
    if authorization != f"Bearer {config.access_token}":
        raise _Rejected(190, "missing or wrong bearer token", status=401)
    if config.phone_number_id is not None and path["phone_number_id"] != config.phone_number_id:
        raise _Rejected(100, "Unsupported post request. Object with ID does not exist", subcode=33)
    try:
        body = json.loads(raw)
    except ValueError as exc:
        record["raw"] = raw[:2000].decode("utf-8", "replace")
        raise _Rejected(100, "request body must be a JSON object") from exc
    record["json"] = body
    if not isinstance(body, dict):
        raise _Rejected(100, "request body must be a JSON object")
    if body.get("messaging_product") != "whatsapp":
        raise _Rejected(100, "messaging_product must be 'whatsapp'")
    is_read = "status" in body
    record["kind"] = "read" if is_read else "message"
    injected = state.next_injected()
    if injected is not None:
        record["injected"] = True
        state.stats["injected"] += 1
        return _injected_response(injected, config)
    if is_read:
        validate_read(body)
        return 200, {"success": True}, {}
    message_type, contact = validate_send(body)
    record["type"] = message_type
    state.stats[f"sent_{message_type}"] += 1
    wamid = "wamid.FAKE" + uuid.uuid4().hex.upper()
    return 200, {"messaging_product": "whatsapp", "contacts": [contact], "messages": [{"id": wamid}]}, {}


async def _get_requests(request: web.Request) -> web.Response:
    records = list(request.app[STATE_KEY].records)
    kind = request.query.get("kind")
    if kind:
        records = [record for record in records if record["kind"] == kind]
    return web.json_response(records)


async def _delete_requests(request: web.Request) -> web.Response:
    request.app[STATE_KEY].records.clear()
    return web.json_response({"cleared": True})


async def _get_config(request: web.Request) -> web.Response:
    return web.json_response(asdict(request.app[STATE_KEY].config))


async def _post_config(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    try:
        state.configure(await request.json())
    except (ValueError, TypeError) as exc:
        return web.json_response({"error": str(exc)}, status=400)
    return web.json_response(asdict(state.config))


async def _post_reset(request: web.Request) -> web.Response:
    request.app[STATE_KEY].reset()
    return web.json_response({"reset": True})


async def _get_stats(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    return web.json_response({**state.stats, "recorded": len(state.records), "script_left": len(state.script)})


def build_app(config: FakeGraphConfig | None = None) -> web.Application:
    """The aiohttp application; tests normally use `running_graph_server` instead."""
    app = web.Application(client_max_size=4 * 1024 * 1024)
    app[STATE_KEY] = _State(config or FakeGraphConfig())
    app.router.add_get("/_fake/requests", _get_requests)
    app.router.add_delete("/_fake/requests", _delete_requests)
    app.router.add_get("/_fake/config", _get_config)
    app.router.add_post("/_fake/config", _post_config)
    app.router.add_post("/_fake/reset", _post_reset)
    app.router.add_get("/_fake/stats", _get_stats)
    app.router.add_post("/{tail:.*}", _handle_messages)
    return app


async def start_server(config: FakeGraphConfig, *, host: str = "127.0.0.1", port: int = 0) -> web.AppRunner:
    """Start listening (port 0 picks a free one; read it from `runner.addresses`)."""
    runner = web.AppRunner(build_app(config), access_log=None)
    await runner.setup()
    # A deep accept backlog so hundreds of clients connecting at once are queued, not refused.
    site = web.TCPSite(runner, host, port, backlog=2048, reuse_address=True)
    await site.start()
    return runner


# --- Python-side handle -----------------------------------------------------------------------------


class FakeGraph:
    """Talks to a running fake (in this process or another) through its control endpoints."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, timeout=10.0)

    def requests(self, kind: str | None = None) -> list[dict[str, Any]]:
        """Every recorded request (oldest first), optionally only `kind` 'message', 'read' or 'invalid'."""
        params = {"kind": kind} if kind else None
        response = self._http.get("/_fake/requests", params=params)
        response.raise_for_status()
        return response.json()

    def sent_messages(self) -> list[dict[str, Any]]:
        """JSON bodies of the message sends the fake accepted (read receipts and rejected sends excluded)."""
        return [r["json"] for r in self.requests(kind="message") if r.get("response", {}).get("status") == 200]

    def read_receipts(self) -> list[dict[str, Any]]:
        """JSON bodies of the mark-as-read requests the fake accepted."""
        return [r["json"] for r in self.requests(kind="read") if r.get("response", {}).get("status") == 200]

    def wait_for_sent(self, count: int, *, timeout_s: float = 10.0) -> list[dict[str, Any]]:
        """Poll until at least `count` sends were accepted (for tests driving real Celery workers)."""
        deadline = time.monotonic() + timeout_s
        while True:
            sent = self.sent_messages()
            if len(sent) >= count or time.monotonic() >= deadline:
                return sent
            time.sleep(0.05)

    def configure(self, **changes: Any) -> dict[str, Any]:
        """Change latency_ms, error_rate, error_codes, retry_after_s, script, access_token, ... at run time."""
        response = self._http.post("/_fake/config", json=changes)
        response.raise_for_status()
        return response.json()

    def config(self) -> dict[str, Any]:
        response = self._http.get("/_fake/config")
        response.raise_for_status()
        return response.json()

    def stats(self) -> dict[str, Any]:
        """Counters: received, accepted, rejected, injected, sent_<type>, recorded, script_left."""
        response = self._http.get("/_fake/stats")
        response.raise_for_status()
        return response.json()

    def reset(self) -> None:
        """Forget every request and return to the configuration the server started with."""
        self._http.post("/_fake/reset").raise_for_status()

    def close(self) -> None:
        self._http.close()


@contextlib.contextmanager
def running_graph_server(*, host: str = "127.0.0.1", port: int = 0, **config: Any) -> Iterator[FakeGraph]:
    """Run the fake on its own event loop in a background thread for the duration of the block.

    Keyword arguments are `FakeGraphConfig` fields (access_token, phone_number_id, latency_ms, ...).
    """
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict[str, Any] = {}

    def serve() -> None:
        asyncio.set_event_loop(loop)
        try:
            holder["runner"] = loop.run_until_complete(start_server(FakeGraphConfig(**config), host=host, port=port))
        except Exception as exc:  # handed to the caller's thread below
            holder["error"] = exc
            ready.set()
            return
        ready.set()
        loop.run_forever()
        loop.run_until_complete(holder["runner"].cleanup())
        loop.close()

    thread = threading.Thread(target=serve, name="fake-graph-server", daemon=True)
    thread.start()
    ready.wait(timeout=10)
    if "error" in holder:
        raise holder["error"]
    if "runner" not in holder:
        raise RuntimeError("fake Graph server did not start within 10 s")
    bound_host, bound_port = holder["runner"].addresses[0][:2]
    graph = FakeGraph(f"http://{bound_host}:{bound_port}")
    try:
        yield graph
    finally:
        graph.close()
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)


async def _serve_forever(config: FakeGraphConfig, host: str, port: int) -> None:
    runner = await start_server(config, host=host, port=port)
    bound_host, bound_port = runner.addresses[0][:2]
    log.info(
        "fake_graph_listening url=http://%s:%s latency_ms=%s error_rate=%s",
        bound_host,
        bound_port,
        config.latency_ms,
        config.error_rate,
    )
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Fake WhatsApp Cloud (Graph) API server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8091)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--error-rate", type=float, default=0.0, help="fraction of Graph POSTs that fail")
    parser.add_argument("--error-codes", default="130429,131000", help="comma-separated codes to inject")
    parser.add_argument("--access-token", default="local-access-token", help="the bearer token to require")
    parser.add_argument("--phone-number-id", default=None, help="only accept this id in the path")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--max-records", type=int, default=100_000)
    args = parser.parse_args(argv)
    # The project's log format and clock (UTC), like every process `make run` starts.
    configure_logging(json=False)
    config = FakeGraphConfig(
        access_token=args.access_token,
        phone_number_id=args.phone_number_id,
        latency_ms=args.latency_ms,
        error_rate=args.error_rate,
        error_codes=[int(code) for code in args.error_codes.split(",") if code.strip()],
        seed=args.seed,
        max_records=args.max_records,
    )
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_serve_forever(config, args.host, args.port))
    except OSError as exc:
        # A taken port is a one-line error and a non-zero exit, never a traceback that looks like a crash.
        raise SystemExit(f"fake Graph server: cannot listen on {args.host}:{args.port}: {exc.strerror}") from None


if __name__ == "__main__":
    main()
