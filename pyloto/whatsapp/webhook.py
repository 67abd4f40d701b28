"""Lenient models of Meta's webhook payload, flattened into the elements it carries.

Every `entry[]`, `changes[]`, `messages[]`, `statuses[]` and event element is visited. Anything we
cannot read is returned as an `UnhandledChange` with its raw JSON instead of raising: Meta retries on
any non-200, and an unknown shape must never become a retry storm or a lost message. Every element
keeps `source`, a minimal webhook change holding only that element (and its contacts), which is what
a quarantined element is stored as and replayed from.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

# Message types we read; anything else is kept as "unsupported" with its raw element.
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
        "order",
        "system",
        "request_welcome",
    }
)
MEDIA_TYPES = frozenset({"image", "audio", "video", "document", "sticker"})
# System message types that change who the sender is (number change, BSUID change).
IDENTITY_SYSTEM_TYPES = frozenset({"user_changed_number", "user_changed_user_id", "customer_changed_number"})
# Non-`messages` fields recorded for the ops view (templates, account, calls, groups, ...).
OPS_FIELDS = frozenset(
    {
        "account_alerts",
        "account_review_update",
        "account_update",
        "automatic_events",
        "business_capability_update",
        "business_status_update",
        "business_username_update",
        "calls",
        "flows",
        "group_lifecycle_update",
        "group_participants_update",
        "group_settings_update",
        "group_status_update",
        "history",
        "message_template_components_update",
        "message_template_quality_update",
        "message_template_status_update",
        "messaging_handovers",
        "partner_solutions",
        "payment_configuration_update",
        "phone_number_name_update",
        "phone_number_quality_update",
        "security",
        "smb_app_state_sync",
        "template_category_update",
        "tracking_events",
    }
)

TEMPLATE_STATUS_FIELD = "message_template_status_update"

# PostgreSQL refuses NUL in text and jsonb, and a lone UTF-16 surrogate cannot be encoded as UTF-8.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def pg_safe(value: Any) -> Any:
    """`value` (parsed JSON) with every string PostgreSQL can store: NUL dropped, lone surrogates replaced.

    Keys are cleaned too, and non-finite floats (`NaN`, `Infinity`, which Python's JSON parser accepts
    but jsonb refuses) become strings. Iterative, so a deeply nested body cannot exhaust the stack.
    """
    root: list[Any] = [value]
    stack: list[tuple[Any, Any]] = [(root, 0)]
    while stack:
        container, key = stack.pop()
        item = container[key]
        if isinstance(item, str):
            container[key] = clean_text(item)
        elif isinstance(item, float) and not math.isfinite(item):
            container[key] = str(item)
        elif isinstance(item, list):
            copy = list(item)
            container[key] = copy
            stack.extend((copy, index) for index in range(len(copy)))
        elif isinstance(item, dict):
            cleaned = {clean_text(str(k)): v for k, v in item.items()}
            container[key] = cleaned
            stack.extend((cleaned, k) for k in cleaned)
    return root[0]


def clean_text(text: str) -> str:
    """A string PostgreSQL stores as-is: NUL removed, lone surrogates replaced by U+FFFD."""
    if not _UNSTORABLE.search(text):
        return text
    return _UNSTORABLE.sub(lambda m: "" if m.group() == "\x00" else "\ufffd", text)


def content_key(*parts: Any) -> str:
    """A stable digest of JSON-like parts: the dedup key of an element Meta may deliver again."""
    canonical = json.dumps(parts, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="allow")


class WebhookProfile(_Lenient):
    name: str = ""
    username: str | None = None


class WebhookContact(_Lenient):
    wa_id: str | None = None
    user_id: str | None = None
    parent_user_id: str | None = None
    profile: WebhookProfile | None = None


class WebhookStatus(_Lenient):
    id: str
    status: str
    timestamp: str | int | None = None
    recipient_id: str | None = None
    recipient_user_id: str | None = None
    errors: list[dict[str, Any]] = []
    # Echoed by Meta from the send's payload: our reply's idempotency key.
    biz_opaque_callback_data: str | None = None


class WebhookMessage(_Lenient):
    id: str
    type: str = "unknown"
    timestamp: str | int | None = None
    # `from` is a phone-based wa_id; with 2026 usernames it may be absent and only a BSUID present.
    from_: str | None = None
    from_user_id: str | None = None
    from_parent_user_id: str | None = None
    group_id: str | None = None


@dataclass(frozen=True)
class Sender:
    wa_id: str | None
    user_id: str | None
    profile_name: str
    parent_user_id: str | None = None
    username: str = ""

    @property
    def known(self) -> bool:
        return bool(self.wa_id or self.user_id)


@dataclass(frozen=True)
class IdentityChange:
    """One person's ids changed: `previous` are the ids we may know them by, `current` the new ones."""

    kind: str
    previous: Sender
    current: Sender
    detail: str
    raw: dict[str, Any]
    source: dict[str, Any]


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
    media_id: str = ""
    quoted_wamid: str = ""
    source: dict[str, Any] = field(default_factory=dict)
    identity_change: IdentityChange | None = None


