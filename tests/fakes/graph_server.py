"""A fake WhatsApp Cloud (Graph) API: a real asyncio HTTP server that validates sends the way Meta does.

It checks every `POST /vNN.N/<phone_number_id>/messages` independently of our payload models (straight
from the JSON, so it catches their bugs), answers Meta-shaped successes and errors, records every
request, and can add latency and inject failures. Use it three ways:

- in tests: the `fake_graph` fixture (tests/fakes/graph_fixtures.py) or `with running_graph_server() as graph:`;
- by hand or under load: `python -m tests.fakes.graph_server --port 8091 --latency-ms 50 --error-rate 0.0`;
- from anything with an HTTP client: `GET/DELETE /_fake/requests`, `GET/POST /_fake/config`,
  `GET /_fake/stats`, `POST /_fake/reset`, `GET/DELETE /_fake/webhooks`. `FakeGraph(base_url)` wraps
  those for Python callers.

`hold_in_flight=N` (config) holds every Graph POST until N are in flight together, then answers them all:
a test proves requests overlap without timing anything. Past `hold_timeout_s` a held request gets a
400 whose details say how many arrived.

Media as Meta serves it: `POST /vNN.N/<phone_number_id>/media` (multipart upload) or `POST /_fake/media`
store a file; `GET /vNN.N/<media_id>` answers its short-lived URL, fetched with the bearer token
(`media_expired_fetches` answers the next fetches 404, as an expired URL does).

Like Meta it also serves `GET /vNN.N/<waba_id>/message_templates` (paged) from its configured
templates, accepts template sends only for an approved template with the right parameters, enforces
the per-number throughput (130429) and the per-recipient pair limit (131056) when configured, and
reports what happens after an accepted send as status webhooks (`sent`/`delivered` with a `pricing`
object, or `failed` with 131047 and friends): signed and posted to `webhook_url`, or kept in an outbox.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import hmac
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
TEMPLATES_PATH = re.compile(r"^/v\d+\.\d+/(?P<waba_id>[^/]+)/message_templates$")
PLACEHOLDER = re.compile(r"\{\{\s*(\d+)\s*\}\}")
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
    131049: "This message was not delivered to maintain healthy ecosystem engagement.",
    131050: "Unable to deliver the message. This recipient has chosen to stop receiving marketing messages.",
    132000: "(#132000) Number of parameters does not match the expected number of params",
    132001: "(#132001) Template name does not exist in the translation",
    132005: "(#132005) Translated text too long",
    132015: "(#132015) Template is Paused",
    132016: "(#132016) Template is Disabled",
    132018: "(#132018) There was an issue with the parameters in your template.",
}
# Titles Meta puts on the errors of a `failed` status webhook.
STATUS_ERROR_TITLE = {
    131026: "Message undeliverable",
    131047: "Re-engagement message",
    131049: "This message was not delivered to maintain healthy ecosystem engagement.",
    131050: "User has stopped marketing messages",
}
STATUS_ERROR_DETAILS = {
    131047: "Message failed to send because more than 24 hours have passed since the customer last replied.",
}
# What `make run` and the chat demo can send outside the window without configuring anything.
DEMO_TEMPLATES: list[dict[str, Any]] = [
    {
        "id": "900000000000001",
        "name": "resposta_atendimento",
        "language": "pt_BR",
        "status": "APPROVED",
        "category": "UTILITY",
        "components": [{"type": "BODY", "text": "Olá, {{1}}! Retomando o seu atendimento: {{2}}"}],
    },
    {
        "id": "900000000000002",
        "name": "aviso_transferencia",
        "language": "pt_BR",
        "status": "APPROVED",
        "category": "UTILITY",
        "components": [{"type": "BODY", "text": "Olá! Uma pessoa da equipe da {{1}} vai continuar o seu atendimento."}],
    },
    {
        "id": "900000000000003",
        "name": "retomada_contato",
        "language": "pt_BR",
        "status": "APPROVED",
        "category": "UTILITY",
        "components": [{"type": "BODY", "text": "Olá, {{1}}! Aqui é a equipe da {{2}}: {{3}}"}],
    },
]

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
CONTENT_TYPES = {"text", "interactive", "image", "video", "template"}


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
    # Which POSTs the script and the error rate apply to: "message" (sends), "read" (read receipts), or
    # None for every POST — a Graph outage of sends alone, say, while read receipts pass.
    inject_into: str | None = None
    seed: int | None = None
    # The recording is a ring buffer, so a long load test cannot exhaust memory.
    max_records: int = 100_000
    # > 1: hold each Graph POST until this many are in flight together (see the module docstring).
    hold_in_flight: int = 0
    hold_timeout_s: float = DEFAULT_HOLD_TIMEOUT_S
    # The business account's templates, as `GET /{WABA-ID}/message_templates` lists them.
    templates: list[dict[str, Any]] = field(default_factory=lambda: [dict(t) for t in DEMO_TEMPLATES])
    # None accepts any WABA id in the templates path.
    business_account_id: str | None = None
    # Meta's throughput per business number (sends per second, sliding 1 s); past it: 130429. None: no limit.
    throughput_per_s: float | None = None
    # The pair limit as Meta describes it: one send to a recipient per `pair_interval_s`, bursts of up to
    # `pair_burst` that must then be paid back by waiting (a token bucket); past it 131056. None: no limit.
    pair_interval_s: float | None = None
    pair_burst: int = 1
    # How early a send may arrive against both limits: the travel and scheduling time between a sender's
    # slot and its request reaching the server (Meta counts at arrival and is not exact to the millisecond).
    pacing_jitter_s: float = 0.0
    # What happens after the next accepted sends, one entry each: None (delivered) or an error code for a
    # `failed` status webhook (131047, 131026, 131049, 131050…).
    async_failures: list[Any] = field(default_factory=list)
    # Report `sent` and `delivered` statuses (with a `pricing` object) for every accepted send.
    emit_statuses: bool = False
    status_delay_ms: float = 0.0
    # Where status webhooks go, signed with `app_secret` like Meta's; None keeps them in the outbox.
    webhook_url: str | None = None
    app_secret: str = "local-app-secret"
    # The next media downloads answered 404, as Meta answers an expired media URL.
    media_expired_fetches: int = 0


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


def _template_body(template: dict[str, Any]) -> str:
    for component in template.get("components") or []:
        if isinstance(component, dict) and str(component.get("type", "")).upper() == "BODY":
            return str(component.get("text") or "")
    return ""


def _validate_template(content: dict[str, Any], templates: list[dict[str, Any]]) -> dict[str, Any]:
    """Check a template send against the account's templates; returns the template used."""
    _only(content, {"name", "language", "components"}, "template")
    name = _string(content.get("name"), "template.name", max_len=512)
    language = _obj(content.get("language"), "template.language")
    _only(language, {"policy", "code"}, "template.language")
    if language.get("policy", "deterministic") != "deterministic":
        raise _Rejected(100, "template.language.policy must be 'deterministic'")
    code = _string(language.get("code"), "template.language.code", max_len=16)
    template = next((t for t in templates if t.get("name") == name and t.get("language") == code), None)
    status = str(template.get("status", "")).upper() if template else ""
    if template is None or status not in {"APPROVED", "PAUSED", "DISABLED"}:
        raise _Rejected(132001, f"template name ({name}) does not exist in {code}")
    if status == "PAUSED":
        raise _Rejected(132015, f"template {name} is paused")
    if status == "DISABLED":
        raise _Rejected(132016, f"template {name} is disabled")
    body = _template_body(template)
    expected = len(set(PLACEHOLDER.findall(body)))
    components = content.get("components", [])
    if not isinstance(components, list):
        raise _Rejected(100, "template.components must be a list")
    values: list[str] = []
    for index, raw in enumerate(components):
        where = f"template.components[{index}]"
        component = _obj(raw, where)
        _only(component, {"type", "sub_type", "index", "parameters"}, where)
        if component.get("type") != "body":
            raise _Rejected(100, f"{where}.type: this fake fills only body parameters")
        parameters = component.get("parameters")
        if not isinstance(parameters, list):
            raise _Rejected(100, f"{where}.parameters must be a list")
        for p_index, raw_parameter in enumerate(parameters):
            p_where = f"{where}.parameters[{p_index}]"
            parameter = _obj(raw_parameter, p_where)
            _only(parameter, {"type", "text"}, p_where)
            if parameter.get("type") != "text":
                raise _Rejected(100, f"{p_where}.type must be 'text' in this fake")
            text = _string(parameter.get("text"), f"{p_where}.text", max_len=32768)
            if "\n" in text or "\t" in text or "     " in text or not text.strip():
                raise _Rejected(
                    132018, "Param text cannot have new-line/tab characters or more than 4 consecutive spaces"
                )
            values.append(text)
    if len(values) != expected:
        raise _Rejected(
            132000, f"body: number of localizable_params ({len(values)}) does not match the expected ({expected})"
        )
    rendered = PLACEHOLDER.sub(lambda match: values[int(match.group(1)) - 1], body)
    if len(rendered) > 1024:
        raise _Rejected(132005, f"the body is {len(rendered)} characters once filled in (max 1024)")
    return template


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


