"""Lenient models of Meta's webhook payload, flattened into the inbound messages and statuses it carries.

Every `entry[]`, `changes[]`, `messages[]` and `statuses[]` element is visited. Anything we cannot
read is returned as an `UnhandledChange` with its raw JSON instead of raising: Meta retries on any
non-200, and an unknown shape must never become a retry storm or a lost message.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

# Message types we understand; anything else is kept as "unsupported" with its raw element.
SUPPORTED_TYPES = frozenset(
    {
        "text",
        "interactive",
        "button",
        "image",
        "audio",
        "video",
        "document",
        "sticker",
        "location",
        "reaction",
        "contacts",
    }
)


TEMPLATE_STATUS_FIELD = "message_template_status_update"


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="allow")


class WebhookProfile(_Lenient):
    name: str = ""
    username: str | None = None


class WebhookContact(_Lenient):
    wa_id: str | None = None
    user_id: str | None = None
    profile: WebhookProfile | None = None


class WebhookStatus(_Lenient):
    id: str
    status: str
    timestamp: str | None = None
    recipient_id: str | None = None
    recipient_user_id: str | None = None
    errors: list[dict[str, Any]] = []


class WebhookMessage(_Lenient):
    id: str
    type: str = "unknown"
    timestamp: str | None = None
    # `from` is a phone-based wa_id; with 2026 usernames it may be absent and only a BSUID present.
    from_: str | None = None
    from_user_id: str | None = None


@dataclass(frozen=True)
class Sender:
    wa_id: str | None
    user_id: str | None
    profile_name: str


@dataclass(frozen=True)
class InboundMessage:
    wamid: str
    type: str
    text: str
    sender: Sender
    sent_at: datetime | None
    raw: dict[str, Any]
    supported: bool
    unsupported_reason: str = ""


@dataclass(frozen=True)
class StatusUpdate:
    wamid: str
    status: str
    timestamp: datetime | None
    errors: list[dict[str, Any]]
    raw: dict[str, Any]


@dataclass(frozen=True)
class UnhandledChange:
    field: str
    reason: str
    raw: Any


@dataclass(frozen=True)
class TemplateStatusChange:
    """A `message_template_status_update` change: a template was approved, rejected, paused, disabled…"""

    graph_id: str
    name: str
    language: str
    event: str
    reason: str
    raw: dict[str, Any]


@dataclass
class ParsedWebhook:
    messages: list[InboundMessage] = field(default_factory=list)
    statuses: list[StatusUpdate] = field(default_factory=list)
    unhandled: list[UnhandledChange] = field(default_factory=list)
    template_updates: list[TemplateStatusChange] = field(default_factory=list)


def _timestamp(value: str | None) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value), tz=UTC) if value else None
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def extract_text(element: dict[str, Any]) -> str:
    """The customer's words in a message element, whatever its type (empty when it has none)."""
    kind = element.get("type")
    body: Any = element.get(kind) if isinstance(kind, str) else None
    if not isinstance(body, dict):
        body = {}
    if kind == "text":
        return str(body.get("body", ""))
    if kind == "interactive":
        reply = body.get("button_reply") or body.get("list_reply") or body.get("nfm_reply") or {}
        if isinstance(reply, dict):
            return " — ".join(str(reply[k]) for k in ("title", "description") if reply.get(k))
        return ""
    if kind == "button":
        return str(body.get("text") or body.get("payload") or "")
    if kind in {"image", "video", "document"}:
        return str(body.get("caption") or body.get("filename") or "")
    if kind == "location":
        parts = [body.get("name"), body.get("address")]
        return ", ".join(str(p) for p in parts if p) or f"{body.get('latitude')},{body.get('longitude')}"
    if kind == "reaction":
        return str(body.get("emoji") or "")
    return ""


def _sender_for(message: WebhookMessage, contacts: list[WebhookContact]) -> Sender:
    match = None
    for contact in contacts:
        if (message.from_user_id and contact.user_id == message.from_user_id) or (
            message.from_ and contact.wa_id == message.from_
        ):
            match = contact
            break
    if match is None and len(contacts) == 1:
        match = contacts[0]
    profile_name = match.profile.name if match and match.profile else ""
    return Sender(
        wa_id=message.from_ or (match.wa_id if match else None),
        user_id=message.from_user_id or (match.user_id if match else None),
        profile_name=profile_name,
    )


