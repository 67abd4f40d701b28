"""Whatever the LLM returns, the composed message is one WhatsApp accepts (checked by the fake's validator)."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyloto.whatsapp.compose import clip, compose_message, message_body, message_labels
from pyloto.whatsapp.payloads import message_from_json
from tests.fakes.graph_server import validate_send

RECIPIENT = {"to": "5511999990000"}
KNOWN_MEDIA = "Catálogo: https://pyloto.example/catalogo.jpg e vídeo https://pyloto.example/tour.mp4"

any_text = st.text(min_size=0, max_size=5000)
option = st.fixed_dictionaries(
    {"id": st.text(max_size=300), "title": st.text(max_size=60)},
    optional={"description": st.text(max_size=200)},
)
choice = st.fixed_dictionaries(
    {
        "message_type": st.sampled_from(["TEXT", "BUTTON", "LIST", "IMAGE", "VIDEO", "CAROUSEL", ""]),
        "buttons": st.lists(option, max_size=6),
        "list_button_label": st.text(max_size=40),
        "list_rows": st.lists(option, max_size=14),
        "media": st.one_of(
            st.none(),
            st.fixed_dictionaries(
                {
                    "kind": st.sampled_from(["image", "video"]),
                    "url": st.sampled_from(
                        [
                            "https://pyloto.example/catalogo.jpg",
                            "http://insecure.example/x.jpg",
                            "https://invented.example/y.png",
                            "",
                        ]
                    ),
                    "caption": st.text(max_size=1500),
                }
            ),
        ),
    }
)


@settings(max_examples=300, deadline=None)
@given(text=any_text, chosen=st.one_of(st.none(), choice))
def test_any_llm_output_composes_into_a_payload_whatsapp_accepts(text, chosen):
    message = compose_message(text=text, choice=chosen, allowed_media_urls=KNOWN_MEDIA)
    payload = message.to_graph_payload(RECIPIENT)
    validate_send({**payload})  # raises when Meta would reject it
    # It also survives the round trip through the database and the send task.
    assert message_from_json(message.model_dump(mode="json")) == message


def test_buttons_are_trimmed_on_words_deduplicated_and_capped_at_three():
    message = compose_message(
        text="Escolha:",
        choice={
            "message_type": "BUTTON",
            "buttons": [
                {"id": "a", "title": "Quero um orçamento detalhado"},
                {"id": "b", "title": "Serviços"},
                {"id": "c", "title": "serviços"},
                {"id": "d", "title": "   "},
                {"id": "e", "title": "Horários"},
                {"id": "f", "title": "Contato"},
            ],
        },
    )
    assert [b.title for b in message.buttons] == ["Quero um orçamento…", "Serviços", "Horários"]


@pytest.mark.parametrize(
    ("url", "kind"),
    [("https://invented.example/a.jpg", "text"), ("https://pyloto.example/catalogo.jpg", "image")],
    ids=["invented link: text", "published link: image"],
)
def test_a_media_link_goes_out_only_when_the_published_content_has_it(url, kind):
    message = compose_message(
        text="Veja o catálogo",
        choice={"message_type": "IMAGE", "media": {"kind": "image", "url": url, "caption": ""}},
        allowed_media_urls=KNOWN_MEDIA,
    )
    assert message.kind == kind
    assert message_body(message) == "Veja o catálogo"  # the caption of the image, the body of the text


def test_a_list_gets_a_default_label_and_at_most_ten_rows():
    rows = [{"id": f"r{i}", "title": f"Opção {i}", "description": "x" * 100} for i in range(15)]
    message = compose_message(
        text="Opções", choice={"message_type": "LIST", "list_rows": rows, "list_button_label": ""}
    )
    assert message.kind == "list"
    assert message.button_label == "Ver opções"
    assert len(message.sections[0].rows) == 10
    assert all(len(row.description) <= 72 for row in message.sections[0].rows)
    assert "Opção 0" in message_labels(message)
    assert message_body(message) == "Opções"


def test_clip_keeps_short_text_and_cuts_long_text_on_a_word():
    assert clip("  curto  ", 20) == "curto"
    assert clip("uma frase bem longa demais", 15) == "uma frase bem…"
    assert len(clip("x" * 50, 20)) == 20


def test_a_reply_with_a_nul_is_composed_storable():
    from pyloto.whatsapp.compose import compose_message

    assert compose_message(text="Olá\x00!", choice=None).body == "Olá!"