@dataclass(frozen=True)
class StatusUpdate:
    wamid: str
    status: str
    timestamp: datetime | None
    errors: list[dict[str, Any]]
    raw: dict[str, Any]
    callback_data: str | None = None
    recipient: Sender = Sender(wa_id=None, user_id=None, profile_name="")
    pricing: dict[str, Any] = field(default_factory=dict)
    source: dict[str, Any] = field(default_factory=dict)

    @property
    def dedup_key(self) -> str:
        """The same callback for the same recipient (a group status has one per participant) is one row."""
        raw = self.raw
        recipient = [raw.get(k) for k in ("recipient_id", "recipient_user_id", "recipient_participant_id")]
        recipient.append(raw.get("recipient_participant_user_id"))
        return content_key("status", self.wamid, self.status, recipient)


@dataclass(frozen=True)
class PreferenceUpdate:
    """`user_preferences`: a person stopped or resumed a category of messages (marketing)."""

    person: Sender
    category: str
    value: str
    detail: str
    raw: dict[str, Any]
    source: dict[str, Any]


@dataclass(frozen=True)
class EchoMessage:
    """`smb_message_echoes`: the company wrote to a customer from the WhatsApp Business app."""

    wamid: str
    customer: Sender
    type: str
    text: str
    sent_at: datetime | None
    raw: dict[str, Any]
    source: dict[str, Any]


@dataclass(frozen=True)
class OpsEvent:
    """An event recorded for the ops view only (templates, account, calls, groups, ...)."""

    field: str
    kind: str
    summary: str
    raw: Any
    source: dict[str, Any]
    person: Sender | None = None


@dataclass(frozen=True)
class TemplateStatusChange:
    """A `message_template_status_update` change: a template was approved, rejected, paused, disabled…"""

    graph_id: str
    name: str
    language: str
    event: str
    reason: str
    raw: dict[str, Any]


@dataclass(frozen=True)
class UnhandledChange:
    field: str
    reason: str
    raw: Any


@dataclass
class ParsedWebhook:
    messages: list[InboundMessage] = field(default_factory=list)
    statuses: list[StatusUpdate] = field(default_factory=list)
    identity_changes: list[IdentityChange] = field(default_factory=list)
    preferences: list[PreferenceUpdate] = field(default_factory=list)
    echoes: list[EchoMessage] = field(default_factory=list)
    events: list[OpsEvent] = field(default_factory=list)
    unhandled: list[UnhandledChange] = field(default_factory=list)
    template_updates: list[TemplateStatusChange] = field(default_factory=list)
    # A change the parser itself failed on: (field, minimal change, error) — quarantined by ingestion.
    failures: list[tuple[str, dict[str, Any], str]] = field(default_factory=list)


def _timestamp(value: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value), tz=UTC) if value else None
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ("" if value is None else str(value))


def _optional_id(value: Any) -> str | None:
    text = _str(value).strip()
    return text or None


