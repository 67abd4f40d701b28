"""Voice notes end to end: downloaded from the Graph API, transcribed before the decision, answered.

The fake Graph server serves the media; the fake OpenAI server "hears" a fake voice note; the offline
provider answers (no LLM key), so the reply is exactly what the same words typed would get.
"""

from io import StringIO

import pytest
from django.core.management import call_command

from conversations.models import Message
from llm.models import LLMCall
from pyloto.pipeline.run import VOICE_NOTE_PLEASE_TYPE
from pyloto.whatsapp import simulator
from tests.support import E2E_TIMEOUT_S, inbound_settled, post_webhook, say, sent_texts, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
QUESTION = "Quais serviços vocês oferecem?"


@pytest.fixture
def transcription(fake_openai, settings):
    """Transcription only: the LLM stays off (offline answers) so the reply follows from the words."""
    settings.OPENAI_API_KEY = ""
    settings.TRANSCRIPTION_API_KEY = "sk-transcription"
    settings.TRANSCRIPTION_BASE_URL = fake_openai.base_url
    settings.LLM_SDK_MAX_RETRIES = 0
    return fake_openai


def voice_note(fake_graph, text: str, *, wa_id: str) -> None:
    media_id = fake_graph.add_media(simulator.fake_voice_note(text), mime_type=simulator.FAKE_VOICE_NOTE_MIME)
    element = simulator.message_element(kind="audio", media_id=media_id, wa_id=wa_id)
    post_webhook(simulator.webhook_body(messages=[element], contacts=[simulator.contact_element(wa_id=wa_id)]))


def test_a_voice_note_is_answered_like_the_same_words_typed(worker, demo_release, fake_graph, transcription):
    say(QUESTION, wa_id="5511900000801")
    fake_graph.wait_for_sent(1, timeout_s=E2E_TIMEOUT_S)
    voice_note(fake_graph, QUESTION, wa_id="5511900000802")
    fake_graph.wait_for_sent(2, timeout_s=E2E_TIMEOUT_S)
    typed_reply, spoken_reply = sent_texts(fake_graph)
    assert spoken_reply == typed_reply
    note = Message.objects.get(type="audio")
    assert (note.transcript, note.text, note.transcript_language) == (QUESTION, QUESTION, "portuguese")
    assert note.media_duration_s == 2.0
    call = LLMCall.objects.get(task="transcribe_audio")
    assert call.outcome == "ok" and call.conversation_id == note.conversation_id and call.estimated_cost > 0


def test_without_transcription_a_voice_note_gets_a_polite_request_to_type(worker, demo_release, fake_graph, settings):
    settings.OPENAI_API_KEY = ""
    settings.TRANSCRIPTION_API_KEY = ""
    voice_note(fake_graph, QUESTION, wa_id="5511900000803")
    fake_graph.wait_for_sent(1, timeout_s=E2E_TIMEOUT_S)
    assert sent_texts(fake_graph) == [VOICE_NOTE_PLEASE_TYPE]
    assert "[audio]" not in VOICE_NOTE_PLEASE_TYPE
    wait_until(lambda: inbound_settled(1))


def test_a_failed_transcription_is_recorded_and_the_customer_asked_to_type(
    worker, demo_release, fake_graph, transcription
):
    transcription.configure(transcription_status=400)
    voice_note(fake_graph, QUESTION, wa_id="5511900000804")
    fake_graph.wait_for_sent(1, timeout_s=E2E_TIMEOUT_S)
    assert sent_texts(fake_graph) == [VOICE_NOTE_PLEASE_TYPE]
    assert LLMCall.objects.get(task="transcribe_audio").outcome == "permanent_error"


def test_chat_sends_a_voice_note_and_shows_the_answer(
    live_server, worker, demo_release, fake_graph, transcription, monkeypatch
):
    typed = iter([f"/voz {QUESTION}", "/quit"])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(typed))
    out = StringIO()
    call_command("chat", url=live_server.url, wa_id="5511900000805", wait=E2E_TIMEOUT_S, stdout=out)
    assert out.getvalue().count("pyloto> ") == 1
    assert Message.objects.get(type="audio").transcript == QUESTION
    # chat shows the answer once it is stored; its send to WhatsApp may still be on its way.
    assert len(fake_graph.wait_for_sent(1, timeout_s=E2E_TIMEOUT_S)) == 1
    assert VOICE_NOTE_PLEASE_TYPE not in sent_texts(fake_graph)
