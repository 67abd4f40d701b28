"""Outbound payload models: limits refused on construction, exact Graph JSON, JSON round trip."""

import pytest
from pydantic import ValidationError

from pyloto.whatsapp.payloads import (
    ButtonsMessage,
    ImageMessage,
    ListMessage,
    ListRow,
    ListSection,
    MarkReadPayload,
    ReplyButton,
    TextMessage,
    VideoMessage,
    message_from_json,
    recipient_for,
    validate_recipient,
)

WA = {"to": "5511987654321"}
BSUID = {"recipient": "BR.13491208655302741918"}


def _buttons(n, *, title_len=5, id_len=3):
    return [ReplyButton(id=f"{i}".rjust(id_len, "b"), title=f"{i}".rjust(title_len, "t")) for i in range(n)]


def _rows(n, prefix="r"):
    return [ListRow(id=f"{prefix}{i}", title=f"Row {i}") for i in range(n)]


def _section(**overrides):
    return ListSection(**{"title": "Section", "rows": _rows(2), **overrides})


def _list(**overrides):
    fields = {"body": "Choose one", "button_label": "Options", "sections": [_section()], **overrides}
    return ListMessage(**fields)


def _button_msg(**overrides):
    return ButtonsMessage(**{"body": "Pick", "buttons": _buttons(2), **overrides})


VALID_MESSAGES = {
    "text": lambda: TextMessage(body="x" * 4096),
    "text_preview": lambda: TextMessage(body="see https://example.com", preview_url=True),
    "buttons_max": lambda: _button_msg(
        body="b" * 1024, buttons=_buttons(3, title_len=20, id_len=256), header_text="h" * 60, footer="f" * 60
    ),
    "list_max": lambda: ListMessage(
        body="b" * 1024,
        button_label="l" * 20,
        header_text="h" * 60,
        footer="f" * 60,
        sections=[
            ListSection(title="s" * 24, rows=[ListRow(id="a" * 200, title="t" * 24, description="d" * 72)]),
            ListSection(title="Second", rows=_rows(9)),
        ],
    ),
    "list_single_untitled_section": lambda: _list(sections=[ListSection(rows=_rows(10))]),
    "image": lambda: ImageMessage(link="https://cdn.example.com/a.png", caption="c" * 1024),
    "video": lambda: VideoMessage(link="https://cdn.example.com/a.mp4"),
}


@pytest.mark.parametrize("name", VALID_MESSAGES)
def test_messages_at_the_limits_are_accepted(name):
    message = VALID_MESSAGES[name]()
    assert message.to_graph_payload(WA)["messaging_product"] == "whatsapp"


OVER_LIMIT = {
    "text empty": lambda: TextMessage(body=""),
    "text blank": lambda: TextMessage(body="   \n"),
    "text 4097": lambda: TextMessage(body="x" * 4097),
    "buttons none": lambda: _button_msg(buttons=[]),
    "buttons 4": lambda: _button_msg(buttons=_buttons(4)),
    "button title 21": lambda: ReplyButton(id="a", title="t" * 21),
    "button title empty": lambda: ReplyButton(id="a", title=""),
    "button id 257": lambda: ReplyButton(id="i" * 257, title="ok"),
    "button id empty": lambda: ReplyButton(id="", title="ok"),
    "button ids repeated": lambda: _button_msg(
        buttons=[ReplyButton(id="a", title="A"), ReplyButton(id="a", title="B")]
    ),
    "button titles repeated": lambda: _button_msg(
        buttons=[ReplyButton(id="a", title="Same"), ReplyButton(id="b", title="Same")]
    ),
    "buttons body 1025": lambda: _button_msg(body="b" * 1025),
    "buttons body empty": lambda: _button_msg(body=""),
    "buttons footer 61": lambda: _button_msg(footer="f" * 61),
    "buttons header 61": lambda: _button_msg(header_text="h" * 61),
    "list rows 11 in one section": lambda: _list(sections=[ListSection(rows=_rows(11))]),
    "list rows 11 across sections": lambda: _list(
        sections=[ListSection(title="A", rows=_rows(6, "a")), ListSection(title="B", rows=_rows(5, "b"))]
    ),
    "list sections 11": lambda: _list(sections=[ListSection(title=f"S{i}", rows=_rows(1, f"s{i}")) for i in range(11)]),
    "list no sections": lambda: _list(sections=[]),
    "list empty section": lambda: ListSection(title="S", rows=[]),
    "list section title 25": lambda: ListSection(title="s" * 25, rows=_rows(1)),
    "list untitled section among two": lambda: _list(
        sections=[ListSection(rows=_rows(1, "a")), ListSection(title="B", rows=_rows(1, "b"))]
    ),
    "list row title 25": lambda: ListRow(id="r", title="t" * 25),
    "list row title empty": lambda: ListRow(id="r", title=""),
    "list row description 73": lambda: ListRow(id="r", title="t", description="d" * 73),
    "list row id 201": lambda: ListRow(id="r" * 201, title="t"),
    "list row ids repeated": lambda: _list(
        sections=[ListSection(title="A", rows=_rows(1)), ListSection(title="B", rows=_rows(1))]
    ),
    "list button label 21": lambda: _list(button_label="l" * 21),
    "list button label empty": lambda: _list(button_label=""),
    "list body 1025": lambda: _list(body="b" * 1025),
    "list footer 61": lambda: _list(footer="f" * 61),
    "list header 61": lambda: _list(header_text="h" * 61),
    "image http link": lambda: ImageMessage(link="http://cdn.example.com/a.png"),
    "image relative link": lambda: ImageMessage(link="/media/a.png"),
    "image caption 1025": lambda: ImageMessage(link="https://cdn.example.com/a.png", caption="c" * 1025),
    "video http link": lambda: VideoMessage(link="http://cdn.example.com/a.mp4"),
    "video caption 1025": lambda: VideoMessage(link="https://cdn.example.com/a.mp4", caption="c" * 1025),
    "unknown field": lambda: TextMessage(body="hi", colour="red"),
    "mark read empty id": lambda: MarkReadPayload(message_id="", typing_indicator=True),
}