def _body(element: dict[str, Any]) -> dict[str, Any]:
    kind = element.get("type")
    body = element.get(kind) if isinstance(kind, str) else None
    return body if isinstance(body, dict) else {}


def extract_text(element: dict[str, Any]) -> str:
    """The customer's words in a message element, whatever its type (empty when it has none).

    Replies that carry no words (a flow's `nfm_reply`, a `call_permission_reply`, an interactive
    without a title, media without a caption) give an empty string: ingestion closes those instead of
    running the pipeline on nothing.
    """
    kind = element.get("type")
    body = _body(element)
    if kind == "text":
        return _str(body.get("body")).strip()
    if kind == "interactive":
        reply = body.get("button_reply") or body.get("list_reply") or {}
        if isinstance(reply, dict):
            return " — ".join(_str(reply[k]) for k in ("title", "description") if reply.get(k)).strip()
        return ""
    if kind == "button":
        return _str(body.get("text") or body.get("payload")).strip()
    if kind in {"image", "video", "document"}:
        return _str(body.get("caption")).strip()
    if kind == "location":
        parts = [body.get("name"), body.get("address")]
        named = ", ".join(_str(p) for p in parts if p)
        if named:
            return named
        if body.get("latitude") is not None and body.get("longitude") is not None:
            return f"{body.get('latitude')},{body.get('longitude')}"
        return ""
    if kind == "reaction":
        return _str(body.get("emoji"))
    if kind == "contacts":
        return _shared_contacts_text(element.get("contacts"))
    if kind == "order":
        items = body.get("product_items")
        count = len(items) if isinstance(items, list) else 0
        note = _str(body.get("text")).strip()
        return (f"[pedido com {count} item(ns) do catálogo] {note}").strip()
    return ""


def _shared_contacts_text(cards: Any) -> str:
    if not isinstance(cards, list):
        return ""
    names = []
    for card in cards:
        name = card.get("name") if isinstance(card, dict) else None
        if isinstance(name, dict) and name.get("formatted_name"):
            names.append(_str(name["formatted_name"]))
    return f"[contato compartilhado: {', '.join(names)}]" if names else ""


def _media_id(element: dict[str, Any]) -> str:
    if element.get("type") not in MEDIA_TYPES:
        return ""
    return _str(_body(element).get("id"))


def _quoted_wamid(element: dict[str, Any]) -> str:
    if element.get("type") == "reaction":
        return _str(_body(element).get("message_id"))
    context = element.get("context")
    return _str(context.get("id")) if isinstance(context, dict) else ""


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
    profile = match.profile if match else None
    return Sender(
        wa_id=_optional_id(message.from_ or (match.wa_id if match else None)),
        user_id=_optional_id(message.from_user_id or (match.user_id if match else None)),
        parent_user_id=_optional_id(message.from_parent_user_id or (match.parent_user_id if match else None)),
        profile_name=profile.name if profile else "",
        username=_str(profile.username) if profile else "",
    )


def _person(data: dict[str, Any], *, prefix: str = "") -> Sender:
    return Sender(
        wa_id=_optional_id(data.get(f"{prefix}wa_id")),
        user_id=_optional_id(data.get(f"{prefix}user_id")),
        parent_user_id=_optional_id(data.get(f"{prefix}parent_user_id")),
        profile_name="",
    )


def _system_identity_change(element: dict[str, Any], sender: Sender, source: dict[str, Any]) -> IdentityChange | None:
    system = _body(element)
    kind = _str(system.get("type"))
    if kind not in IDENTITY_SYSTEM_TYPES:
        return None
    previous = Sender(
        wa_id=sender.wa_id,
        user_id=_optional_id(system.get("previous_user_id")) or sender.user_id,
        parent_user_id=_optional_id(system.get("previous_parent_user_id")) or sender.parent_user_id,
        profile_name=sender.profile_name,
    )
    current = Sender(
        wa_id=_optional_id(system.get("wa_id") or system.get("new_wa_id")) or sender.wa_id,
        user_id=_optional_id(system.get("user_id")),
        parent_user_id=_optional_id(system.get("parent_user_id")),
        profile_name=sender.profile_name,
    )
    if not previous.known or not current.known:
        return None
    return IdentityChange(
        kind=kind, previous=previous, current=current, detail=_str(system.get("body")), raw=element, source=source
    )