def _parse_message(element: dict[str, Any], contacts: list[WebhookContact]) -> InboundMessage | UnhandledChange:
    try:
        message = WebhookMessage.model_validate({**element, "from_": element.get("from")})
    except ValidationError as exc:
        return UnhandledChange(field="messages", reason=f"unreadable message: {exc.error_count()} errors", raw=element)
    sender = _sender_for(message, contacts)
    if not sender.wa_id and not sender.user_id:
        return UnhandledChange(field="messages", reason="message without a sender id", raw=element)
    supported = message.type in SUPPORTED_TYPES
    reason = ""
    if not supported:
        errors = element.get("errors") or []
        detail = errors[0].get("title") or errors[0].get("message") if errors and isinstance(errors[0], dict) else ""
        reason = f"unsupported type {message.type}" + (f": {detail}" if detail else "")
    return InboundMessage(
        wamid=message.id,
        type=message.type if supported else "unsupported",
        text=extract_text(element) if supported else "",
        sender=sender,
        sent_at=_timestamp(message.timestamp),
        raw=element,
        supported=supported,
        unsupported_reason=reason,
    )


def _parse_status(element: dict[str, Any]) -> StatusUpdate | UnhandledChange:
    try:
        status = WebhookStatus.model_validate(element)
    except ValidationError as exc:
        return UnhandledChange(field="statuses", reason=f"unreadable status: {exc.error_count()} errors", raw=element)
    return StatusUpdate(
        wamid=status.id,
        status=status.status,
        timestamp=_timestamp(status.timestamp),
        errors=status.errors,
        raw=element,
    )


def _elements(value: dict[str, Any], key: str) -> list[Any]:
    items = value.get(key) or []
    return items if isinstance(items, list) else [items]


def parse_webhook(payload: Any) -> ParsedWebhook:
    """Flatten a webhook body into messages, statuses and what we do not handle. Never raises."""
    parsed = ParsedWebhook()
    if not isinstance(payload, dict):
        parsed.unhandled.append(UnhandledChange(field="", reason="body is not a JSON object", raw=payload))
        return parsed
    entries = payload.get("entry")
    if not isinstance(entries, list) or not entries:
        parsed.unhandled.append(UnhandledChange(field="", reason="no entry list", raw=payload))
        return parsed
    for entry in entries:
        changes = entry.get("changes") if isinstance(entry, dict) else None
        if not isinstance(changes, list):
            parsed.unhandled.append(UnhandledChange(field="", reason="entry without changes", raw=entry))
            continue
        for change in changes:
            _parse_change(change, parsed)
    return parsed


def _parse_change(change: Any, parsed: ParsedWebhook) -> None:
    if not isinstance(change, dict) or not isinstance(change.get("value"), dict):
        parsed.unhandled.append(UnhandledChange(field="", reason="change without a value object", raw=change))
        return
    field_name = str(change.get("field", ""))
    value = change["value"]
    if field_name == TEMPLATE_STATUS_FIELD and value.get("event") and value.get("message_template_name"):
        parsed.template_updates.append(
            TemplateStatusChange(
                graph_id=str(value.get("message_template_id") or ""),
                name=str(value["message_template_name"]),
                language=str(value.get("message_template_language") or ""),
                event=str(value["event"]),
                reason=str(value.get("reason") or ""),
                raw=change,
            )
        )
        return
    if field_name != "messages":
        parsed.unhandled.append(
            UnhandledChange(field=field_name, reason=f"field {field_name!r} not handled", raw=change)
        )
        return
    contacts = []
    for raw_contact in _elements(value, "contacts"):
        try:
            contacts.append(WebhookContact.model_validate(raw_contact))
        except ValidationError:
            continue  # a malformed contact only costs us the profile name; the message still counts
    for element in _elements(value, "messages"):
        if not isinstance(element, dict):
            parsed.unhandled.append(UnhandledChange(field="messages", reason="message is not an object", raw=element))
            continue
        message = _parse_message(element, contacts)
        if isinstance(message, UnhandledChange):
            parsed.unhandled.append(message)
        else:
            parsed.messages.append(message)
    for element in _elements(value, "statuses"):
        if not isinstance(element, dict):
            parsed.unhandled.append(UnhandledChange(field="statuses", reason="status is not an object", raw=element))
            continue
        status = _parse_status(element)
        if isinstance(status, UnhandledChange):
            parsed.unhandled.append(status)
        else:
            parsed.statuses.append(status)
    known = {"messaging_product", "metadata", "contacts", "messages", "statuses"}
    if not value.get("messages") and not value.get("statuses") and set(value) - known:
        parsed.unhandled.append(
            UnhandledChange(field=field_name, reason="messages change with unknown content", raw=change)
        )