def validate_send(body: dict[str, Any], templates: list[dict[str, Any]] | None = None) -> tuple[str, dict[str, str]]:
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
    if message_type == "template":
        _validate_template(content, templates if templates is not None else DEMO_TEMPLATES)
        return "template", contact
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


def max_in_window(times: list[float], *, window_s: float) -> int:
    """The most events in any sliding window of `window_s` seconds (how a rate limit sees arrival times)."""
    ordered = sorted(times)
    best = start = 0
    for end, moment in enumerate(ordered):
        while ordered[start] <= moment - window_s:
            start += 1
        best = max(best, end - start + 1)
    return best


def pair_excess(times: list[float], *, interval_s: float, burst: int) -> int:
    """How many sends to one recipient broke its token bucket (interval, burst), replayed in arrival order."""
    tolerance, tat, excess = interval_s * (burst - 1), 0.0, 0
    for moment in sorted(times):
        tat = max(tat, moment)
        if tat - moment > tolerance + 1e-3:
            excess += 1
            continue
        tat += interval_s
    return excess


class _State:
    """Everything the server remembers; touched only from its event loop, so it needs no locks."""

    def __init__(self, config: FakeGraphConfig) -> None:
        self.initial = FakeGraphConfig(**asdict(config))
        # One client for every status webhook, kept across resets: a client per post built a TLS context
        # and a connection each time, and cost the fake 40 % of a core at 5 replies/s in the fault run.
        self.webhook_client: httpx.AsyncClient | None = None
        self.reset()

    def reset(self) -> None:
        self.config = FakeGraphConfig(**asdict(self.initial))
        self.records: deque[dict[str, Any]] = deque(maxlen=self.config.max_records)
        self.script: deque[Any] = deque(self.config.script)
        self.rng = random.Random(self.config.seed)
        self.stats: Counter[str] = Counter()
        self.sequence = itertools.count(1)
        self.gate = InFlightGate()
        self.async_failures: deque[Any] = deque(self.config.async_failures)
        # Accepted sends' times (monotonic), per business number and per recipient, for the pacing limits.
        self.number_sends: dict[str, deque[float]] = {}
        # The pair limit's token bucket: per recipient, the "theoretical arrival time" of its next send.
        self.pair_tat: dict[str, float] = {}
        self.outbox: list[dict[str, Any]] = []
        self.webhook_tasks: set[asyncio.Task] = set()
        # Uploaded media by id: content and MIME type.
        self.media: dict[str, dict[str, Any]] = {}

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
        if "async_failures" in changes:
            self.async_failures = deque(changes["async_failures"] or [])
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

    def throttle(self, phone_number_id: str, recipient: str) -> None:
        """Refuse a send past the number's throughput (130429) or the pair limit (131056), as Meta does."""
        now = time.monotonic()
        config = self.config
        if config.throughput_per_s:
            sends = self.number_sends.setdefault(phone_number_id, deque())
            while sends and sends[0] <= now - 1.0 + config.pacing_jitter_s:
                sends.popleft()
            if len(sends) >= config.throughput_per_s:
                self.stats["throttled_130429"] += 1
                raise _Rejected(130429, "Rate limit hit: too many messages from this phone number", status=429)
        if config.pair_interval_s:
            tolerance = config.pair_interval_s * (max(config.pair_burst, 1) - 1)
            if max(self.pair_tat.get(recipient, now), now) - now > tolerance + config.pacing_jitter_s + 1e-6:
                self.stats["throttled_131056"] += 1
                raise _Rejected(131056, "pair rate limit hit: too many messages to this recipient")

    def count_send(self, phone_number_id: str, recipient: str) -> None:
        now = time.monotonic()
        if self.config.throughput_per_s:
            self.number_sends.setdefault(phone_number_id, deque()).append(now)
        if self.config.pair_interval_s:
            self.pair_tat[recipient] = max(self.pair_tat.get(recipient, now), now) + self.config.pair_interval_s

    def next_async_failure(self) -> int | None:
        if not self.async_failures:
            return None
        entry = self.async_failures.popleft()
        return int(entry) if entry else None


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
    injected = state.next_injected() if config.inject_into in (None, record["kind"]) else None
    if injected is not None:
        record["injected"] = True
        state.stats["injected"] += 1
        return _injected_response(injected, config)
    if is_read:
        validate_read(body)
        return 200, {"success": True}, {}
    message_type, contact = validate_send(body, config.templates)
    record["type"] = message_type
    recipient = contact.get("wa_id") or contact.get("user_id") or ""
    state.throttle(path["phone_number_id"], recipient)
    state.count_send(path["phone_number_id"], recipient)
    state.stats[f"sent_{message_type}"] += 1
    wamid = "wamid.FAKE" + uuid.uuid4().hex.upper()
    _schedule_statuses(state, body=body, contact=contact, wamid=wamid, phone_number_id=path["phone_number_id"])
    return 200, {"messaging_product": "whatsapp", "contacts": [contact], "messages": [{"id": wamid}]}, {}


