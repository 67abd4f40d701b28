"""Outbound Cloud API messages as pydantic models that refuse, on construction, anything WhatsApp would reject."""

from __future__ import annotations

from abc import abstractmethod
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter, model_validator

# WhatsApp's documented limits, named once so finalize can degrade a reply before building it.
TEXT_BODY_MAX = 4096
INTERACTIVE_BODY_MAX = 1024
HEADER_TEXT_MAX = 60
FOOTER_TEXT_MAX = 60
MAX_REPLY_BUTTONS = 3
BUTTON_TITLE_MAX = 20
BUTTON_ID_MAX = 256
LIST_BUTTON_LABEL_MAX = 20
MAX_LIST_SECTIONS = 10
MAX_LIST_ROWS = 10
SECTION_TITLE_MAX = 24
ROW_TITLE_MAX = 24
ROW_DESCRIPTION_MAX = 72
ROW_ID_MAX = 200
MEDIA_CAPTION_MAX = 1024

RECIPIENT_KEYS = frozenset({"to", "recipient"})


def _reject_blank(value: str) -> str:
    # WhatsApp refuses empty visible text; whitespace alone renders as an empty bubble or button.
    if not value.strip():
        raise ValueError("must contain visible text, not only whitespace")
    return value


def _require_https(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme != "https" or not parts.netloc:
        raise ValueError("media link must be an absolute https:// URL")
    return value


TextBody = Annotated[str, Field(min_length=1, max_length=TEXT_BODY_MAX), AfterValidator(_reject_blank)]
InteractiveBody = Annotated[str, Field(min_length=1, max_length=INTERACTIVE_BODY_MAX), AfterValidator(_reject_blank)]
HeaderText = Annotated[str, Field(min_length=1, max_length=HEADER_TEXT_MAX), AfterValidator(_reject_blank)]
FooterText = Annotated[str, Field(min_length=1, max_length=FOOTER_TEXT_MAX), AfterValidator(_reject_blank)]
ButtonTitle = Annotated[str, Field(min_length=1, max_length=BUTTON_TITLE_MAX), AfterValidator(_reject_blank)]
ButtonId = Annotated[str, Field(min_length=1, max_length=BUTTON_ID_MAX), AfterValidator(_reject_blank)]
ListButtonLabel = Annotated[str, Field(min_length=1, max_length=LIST_BUTTON_LABEL_MAX), AfterValidator(_reject_blank)]
SectionTitle = Annotated[str, Field(min_length=1, max_length=SECTION_TITLE_MAX), AfterValidator(_reject_blank)]
RowTitle = Annotated[str, Field(min_length=1, max_length=ROW_TITLE_MAX), AfterValidator(_reject_blank)]
RowDescription = Annotated[str, Field(min_length=1, max_length=ROW_DESCRIPTION_MAX), AfterValidator(_reject_blank)]
RowId = Annotated[str, Field(min_length=1, max_length=ROW_ID_MAX), AfterValidator(_reject_blank)]
Caption = Annotated[str, Field(min_length=1, max_length=MEDIA_CAPTION_MAX), AfterValidator(_reject_blank)]
HttpsLink = Annotated[str, Field(min_length=1, max_length=2048), AfterValidator(_require_https)]


def validate_recipient(recipient: dict[str, str]) -> dict[str, str]:
    """Check a recipient address: `{"to": wa_id}` and/or `{"recipient": bsuid}`, nothing else, nothing empty.

    The Cloud API takes a phone number (`to`) or a business-scoped user id (`recipient`); when both are
    present `to` wins, which is why callers normally pass only one (see `recipient_for`).
    """
    if not isinstance(recipient, dict) or not recipient:
        raise ValueError("recipient must be a dict with 'to' (wa_id) or 'recipient' (business-scoped user id)")
    unknown = set(recipient) - RECIPIENT_KEYS
    if unknown:
        raise ValueError(f"recipient has unknown keys {sorted(unknown)}; only 'to' and 'recipient' are allowed")
    for key, value in recipient.items():
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"recipient '{key}' must be a non-empty string")
    return dict(recipient)


def recipient_for(*, wa_id: str | None = None, user_id: str | None = None) -> dict[str, str]:
    """The recipient address for a contact: the phone-based wa_id when known, else the business-scoped user id.

    Meta recommends addressing by phone number whenever it is known, so phone-number fields keep
    appearing in the status webhooks; the BSUID is for contacts who only ever showed a username.
    """
    if wa_id:
        return {"to": wa_id}
    if user_id:
        return {"recipient": user_id}
    raise ValueError("a contact needs a wa_id or a business-scoped user_id to be messaged")


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class _Outbound(_Model):
    def to_graph_payload(self, recipient: dict[str, str]) -> dict[str, Any]:
        """The exact JSON body for `POST /{version}/{phone_number_id}/messages`."""
        return {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            **validate_recipient(recipient),
            **self._graph_content(),
        }

    @abstractmethod
    def _graph_content(self) -> dict[str, Any]:
        """The `type` key and its object, e.g. `{"type": "text", "text": {...}}`."""


class TextMessage(_Outbound):
    """A plain text message (up to 4096 characters)."""

    kind: Literal["text"] = "text"
    body: TextBody
    preview_url: bool = False

    def _graph_content(self) -> dict[str, Any]:
        return {"type": "text", "text": {"preview_url": self.preview_url, "body": self.body}}


