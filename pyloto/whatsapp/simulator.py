"""Build webhook bodies the way Meta sends them: for `manage.py chat`, Locust, the benchmark and tests."""

import itertools
import json
import time
import uuid
from typing import Any

from pyloto.whatsapp.signature import sign_body

_sequence = itertools.count(1)


# A local voice note: the fake transcription server "hears" the text after this marker.
FAKE_SPEECH_MARKER = b"PYLOTO-FAKE-SPEECH\n"
FAKE_VOICE_NOTE_MIME = "audio/ogg; codecs=opus"


def fake_voice_note(text: str) -> bytes:
    """Audio bytes for a voice note saying `text`, for `manage.py chat` and the tests with the fakes."""
    return FAKE_SPEECH_MARKER + text.encode()


def heard_text(content: bytes) -> str | None:
    """What a fake voice note says; None for any other audio."""
    if not content.startswith(FAKE_SPEECH_MARKER):
        return None
    return content[len(FAKE_SPEECH_MARKER) :].decode(errors="replace")


def new_wamid() -> str:
    return f"wamid.SIM{uuid.uuid4().hex}{next(_sequence)}"


def message_element(
    *,
    kind: str = "text",
    text: str = "Olá",
    wa_id: str | None = "5511999990000",
    user_id: str | None = None,
    wamid: str | None = None,
    reply_id: str = "",
    timestamp: int | None = None,
    media_id: str | None = None,
    context_id: str | None = None,
) -> dict[str, Any]:
    """One `messages[]` element of the given kind (text, button_reply, list_reply, button, image, ...)."""
    element: dict[str, Any] = {"id": wamid or new_wamid(), "timestamp": str(timestamp or int(time.time()))}
    if wa_id:
        element["from"] = wa_id
    if user_id:
        element["from_user_id"] = user_id
    if kind == "text":
        element.update(type="text", text={"body": text})
    elif kind == "button_reply":
        element.update(
            type="interactive",
            interactive={"type": "button_reply", "button_reply": {"id": reply_id or "b1", "title": text}},
        )
    elif kind == "list_reply":
        element.update(
            type="interactive",
            interactive={
                "type": "list_reply",
                "list_reply": {"id": reply_id or "r1", "title": text, "description": ""},
            },
        )
    elif kind == "button":
        element.update(type="button", button={"text": text, "payload": reply_id or text})
    elif kind in {"image", "video", "document", "audio", "sticker"}:
        media: dict[str, Any] = {"id": media_id or uuid.uuid4().hex, "mime_type": f"{kind}/x"}
        if kind == "audio":
            media.update(mime_type=FAKE_VOICE_NOTE_MIME, voice=True)
        if kind in {"image", "video", "document"} and text:
            media["caption"] = text
        element.update(type=kind, **{kind: media})
    elif kind == "location":
        element.update(type="location", location={"latitude": -23.55, "longitude": -46.63, "name": text})
    elif kind == "reaction":
        element.update(type="reaction", reaction={"message_id": reply_id or new_wamid(), "emoji": text or "👍"})
    elif kind == "contacts":
        element.update(type="contacts", contacts=[{"name": {"formatted_name": text}, "phones": []}])
    else:
        element.update(type=kind, errors=[{"code": 131051, "title": "Message type unknown"}])
    if context_id:
        element["context"] = {"from": "5511400000000", "id": context_id}
    return element


def contact_element(*, wa_id: str | None, user_id: str | None = None, name: str = "Cliente") -> dict[str, Any]:
    contact: dict[str, Any] = {"profile": {"name": name}}
    if wa_id:
        contact["wa_id"] = wa_id
    if user_id:
        contact["user_id"] = user_id
    return contact


def status_element(
    *,
    wamid: str,
    status: str = "delivered",
    recipient: str = "5511999990000",
    errors: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    element: dict[str, Any] = {
        "id": wamid,
        "status": status,
        "timestamp": str(int(time.time())),
        "recipient_id": recipient,
    }
    if errors:
        element["errors"] = errors
    return element


def webhook_body(
    *,
    messages: list[dict[str, Any]] | None = None,
    contacts: list[dict[str, Any]] | None = None,
    statuses: list[dict[str, Any]] | None = None,
    phone_number_id: str = "100000000000001",
) -> dict[str, Any]:
    """A whole `whatsapp_business_account` notification with one entry and one `messages` change."""
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "5511400000000", "phone_number_id": phone_number_id},
    }
    if messages:
        value["messages"] = messages
        value["contacts"] = contacts or []
    if statuses:
        value["statuses"] = statuses
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "WABA", "changes": [{"field": "messages", "value": value}]}],
    }


def text_webhook(
    *,
    text: str,
    wa_id: str | None = "5511999990000",
    user_id: str | None = None,
    name: str = "Cliente",
    wamid: str | None = None,
) -> dict[str, Any]:
    return webhook_body(
        messages=[message_element(text=text, wa_id=wa_id, user_id=user_id, wamid=wamid)],
        contacts=[contact_element(wa_id=wa_id, user_id=user_id, name=name)],
    )


def signed_request(body: dict[str, Any] | bytes, *, app_secret: str) -> tuple[bytes, dict[str, str]]:
    """The raw bytes and headers Meta would POST for this body."""
    raw = body if isinstance(body, bytes) else json.dumps(body, separators=(",", ":")).encode()
    return raw, {"Content-Type": "application/json", "X-Hub-Signature-256": sign_body(app_secret=app_secret, body=raw)}
