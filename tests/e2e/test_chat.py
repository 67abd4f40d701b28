"""`manage.py chat` against a live server and a real worker: a greeting with buttons, a tapped topic, a handoff."""

from io import StringIO

import pytest
from django.core.management import call_command

from pyloto.management.commands.chat import render_message
from tests.support import E2E_TIMEOUT_S

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_chat_shows_buttons_lets_the_customer_tap_one_and_hands_off(
    live_server, worker, demo_release, fake_graph, settings, monkeypatch
):
    settings.OPENAI_API_KEY = ""
    typed = iter(["Olá", "1", "quero falar com um atendente", "/quit"])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(typed))
    out = StringIO()
    call_command("chat", url=live_server.url, wa_id="5511955550000", wait=E2E_TIMEOUT_S, stdout=out)
    transcript = out.getvalue()
    assert "(1) " in transcript  # the greeting offered numbered topics
    assert transcript.count("pyloto> ") == 3
    assert "transferir para uma pessoa" in transcript
    # chat shows a reply as soon as it is stored; its send to WhatsApp may still be on its way.
    assert len(fake_graph.wait_for_sent(3, timeout_s=E2E_TIMEOUT_S)) == 3


def test_render_message_shows_lists_and_media_readably():
    text, options = render_message(
        {
            "kind": "list",
            "body": "Escolha um serviço",
            "button_label": "Serviços",
            "sections": [{"title": None, "rows": [{"id": "a", "title": "Consultoria", "description": "Diagnóstico"}]}],
        }
    )
    assert text == "Escolha um serviço\n[Serviços]\n  (1) Consultoria — Diagnóstico"
    assert options == [{"kind": "list_reply", "id": "a", "title": "Consultoria", "description": "Diagnóstico"}]
    media, none = render_message({"kind": "image", "link": "https://x.example/a.jpg", "caption": "Catálogo"})
    assert media == "[image: https://x.example/a.jpg]\nCatálogo" and none == []
