"""Outbound Cloud API messages as pydantic models that refuse, on construction, anything WhatsApp would reject."""

from __future__ import annotations

import re
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
TEMPLATE_NAME_MAX = 512
# A template's body, once its parameters are filled in, is held to the interactive body limit.
TEMPLATE_BODY_MAX = 1024

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


TEMPLATE_NAME = re.compile(r"^[a-z0-9_]{1,512}$")
LANGUAGE_CODE = re.compile(r"^[a-z]{2,3}(_[A-Z]{2}|_[A-Za-z]{4})?$")
# `{{1}}`, `{{2}}`…: the positional placeholders of a template's text.
TEMPLATE_PLACEHOLDER = re.compile(r"\{\{\s*(\d+)\s*\}\}")


def template_parameter_problem(value: str) -> str | None:
    """Why WhatsApp would refuse `value` as a template text parameter (error 132018), or None when it is fine."""
    if not value.strip():
        return "a parameter must contain visible text"
    if "\n" in value or "\r" in value or "\t" in value:
        return "a parameter cannot contain line breaks or tabs"
    if "     " in value:
        return "a parameter cannot contain more than four consecutive spaces"
    return None


def template_parameter_text(value: str) -> str:
    """`value` folded into one valid template parameter: line breaks become " · ", runs of blanks one space."""
    lines = [" ".join(line.split()) for line in value.splitlines()]
    return " · ".join(line for line in lines if line)


def _check_parameter(value: str) -> str:
    problem = template_parameter_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def render_template_text(text: str, parameters: list[str]) -> str:
    """The text a customer sees: `{{n}}` replaced by the n-th parameter."""
    return TEMPLATE_PLACEHOLDER.sub(lambda match: parameters[int(match.group(1)) - 1], text)


def template_placeholder_count(text: str) -> int:
    """How many parameters a template text takes; placeholders must be numbered 1..n with no gap."""
    numbers = sorted({int(number) for number in TEMPLATE_PLACEHOLDER.findall(text or "")})
    if numbers != list(range(1, len(numbers) + 1)):
        raise ValueError(f"placeholders must be numbered {{{{1}}}} to {{{{n}}}} without gaps, got {numbers}")
    return len(numbers)


TEMPLATE_COMPONENT_TYPES = frozenset({"HEADER", "BODY", "FOOTER", "BUTTONS"})


def template_body_text(components: Any) -> str:
    """Check a template's components as Graph describes them and return its BODY text; ValueError says what is wrong.

    `components` is the list `GET /{WABA-ID}/message_templates` returns: objects with an upper-case
    `type` (HEADER, BODY, FOOTER, BUTTONS) and, for BODY, the `text` with its `{{n}}` placeholders.
    """
    if not isinstance(components, list):
        raise ValueError("components must be a list of objects")
    bodies = []
    for index, component in enumerate(components):
        if not isinstance(component, dict):
            raise ValueError(f"component {index} must be an object")
        kind = str(component.get("type", "")).upper()
        if kind not in TEMPLATE_COMPONENT_TYPES:
            raise ValueError(
                f"component {index} has type {component.get('type')!r}; expected one of HEADER, BODY, FOOTER, BUTTONS"
            )
        if kind == "BODY":
            bodies.append(component)
    if len(bodies) != 1:
        raise ValueError(f"a template has exactly one BODY component, found {len(bodies)}")
    text = bodies[0].get("text")
    if not isinstance(text, str) or not text.strip():
        raise ValueError("the BODY component needs its text")
    if len(text) > TEMPLATE_BODY_MAX:
        raise ValueError(f"the BODY text has {len(text)} characters; WhatsApp allows {TEMPLATE_BODY_MAX}")
    template_placeholder_count(text)
    return text


TemplateParameter = Annotated[str, Field(min_length=1, max_length=TEMPLATE_BODY_MAX), AfterValidator(_check_parameter)]


class TemplateMessage(_Outbound):
    """An approved message template (the only kind WhatsApp accepts outside the 24-hour window).

    Only body text parameters are filled in; the template's header, footer and buttons are sent as approved.
    """

    kind: Literal["template"] = "template"
    name: Annotated[str, Field(pattern=TEMPLATE_NAME.pattern)]
    language: Annotated[str, Field(pattern=LANGUAGE_CODE.pattern)]
    body_parameters: list[TemplateParameter] = Field(default_factory=list, max_length=100)

    def _graph_content(self) -> dict[str, Any]:
        template: dict[str, Any] = {"name": self.name, "language": {"policy": "deterministic", "code": self.language}}
        if self.body_parameters:
            template["components"] = [
                {"type": "body", "parameters": [{"type": "text", "text": value} for value in self.body_parameters]}
            ]
        return {"type": "template", "template": template}


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