def _pricing_category(body: dict[str, Any], templates: list[dict[str, Any]]) -> str:
    if body.get("type") != "template":
        return "service"
    template = body.get("template") or {}
    language = (template.get("language") or {}).get("code")
    for known in templates:
        if known.get("name") == template.get("name") and known.get("language") == language:
            return str(known.get("category", "utility")).lower()
    return "utility"


def status_webhook_body(
    *,
    wamid: str,
    status: str,
    contact: dict[str, str],
    phone_number_id: str,
    error_code: int | None = None,
    category: str = "service",
    callback_data: str | None = None,
) -> dict[str, Any]:
    """A Meta-shaped `messages` webhook carrying one status of an outbound message."""
    element: dict[str, Any] = {"id": wamid, "status": status, "timestamp": str(int(time.time()))}
    if callback_data:
        # Meta echoes the send's biz_opaque_callback_data in every status of that message.
        element["biz_opaque_callback_data"] = callback_data
    if "wa_id" in contact:
        element["recipient_id"] = contact["wa_id"]
    else:
        element["recipient_user_id"] = contact.get("user_id", "")
    if error_code is not None:
        error: dict[str, Any] = {
            "code": error_code,
            "title": STATUS_ERROR_TITLE.get(error_code, MESSAGE_FOR_CODE.get(error_code, "Error")),
            "message": STATUS_ERROR_TITLE.get(error_code, "Error"),
        }
        if error_code in STATUS_ERROR_DETAILS:
            error["error_data"] = {"details": STATUS_ERROR_DETAILS[error_code]}
        element["errors"] = [error]
    else:
        element["pricing"] = {"billable": True, "pricing_model": "PMP", "category": category, "type": "regular"}
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550000000", "phone_number_id": phone_number_id},
        "statuses": [element],
    }
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "WABA-FAKE", "changes": [{"field": "messages", "value": value}]}],
    }