def _parse_message(
    element: dict[str, Any], contacts: list[WebhookContact], source: dict[str, Any]
) -> InboundMessage | OpsEvent | UnhandledChange:
    try:
        message = WebhookMessage.model_validate({**element, "from_": element.get("from")})
    except ValidationError as exc:
        return UnhandledChange(field="messages", reason=f"unreadable message: {exc.error_count()} errors", raw=element)
    if not message.id.strip():
        return UnhandledChange(field="messages", reason="message without an id", raw=element)
    sender = _sender_for(message, contacts)
    if message.group_id:
        # A message in a group chat: recorded, never answered in the sender's private chat.
        return OpsEvent(
            field="messages", kind="group_message", summary=f"group {message.group_id[:80]}", raw=element, source=source
        )
    if not sender.known and message.type == "system":
        system = _body(element)
        sender = Sender(
            wa_id=_optional_id(system.get("wa_id")), user_id=_optional_id(system.get("user_id")), profile_name=""
        )
    if not sender.known:
        return UnhandledChange(field="messages", reason="message without a sender id", raw=element)
    supported = message.type in SUPPORTED_TYPES
    reason = ""
    if not supported:
        errors = element.get("errors") or []
        first = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else {}
        detail = _str(first.get("title") or first.get("message"))
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
        media_id=_media_id(element),
        quoted_wamid=_quoted_wamid(element),
        source=source,
        identity_change=_system_identity_change(element, sender, source) if message.type == "system" else None,
    )


def _parse_status(element: dict[str, Any], source: dict[str, Any]) -> StatusUpdate | UnhandledChange:
    try:
        status = WebhookStatus.model_validate(element)
    except ValidationError as exc:
        return UnhandledChange(field="statuses", reason=f"unreadable status: {exc.error_count()} errors", raw=element)
    if not status.id.strip():
        return UnhandledChange(field="statuses", reason="status without a message id", raw=element)
    pricing = element.get("pricing")
    return StatusUpdate(
        wamid=status.id,
        status=status.status,
        timestamp=_timestamp(status.timestamp),
        errors=[e for e in status.errors if isinstance(e, dict)],
        raw=element,
        recipient=_person(element, prefix="recipient_"),
        pricing=pricing if isinstance(pricing, dict) else {},
        source=source,
        callback_data=status.biz_opaque_callback_data,
    )


def _elements(value: dict[str, Any], key: str) -> list[Any]:
    items = value.get(key) or []
    return items if isinstance(items, list) else [items]


def _minimal_change(field_name: str, value: dict[str, Any], key: str, element: Any, **extra: Any) -> dict[str, Any]:
    """A change holding only `element` under `key`, with the value's metadata (and contacts when given)."""
    minimal: dict[str, Any] = {k: value[k] for k in ("messaging_product", "metadata") if k in value}
    minimal.update(extra)
    minimal[key] = [element]
    return {"field": field_name, "value": minimal}


def parse_webhook(payload: Any) -> ParsedWebhook:
    """Flatten a webhook body into its elements and what we do not handle. Never raises."""
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
            try:
                _parse_change(change, parsed)
            except Exception as exc:  # noqa: BLE001 - a shape nobody foresaw is quarantined, never a 500
                field_name = _str(change.get("field")) if isinstance(change, dict) else ""
                minimal = change if isinstance(change, dict) else {"value": change}
                parsed.failures.append((field_name, minimal, f"{type(exc).__name__}: {exc}"))
    return parsed