class ReplyButton(_Model):
    """One quick-reply button: the id comes back in the customer's reply, the title is what they see."""

    id: ButtonId
    title: ButtonTitle


class ButtonsMessage(_Outbound):
    """An interactive message with one to three quick-reply buttons."""

    kind: Literal["button"] = "button"
    body: InteractiveBody
    buttons: list[ReplyButton] = Field(min_length=1, max_length=MAX_REPLY_BUTTONS)
    header_text: HeaderText | None = None
    footer: FooterText | None = None

    @model_validator(mode="after")
    def _unique_buttons(self) -> ButtonsMessage:
        ids = [button.id for button in self.buttons]
        if len(set(ids)) != len(ids):
            raise ValueError("button ids must be unique")
        titles = [button.title for button in self.buttons]
        if len(set(titles)) != len(titles):
            raise ValueError("button titles must be unique")
        return self

    def _graph_content(self) -> dict[str, Any]:
        interactive: dict[str, Any] = {"type": "button"}
        if self.header_text is not None:
            interactive["header"] = {"type": "text", "text": self.header_text}
        interactive["body"] = {"text": self.body}
        if self.footer is not None:
            interactive["footer"] = {"text": self.footer}
        interactive["action"] = {
            "buttons": [{"type": "reply", "reply": {"id": b.id, "title": b.title}} for b in self.buttons]
        }
        return {"type": "interactive", "interactive": interactive}


class ListRow(_Model):
    """One selectable row of a list message."""

    id: RowId
    title: RowTitle
    description: RowDescription | None = None


class ListSection(_Model):
    """A titled group of rows; the title is required once a list has more than one section."""

    title: SectionTitle | None = None
    rows: list[ListRow] = Field(min_length=1, max_length=MAX_LIST_ROWS)


class ListMessage(_Outbound):
    """An interactive list: a button that opens up to ten rows in up to ten sections."""

    kind: Literal["list"] = "list"
    body: InteractiveBody
    button_label: ListButtonLabel
    sections: list[ListSection] = Field(min_length=1, max_length=MAX_LIST_SECTIONS)
    header_text: HeaderText | None = None
    footer: FooterText | None = None

    @model_validator(mode="after")
    def _check_rows(self) -> ListMessage:
        rows = [row for section in self.sections for row in section.rows]
        if len(rows) > MAX_LIST_ROWS:
            raise ValueError(f"a list holds at most {MAX_LIST_ROWS} rows across all sections, got {len(rows)}")
        ids = [row.id for row in rows]
        if len(set(ids)) != len(ids):
            raise ValueError("row ids must be unique across all sections")
        if len(self.sections) > 1 and any(section.title is None for section in self.sections):
            raise ValueError("every section needs a title when a list has more than one section")
        return self

    def _graph_content(self) -> dict[str, Any]:
        sections = []
        for section in self.sections:
            graph_section: dict[str, Any] = {}
            if section.title is not None:
                graph_section["title"] = section.title
            graph_section["rows"] = [_graph_row(row) for row in section.rows]
            sections.append(graph_section)
        interactive: dict[str, Any] = {"type": "list"}
        if self.header_text is not None:
            interactive["header"] = {"type": "text", "text": self.header_text}
        interactive["body"] = {"text": self.body}
        if self.footer is not None:
            interactive["footer"] = {"text": self.footer}
        interactive["action"] = {"button": self.button_label, "sections": sections}
        return {"type": "interactive", "interactive": interactive}


def _graph_row(row: ListRow) -> dict[str, str]:
    graph_row = {"id": row.id, "title": row.title}
    if row.description is not None:
        graph_row["description"] = row.description
    return graph_row


class _MediaMessage(_Outbound):
    """Media sent by https link (never an upload id), with an optional caption."""

    kind: Literal["image", "video"]
    link: HttpsLink
    caption: Caption | None = None

    def _graph_content(self) -> dict[str, Any]:
        media = {"link": self.link}
        if self.caption is not None:
            media["caption"] = self.caption
        return {"type": self.kind, self.kind: media}


class ImageMessage(_MediaMessage):
    """An image sent by https link, with an optional caption."""

    kind: Literal["image"] = "image"


class VideoMessage(_MediaMessage):
    """A video sent by https link, with an optional caption."""

    kind: Literal["video"] = "video"


class MarkReadPayload(_Model):
    """Marks an inbound message read and, optionally, shows the typing indicator (up to 25 s or the reply)."""

    message_id: Annotated[str, Field(min_length=1), AfterValidator(_reject_blank)]
    typing_indicator: bool = True

    def to_graph_payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = {"messaging_product": "whatsapp", "status": "read", "message_id": self.message_id}
        if self.typing_indicator:
            payload["typing_indicator"] = {"type": "text"}
        return payload


OutboundMessage = Annotated[
    TextMessage | ButtonsMessage | ListMessage | ImageMessage | VideoMessage,
    Field(discriminator="kind"),
]

_OUTBOUND_ADAPTER: TypeAdapter[OutboundMessage] = TypeAdapter(OutboundMessage)


def message_from_json(data: dict[str, Any] | str | bytes) -> OutboundMessage:
    """Rebuild a stored message from `message.model_dump(mode="json")` (a dict) or its JSON text.

    Every limit is checked again, so a row edited by hand cannot smuggle an invalid payload out.
    """
    if isinstance(data, str | bytes):
        return _OUTBOUND_ADAPTER.validate_json(data)
    return _OUTBOUND_ADAPTER.validate_python(data)