def _schedule_statuses(
    state: _State, *, body: dict[str, Any], contact: dict[str, str], wamid: str, phone_number_id: str
) -> None:
    failure = state.next_async_failure()
    config = state.config
    if failure is None and not config.emit_statuses:
        return
    category = _pricing_category(body, config.templates)
    common = {
        "wamid": wamid,
        "contact": contact,
        "phone_number_id": phone_number_id,
        "category": category,
        "callback_data": body.get("biz_opaque_callback_data"),
    }
    bodies = [status_webhook_body(status="sent", **common)] if config.emit_statuses else []
    if failure is not None:
        bodies.append(status_webhook_body(status="failed", error_code=failure, **common))
    elif config.emit_statuses:
        bodies.append(status_webhook_body(status="delivered", **common))
    task = asyncio.get_running_loop().create_task(_deliver_statuses(state, bodies))
    state.webhook_tasks.add(task)
    task.add_done_callback(state.webhook_tasks.discard)


STATUS_WEBHOOK_ATTEMPTS = 6


async def _deliver_statuses(state: _State, bodies: list[dict[str, Any]]) -> None:
    """After the send's answer (and `status_delay_ms`): post each status webhook, signed, or keep it."""
    await asyncio.sleep(max(state.config.status_delay_ms, 1.0) / 1000)
    for body in bodies:
        raw = json.dumps(body).encode()
        signature = "sha256=" + hmac.new(state.config.app_secret.encode(), raw, hashlib.sha256).hexdigest()
        entry = {"body": body, "signature": signature, "posted": None}
        state.outbox.append(entry)
        state.stats["webhooks_emitted"] += 1
        if not state.config.webhook_url:
            continue
        # Like Meta, a webhook that did not get a 200 is posted again, with backoff (Meta keeps trying for days).
        for attempt in range(STATUS_WEBHOOK_ATTEMPTS):
            if state.webhook_client is None:
                state.webhook_client = httpx.AsyncClient(timeout=10.0)
            try:
                response = await state.webhook_client.post(
                    state.config.webhook_url,
                    content=raw,
                    headers={"Content-Type": "application/json", "X-Hub-Signature-256": signature},
                )
                entry["posted"] = response.status_code
            except httpx.HTTPError as exc:
                entry["posted"] = f"error: {type(exc).__name__}"
            if entry["posted"] == 200:
                break
            await asyncio.sleep(2.0**attempt)