def _parse_change(change: Any, parsed: ParsedWebhook) -> None:
    if not isinstance(change, dict) or not isinstance(change.get("value"), dict):
        parsed.unhandled.append(UnhandledChange(field="", reason="change without a value object", raw=change))
        return
    field_name = _str(change.get("field"))
    value = change["value"]
    if field_name == "messages":
        _parse_messages_change(value, parsed)
    elif field_name == "user_id_update":
        _parse_user_id_updates(value, parsed)
    elif field_name == "user_preferences":
        _parse_user_preferences(value, parsed)
    elif field_name == "smb_message_echoes":
        _parse_echoes(value, parsed)
    elif field_name in OPS_FIELDS:
        if field_name == TEMPLATE_STATUS_FIELD and value.get("event") and value.get("message_template_name"):
            parsed.template_updates.append(
                TemplateStatusChange(
                    graph_id=_str(value.get("message_template_id")),
                    name=_str(value["message_template_name"]),
                    language=_str(value.get("message_template_language")),
                    event=_str(value["event"]),
                    reason=_str(value.get("reason")),
                    raw=change,
                )
            )
        parsed.events.append(
            OpsEvent(
                field=field_name,
                kind=_ops_kind(field_name, value),
                summary=_ops_summary(value),
                raw=change,
                source=change,
            )
        )
    else:
        parsed.unhandled.append(
            UnhandledChange(field=field_name, reason=f"field {field_name[:64]!r} not handled", raw=change)
        )


def _ops_kind(field_name: str, value: dict[str, Any]) -> str:
    for key in ("event", "type", "status"):
        if isinstance(value.get(key), str) and value[key]:
            return f"{field_name}:{value[key]}"[:64]
    return field_name[:64]


def _ops_summary(value: dict[str, Any]) -> str:
    keys = ("message_template_name", "event", "decision", "reason", "current_limit", "display_phone_number")
    parts = [f"{k}={_str(value[k])[:60]}" for k in keys if isinstance(value.get(k), str | int) and value.get(k)]
    for key in ("calls", "groups", "statuses"):
        if isinstance(value.get(key), list):
            parts.append(f"{key}={len(value[key])}")
    return ", ".join(parts)[:255]


def _contacts(value: dict[str, Any]) -> tuple[list[WebhookContact], list[dict[str, Any]]]:
    contacts, raw_contacts = [], []
    for raw_contact in _elements(value, "contacts"):
        try:
            contacts.append(WebhookContact.model_validate(raw_contact))
            raw_contacts.append(raw_contact)
        except ValidationError:
            continue  # a malformed contact only costs us the profile name; the message still counts
    return contacts, raw_contacts


def _parse_messages_change(value: dict[str, Any], parsed: ParsedWebhook) -> None:
    contacts, raw_contacts = _contacts(value)
    for element in _elements(value, "messages"):
        if not isinstance(element, dict):
            parsed.unhandled.append(UnhandledChange(field="messages", reason="message is not an object", raw=element))
            continue
        source = _minimal_change("messages", value, "messages", element, contacts=raw_contacts)
        message = _parse_message(element, contacts, source)
        if isinstance(message, UnhandledChange):
            parsed.unhandled.append(message)
        elif isinstance(message, OpsEvent):
            parsed.events.append(message)
        else:
            parsed.messages.append(message)
    for element in _elements(value, "statuses"):
        if not isinstance(element, dict):
            parsed.unhandled.append(UnhandledChange(field="statuses", reason="status is not an object", raw=element))
            continue
        status = _parse_status(element, _minimal_change("messages", value, "statuses", element))
        if isinstance(status, UnhandledChange):
            parsed.unhandled.append(status)
        else:
            parsed.statuses.append(status)
    if isinstance(value.get("errors"), list) and value["errors"]:
        change = {"field": "messages", "value": value}
        first = value["errors"][0] if isinstance(value["errors"][0], dict) else {}
        summary = f"code={_str(first.get('code'))} {_str(first.get('title'))[:120]}".strip()
        parsed.events.append(OpsEvent(field="messages", kind="errors", summary=summary, raw=change, source=change))
    known = {"messaging_product", "metadata", "contacts", "messages", "statuses", "errors"}
    if not value.get("messages") and not value.get("statuses") and not value.get("errors") and set(value) - known:
        parsed.unhandled.append(
            UnhandledChange(
                field="messages",
                reason="messages change with unknown content",
                raw={"field": "messages", "value": value},
            )
        )