@pytest.mark.parametrize("name", OVER_LIMIT)
def test_every_limit_is_refused_on_construction(name):
    with pytest.raises(ValidationError):
        OVER_LIMIT[name]()


def test_text_graph_payload_is_exact():
    assert TextMessage(body="Olá!").to_graph_payload(WA) == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "5511987654321",
        "type": "text",
        "text": {"preview_url": False, "body": "Olá!"},
    }


def test_buttons_graph_payload_is_exact():
    message = ButtonsMessage(
        body="Posso ajudar?",
        buttons=[ReplyButton(id="yes", title="Sim"), ReplyButton(id="no", title="Não")],
        header_text="Pyloto",
        footer="Atendimento",
    )
    assert message.to_graph_payload(WA) == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "5511987654321",
        "type": "interactive",
        "interactive": {
            "type": "button",
            "header": {"type": "text", "text": "Pyloto"},
            "body": {"text": "Posso ajudar?"},
            "footer": {"text": "Atendimento"},
            "action": {
                "buttons": [
                    {"type": "reply", "reply": {"id": "yes", "title": "Sim"}},
                    {"type": "reply", "reply": {"id": "no", "title": "Não"}},
                ]
            },
        },
    }


def test_list_graph_payload_is_exact_and_omits_absent_optionals():
    message = ListMessage(
        body="Escolha um serviço",
        button_label="Serviços",
        sections=[
            ListSection(
                rows=[ListRow(id="a", title="Entrega", description="Mesmo dia"), ListRow(id="b", title="Frete")]
            )
        ],
    )
    assert message.to_graph_payload(BSUID) == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "recipient": "BR.13491208655302741918",
        "type": "interactive",
        "interactive": {
            "type": "list",
            "body": {"text": "Escolha um serviço"},
            "action": {
                "button": "Serviços",
                "sections": [
                    {
                        "rows": [
                            {"id": "a", "title": "Entrega", "description": "Mesmo dia"},
                            {"id": "b", "title": "Frete"},
                        ]
                    }
                ],
            },
        },
    }


def test_media_graph_payloads_are_exact():
    image = ImageMessage(link="https://cdn.example.com/a.png", caption="Tabela")
    video = VideoMessage(link="https://cdn.example.com/a.mp4")
    assert image.to_graph_payload(WA)["image"] == {"link": "https://cdn.example.com/a.png", "caption": "Tabela"}
    assert image.to_graph_payload(WA)["type"] == "image"
    assert video.to_graph_payload(WA)["video"] == {"link": "https://cdn.example.com/a.mp4"}
    assert video.to_graph_payload(WA)["type"] == "video"


def test_mark_read_payload_with_and_without_typing_indicator():
    assert MarkReadPayload(message_id="wamid.A", typing_indicator=True).to_graph_payload() == {
        "messaging_product": "whatsapp",
        "status": "read",
        "message_id": "wamid.A",
        "typing_indicator": {"type": "text"},
    }
    assert "typing_indicator" not in MarkReadPayload(message_id="wamid.A", typing_indicator=False).to_graph_payload()


def test_bsuid_recipient_uses_the_recipient_field_not_to():
    payload = TextMessage(body="hi").to_graph_payload(BSUID)
    assert payload["recipient"] == "BR.13491208655302741918"
    assert "to" not in payload


@pytest.mark.parametrize(
    "recipient", [{}, {"phone": "5511"}, {"to": ""}, {"recipient": "  "}, {"to": "5511", "wa_id": "5511"}]
)
def test_bad_recipients_are_refused(recipient):
    with pytest.raises(ValueError):
        TextMessage(body="hi").to_graph_payload(recipient)


def test_recipient_for_prefers_the_phone_based_id():
    assert recipient_for(wa_id="5511", user_id="BR.1") == {"to": "5511"}
    assert recipient_for(wa_id=None, user_id="BR.1") == {"recipient": "BR.1"}
    assert validate_recipient({"to": "5511", "recipient": "BR.1"}) == {"to": "5511", "recipient": "BR.1"}
    with pytest.raises(ValueError):
        recipient_for()


@pytest.mark.parametrize("name", VALID_MESSAGES)
def test_json_round_trip_rebuilds_the_same_message(name):
    message = VALID_MESSAGES[name]()
    stored = message.model_dump(mode="json")
    rebuilt = message_from_json(stored)
    assert type(rebuilt) is type(message)
    assert rebuilt == message
    assert message_from_json(message.model_dump_json()) == message
    assert rebuilt.to_graph_payload(WA) == message.to_graph_payload(WA)


def test_message_from_json_revalidates_limits_and_kind():
    stored = TextMessage(body="hi").model_dump(mode="json")
    with pytest.raises(ValidationError):
        message_from_json({**stored, "body": "x" * 4097})
    with pytest.raises(ValidationError):
        message_from_json({**stored, "kind": "sticker"})
    stored_buttons = _button_msg().model_dump(mode="json")
    stored_buttons["buttons"].append({"id": "z", "title": "Fourth"})
    stored_buttons["buttons"].append({"id": "y", "title": "Fifth"})
    with pytest.raises(ValidationError):
        message_from_json(stored_buttons)


def test_messages_are_immutable():
    message = TextMessage(body="hi")
    with pytest.raises(ValidationError):
        message.body = "x" * 5000