async def _get_templates(request: web.Request) -> web.Response:
    """`GET /{WABA-ID}/message_templates`: Meta's paging with `limit` and an `after` cursor."""
    state = request.app[STATE_KEY]
    config = state.config
    path = TEMPLATES_PATH.match(request.path)
    if path is None:
        return web.json_response(graph_error_body(2500, details=f"Unknown path components: {request.path}"), status=400)
    if request.headers.get("Authorization", "") != f"Bearer {config.access_token}":
        return web.json_response(graph_error_body(190, details="missing or wrong bearer token"), status=401)
    if config.business_account_id is not None and path["waba_id"] != config.business_account_id:
        return web.json_response(graph_error_body(100, details="Object with ID does not exist", subcode=33), status=400)
    state.stats["template_lists"] += 1
    try:
        limit = max(1, min(int(request.query.get("limit", "25")), 1000))
        start = int(request.query.get("after", "0") or 0)
    except ValueError:
        return web.json_response(graph_error_body(100, details="limit and after must be integers"), status=400)
    page = config.templates[start : start + limit]
    body: dict[str, Any] = {
        "data": page,
        "paging": {"cursors": {"before": str(start), "after": str(start + len(page))}},
    }
    if start + limit < len(config.templates):
        body["paging"]["next"] = str(request.url.update_query({"after": str(start + limit), "limit": str(limit)}))
    return web.json_response(body)


async def _get_webhooks(request: web.Request) -> web.Response:
    return web.json_response(request.app[STATE_KEY].outbox)


async def _delete_webhooks(request: web.Request) -> web.Response:
    request.app[STATE_KEY].outbox.clear()
    return web.json_response({"cleared": True})


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


def _authorized(request: web.Request, state: _State) -> bool:
    token = state.config.access_token
    return not token or request.headers.get("Authorization") == f"Bearer {token}"


def _media_record(state: _State, request: web.Request, status: int) -> None:
    state.records.append(
        {
            "id": next(state.sequence),
            "method": request.method,
            "path": request.path,
            "received_at": time.time(),
            "kind": "media",
            "type": None,
            "json": None,
            "authorization": request.headers.get("Authorization", ""),
            "response": {"status": status},
        }
    )


def _store_media(state: _State, content: bytes, mime_type: str) -> str:
    media_id = str(1_000_000_000_000 + len(state.media) + 1) + uuid.uuid4().hex[:6]
    state.media[media_id] = {"content": content, "mime_type": mime_type}
    return media_id