def _pair(data: Any) -> tuple[str | None, str | None]:
    if not isinstance(data, dict):
        return None, _optional_id(data)
    return _optional_id(data.get("previous")), _optional_id(data.get("current"))


def _parse_user_id_updates(value: dict[str, Any], parsed: ParsedWebhook) -> None:
    for element in _elements(value, "user_id_update"):
        if not isinstance(element, dict):
            parsed.unhandled.append(UnhandledChange(field="user_id_update", reason="not an object", raw=element))
            continue
        source = _minimal_change("user_id_update", value, "user_id_update", element)
        previous_user, current_user = _pair(element.get("user_id"))
        previous_parent, current_parent = _pair(element.get("parent_user_id"))
        wa_id = _optional_id(element.get("wa_id"))
        previous = Sender(wa_id=wa_id, user_id=previous_user, parent_user_id=previous_parent, profile_name="")
        current = Sender(wa_id=wa_id, user_id=current_user, parent_user_id=current_parent, profile_name="")
        detail = _str(element.get("detail"))
        if previous.known and current.known:
            parsed.identity_changes.append(
                IdentityChange(
                    kind="user_id_update", previous=previous, current=current, detail=detail, raw=element, source=source
                )
            )
        parsed.events.append(
            OpsEvent(
                field="user_id_update",
                kind="user_id_update",
                summary=detail[:255],
                raw=element,
                source=source,
                person=current if current.known else None,
            )
        )


def _parse_user_preferences(value: dict[str, Any], parsed: ParsedWebhook) -> None:
    for element in _elements(value, "user_preferences"):
        if not isinstance(element, dict):
            parsed.unhandled.append(UnhandledChange(field="user_preferences", reason="not an object", raw=element))
            continue
        source = _minimal_change("user_preferences", value, "user_preferences", element)
        person = _person(element)
        preference = PreferenceUpdate(
            person=person,
            category=_str(element.get("category")),
            value=_str(element.get("value")).lower(),
            detail=_str(element.get("detail")),
            raw=element,
            source=source,
        )
        if person.known:
            parsed.preferences.append(preference)
        summary = f"{preference.category}={preference.value}"[:255]
        parsed.events.append(
            OpsEvent(
                field="user_preferences",
                kind="user_preferences",
                summary=summary,
                raw=element,
                source=source,
                person=person if person.known else None,
            )
        )


def _parse_echoes(value: dict[str, Any], parsed: ParsedWebhook) -> None:
    for element in _elements(value, "message_echoes"):
        if not isinstance(element, dict) or not _optional_id(element.get("id")):
            parsed.unhandled.append(
                UnhandledChange(field="smb_message_echoes", reason="echo without an id", raw=element)
            )
            continue
        customer = Sender(
            wa_id=_optional_id(element.get("to")),
            user_id=_optional_id(element.get("to_user_id")),
            parent_user_id=_optional_id(element.get("to_parent_user_id")),
            profile_name="",
        )
        source = _minimal_change("smb_message_echoes", value, "message_echoes", element)
        if not customer.known:
            parsed.unhandled.append(
                UnhandledChange(field="smb_message_echoes", reason="echo without a customer id", raw=element)
            )
            continue
        parsed.echoes.append(
            EchoMessage(
                wamid=_str(element["id"]),
                customer=customer,
                type=_str(element.get("type")) or "unknown",
                text=extract_text(element),
                sent_at=_timestamp(element.get("timestamp")),
                raw=element,
                source=source,
            )
        )


# --- splitting a body into stored elements (the webhook's only reading; ADR 0016) ------------------

