"""Merge the reply text and the chosen message type into one WhatsApp message that is always valid.

Whatever the LLM returned, the result satisfies the Cloud API's limits: labels are trimmed to their
maximum, duplicates and blanks dropped, media links accepted only when the institutional content
names them, and anything that still cannot be made valid degrades to a TEXT message.
"""

from typing import Any

import structlog
from pydantic import ValidationError

from pyloto.whatsapp.payloads import (
    BUTTON_TITLE_MAX,
    INTERACTIVE_BODY_MAX,
    LIST_BUTTON_LABEL_MAX,
    MAX_LIST_ROWS,
    MAX_REPLY_BUTTONS,
    MEDIA_CAPTION_MAX,
    ROW_DESCRIPTION_MAX,
    ROW_TITLE_MAX,
    TEXT_BODY_MAX,
    ButtonsMessage,
    ImageMessage,
    ListMessage,
    ListRow,
    ListSection,
    OutboundMessage,
    ReplyButton,
    TextMessage,
    VideoMessage,
)
from pyloto.whatsapp.webhook import clean_text

log = structlog.get_logger(__name__)

DEFAULT_LIST_LABEL = "Ver opções"
ID_MAX = 200


def clip(text: str, limit: int) -> str:
    """`text` without surrounding blanks, cut to `limit` characters on a word boundary when it can."""
    text = " ".join(text.split()) if "\n" not in text else text.strip()
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if " " in cut[limit // 2 :]:
        cut = cut[: cut.rfind(" ")]
    return cut.rstrip(" ,.;:") + "…"


def _labels(options: list[dict[str, Any]], *, title_max: int, limit: int) -> list[dict[str, str]]:
    seen: set[str] = set()
    labels = []
    for index, option in enumerate(options):
        title = clip(str(option.get("title", "")), title_max)
        if not title or title.casefold() in seen:
            continue
        seen.add(title.casefold())
        option_id = clip(str(option.get("id") or f"opt{index + 1}"), ID_MAX).replace(" ", "_") or f"opt{index + 1}"
        labels.append({"id": option_id, "title": title, "description": str(option.get("description", ""))})
        if len(labels) == limit:
            break
    ids = [label["id"] for label in labels]
    if len(set(ids)) != len(ids):  # ids must be unique too: renumber rather than drop a label
        for index, label in enumerate(labels):
            label["id"] = f"opt{index + 1}"
    return labels


def compose_message(*, text: str, choice: dict[str, Any] | None, allowed_media_urls: str = "") -> OutboundMessage:
    """The WhatsApp message for `text` presented as `choice` (a MessageTypeChoice as JSON).

    `allowed_media_urls` is the institutional text a media link must appear in (never an invented URL).
    """
    text = clean_text(text).strip() or "…"  # an LLM's stray NUL would make the reply unstorable
    choice = choice or {}
    kind = choice.get("message_type", "TEXT")
    try:
        if kind == "BUTTON":
            buttons = _labels(choice.get("buttons") or [], title_max=BUTTON_TITLE_MAX, limit=MAX_REPLY_BUTTONS)
            if buttons:
                return ButtonsMessage(
                    body=clip(text, INTERACTIVE_BODY_MAX),
                    buttons=[ReplyButton(id=b["id"], title=b["title"]) for b in buttons],
                )
        elif kind == "LIST":
            rows = _labels(choice.get("list_rows") or [], title_max=ROW_TITLE_MAX, limit=MAX_LIST_ROWS)
            if rows:
                label = clip(str(choice.get("list_button_label") or DEFAULT_LIST_LABEL), LIST_BUTTON_LABEL_MAX)
                return ListMessage(
                    body=clip(text, INTERACTIVE_BODY_MAX),
                    button_label=label or DEFAULT_LIST_LABEL,
                    sections=[
                        ListSection(
                            title=None,
                            rows=[
                                ListRow(
                                    id=r["id"],
                                    title=r["title"],
                                    description=clip(r["description"], ROW_DESCRIPTION_MAX) or None,
                                )
                                for r in rows
                            ],
                        )
                    ],
                )
        elif kind in {"IMAGE", "VIDEO"}:
            media = choice.get("media") or {}
            url = str(media.get("url", "")).strip()
            if url.startswith("https://") and url in allowed_media_urls:
                caption = clip(text, MEDIA_CAPTION_MAX)
                model = ImageMessage if kind == "IMAGE" else VideoMessage
                return model(link=url, caption=caption)
            log.info("compose_media_refused", reason="link not in the institutional content")
    except (ValidationError, ValueError) as exc:
        log.warning("compose_degraded_to_text", kind=kind, error=str(exc)[:200])
    return TextMessage(body=clip(text, TEXT_BODY_MAX))


def message_labels(message: OutboundMessage) -> list[str]:
    """Every customer-visible string of a message besides its body (for the output guard)."""
    data = message.model_dump(mode="json")
    labels: list[str] = []
    for button in data.get("buttons") or []:
        labels.append(button["title"])
    for section in data.get("sections") or []:
        labels.extend(filter(None, [section.get("title")]))
        for row in section["rows"]:
            labels.extend(filter(None, [row.get("title"), row.get("description")]))
    labels.extend(
        filter(None, [data.get("button_label"), data.get("caption"), data.get("header_text"), data.get("footer")])
    )
    return labels


def choice_labels(choice: dict[str, Any] | None) -> list[str]:
    """Every customer-visible string the message-type step wrote, before composing clips any of them.

    The guard reads these too: clipping a 21-character button to 20 can cut off the very object that made it a
    commitment ("Confirmar contratação" → "Confirmar…"), and what the model meant to say counts, not only
    what survived the cut.
    """
    choice = choice or {}
    labels = [str(option.get("title") or "") for option in choice.get("buttons") or []]
    for row in choice.get("list_rows") or []:
        labels.extend([str(row.get("title") or ""), str(row.get("description") or "")])
    labels.append(str(choice.get("list_button_label") or ""))
    labels.append(str((choice.get("media") or {}).get("caption") or ""))
    return [label for label in labels if label.strip()]


def message_body(message: OutboundMessage) -> str:
    data = message.model_dump(mode="json")
    return str(data.get("body") or data.get("caption") or "")