async def _upload_media(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    if not _authorized(request, state):
        return web.json_response(graph_error_body(190, details="Invalid OAuth access token"), status=401)
    form = await request.post()
    upload = form.get("file")
    if not isinstance(upload, web.FileField) or form.get("messaging_product") != "whatsapp":
        return web.json_response(graph_error_body(100, details="file and messaging_product are required"), status=400)
    content = upload.file.read()
    media_id = _store_media(state, content, str(form.get("type") or upload.content_type))
    _media_record(state, request, 200)
    return web.json_response({"id": media_id})


async def _post_fake_media(request: web.Request) -> web.Response:
    body = await request.json()
    media_id = _store_media(request.app[STATE_KEY], base64.b64decode(body["content_b64"]), str(body["mime_type"]))
    return web.json_response({"id": media_id})


async def _get_media_info(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    media = state.media.get(request.match_info["media_id"])
    status = 200 if media is not None and _authorized(request, state) else (401 if media is not None else 400)
    _media_record(state, request, status)
    if status == 401:
        return web.json_response(graph_error_body(190, details="Invalid OAuth access token"), status=401)
    if media is None:
        return web.json_response(graph_error_body(100, details="Unsupported get request"), status=400)
    media_id = request.match_info["media_id"]
    return web.json_response(
        {
            "messaging_product": "whatsapp",
            "url": f"{request.scheme}://{request.host}/_fake/media/{media_id}/download",
            "mime_type": media["mime_type"],
            "sha256": hashlib.sha256(media["content"]).hexdigest(),
            "file_size": len(media["content"]),
            "id": media_id,
        }
    )


async def _download_media(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    media = state.media.get(request.match_info["media_id"])
    if state.config.media_expired_fetches > 0:
        state.config.media_expired_fetches -= 1
        _media_record(state, request, 404)
        return web.Response(status=404, text="URL expired")
    if not _authorized(request, state):
        _media_record(state, request, 401)
        return web.json_response(graph_error_body(190, details="Invalid OAuth access token"), status=401)
    if media is None:
        _media_record(state, request, 404)
        return web.Response(status=404, text="Not found")
    _media_record(state, request, 200)
    return web.Response(body=media["content"], content_type=media["mime_type"].split(";", 1)[0])


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
    app.router.add_get("/_fake/webhooks", _get_webhooks)
    app.router.add_delete("/_fake/webhooks", _delete_webhooks)
    app.router.add_get("/{tail:.*/message_templates}", _get_templates)
    app.router.add_post("/_fake/media", _post_fake_media)
    app.router.add_get("/_fake/media/{media_id}/download", _download_media)
    app.router.add_get(r"/{version:v\d+\.\d+}/{media_id}", _get_media_info)
    app.router.add_post(r"/{version:v\d+\.\d+}/{phone_number_id}/media", _upload_media)
    app.router.add_post("/{tail:.*}", _handle_messages)
    app.on_cleanup.append(_close_webhook_client)
    return app


async def _close_webhook_client(app: web.Application) -> None:
    client = app[STATE_KEY].webhook_client
    if client is not None:
        await client.aclose()


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

    def webhooks(self) -> list[dict[str, Any]]:
        """Status webhooks the fake emitted: `{"body", "signature", "posted"}` each, oldest first."""
        response = self._http.get("/_fake/webhooks")
        response.raise_for_status()
        return response.json()

    def wait_for_webhooks(self, count: int, *, timeout_s: float = 10.0) -> list[dict[str, Any]]:
        """Poll until at least `count` status webhooks were emitted (and posted, when a URL is set)."""
        deadline = time.monotonic() + timeout_s
        while True:
            emitted = self.webhooks()
            done = [hook for hook in emitted if hook["posted"] is not None or not self.config().get("webhook_url")]
            if len(done) >= count or time.monotonic() >= deadline:
                return emitted
            time.sleep(0.05)

    def add_media(self, content: bytes, *, mime_type: str) -> str:
        """Store a file the way a customer's upload would be; returns its media id."""
        response = self._http.post(
            "/_fake/media", json={"content_b64": base64.b64encode(content).decode(), "mime_type": mime_type}
        )
        response.raise_for_status()
        return str(response.json()["id"])

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