# Longer identities are stored as their digest, so no id Meta sends can overflow the key column.
KEY_MAX = 255
# Escapes and tokens json.loads turns into values PostgreSQL refuses: NUL, lone surrogates, NaN,
# ±Infinity. Raw bytes cannot carry them (control characters and invalid UTF-8 fail the parse).
_NEEDS_CLEANING = re.compile(rb"\\u0000|\\u[dD][89a-fA-F]|NaN|Infinity")


def storable(body: bytes, payload: Any) -> Any:
    """`payload` (the parsed `body`) with every string PostgreSQL can store; a byte search spares the
    walk for the bodies that need none (nearly all)."""
    return pg_safe(payload) if _NEEDS_CLEANING.search(body) else payload


def element_kind(key: str) -> str:
    """The kind a dedup key of `split_webhook` names: "message", "status", "echo", "change", …"""
    return re.split("[:#]", key, maxsplit=1)[0]


def _key(kind: str, *ident: Any) -> str:
    text = "|".join("" if part is None else str(part) for part in ident)
    if len(text) > KEY_MAX or not text:
        return f"{kind}#{content_key(kind, *ident)}"
    return f"{kind}:{text}"


def split_webhook(payload: Any) -> list[tuple[str, Any]]:
    """Every element of a webhook body as (dedup key, minimal body holding only it). Never raises.

    Reads no more than the ids: a message or echo is keyed by its wamid and its digest, a status by
    its digest; anything else (other fields, errors, shapes nobody foresaw) is one element per change;
    `parse_webhook` on each minimal body later gives what it would have given on the whole body.
    """
    if not isinstance(payload, dict) or not isinstance(payload.get("entry"), list) or not payload["entry"]:
        return [(_key("body", content_key("body", payload)), payload)]
    elements: list[tuple[str, Any]] = []
    for entry in payload["entry"]:
        changes = entry.get("changes") if isinstance(entry, dict) else None
        if not isinstance(changes, list):
            elements.append((_key("entry", content_key("entry", entry)), {**payload, "entry": [entry]}))
            continue
        for change in changes:
            for key, minimal in _split_change(change):
                body = {"object": payload.get("object"), "entry": [{"id": entry.get("id"), "changes": [minimal]}]}
                elements.append((key, body))
    return elements


_SPLIT_ELEMENTS = {
    "messages": ("messages", "message", True),
    "smb_message_echoes": ("message_echoes", "echo", False),
}


def _split_change(change: Any) -> list[tuple[str, dict[str, Any]]]:
    value = change.get("value") if isinstance(change, dict) else None
    field_name = change.get("field") if isinstance(change, dict) else None
    whole = [(_key("change", content_key("change", change)), change)]
    if not isinstance(value, dict) or field_name not in _SPLIT_ELEMENTS:
        return whole
    list_key, kind, with_statuses = _SPLIT_ELEMENTS[field_name]
    items = value.get(list_key)
    statuses = value.get("statuses") if with_statuses else None
    if not isinstance(items, list | type(None)) or not isinstance(statuses, list | type(None)):
        return whole
    rest = {k: v for k, v in value.items() if k not in {list_key, "statuses", "contacts"}}
    if set(rest) - {"messaging_product", "metadata"} or not (items or statuses):
        # Errors, or content we do not know: kept whole, the parser decides what it is.
        return whole
    contacts = {"contacts": value["contacts"]} if "contacts" in value else {}
    split = []
    for item in items or []:
        # The wamid and a digest of the element: Meta's redelivery (the same element) is one row, while
        # a different element reusing a wamid is still read (the step keeps the first message only).
        ident = item.get("id") if isinstance(item, dict) else None
        key = _key(kind, ident, content_key(item)) if isinstance(ident, str) else _key(kind, content_key(item))
        split.append((key, _minimal_change(field_name, value, list_key, item, **contacts)))
    for item in statuses or []:
        # A digest of the element: it names the recipient's phone number, which the key (kept after the
        # read) must not hold; the step deduplicates by wamid, status and recipient as before.
        key = _key("status", content_key("status", item))
        split.append((key, _minimal_change(field_name, value, "statuses", item)))
    return split
