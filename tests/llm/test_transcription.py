"""Transcription through the real openai SDK against the fake's /v1/audio/transcriptions."""

from decimal import Decimal

import pytest

from llm.errors import LLMNotConfigured, LLMPermanentError, LLMTransientError
from llm.transcription import audio_filename, transcribe_audio, transcription_configured
from pyloto.whatsapp.simulator import FAKE_VOICE_NOTE_MIME, fake_voice_note


@pytest.fixture
def transcription(fake_openai, settings):
    settings.LLM_SDK_MAX_RETRIES = 0
    settings.TRANSCRIPTION_BASE_URL = fake_openai.base_url
    settings.TRANSCRIPTION_API_KEY = "sk-transcription"
    return fake_openai


def test_a_voice_note_is_transcribed_with_language_and_duration(transcription, settings):
    transcript = transcribe_audio(
        content=fake_voice_note("Quais serviços vocês oferecem?"), mime_type=FAKE_VOICE_NOTE_MIME
    )
    assert transcript.text == "Quais serviços vocês oferecem?"
    assert transcript.language == "portuguese"
    assert transcript.duration_s == 2.0
    assert transcript.model == settings.TRANSCRIPTION_MODEL
    assert transcript.estimated_cost == Decimal("0.00020000")
    request = transcription.requests()[-1]
    assert request["path"] == "/v1/audio/transcriptions"
    assert request["filename"] == "voice.ogg" and request["response_format"] == "verbose_json"


def test_the_plain_json_format_has_no_language(transcription, settings):
    settings.TRANSCRIPTION_RESPONSE_FORMAT = "json"
    transcript = transcribe_audio(content=fake_voice_note("oi"), mime_type="audio/ogg")
    assert (transcript.text, transcript.language, transcript.duration_s) == ("oi", "", None)


def test_failures_are_classified(transcription):
    with pytest.raises(LLMPermanentError):
        transcribe_audio(content=b"not audio", mime_type="audio/ogg")
    transcription.configure(transcription_status=503)
    with pytest.raises(LLMTransientError):
        transcribe_audio(content=fake_voice_note("oi"), mime_type="audio/ogg")


def test_without_a_key_or_a_model_nothing_is_configured(settings):
    settings.OPENAI_API_KEY = ""
    settings.TRANSCRIPTION_API_KEY = ""
    assert not transcription_configured()
    with pytest.raises(LLMNotConfigured):
        transcribe_audio(content=b"", mime_type="audio/ogg")
    settings.OPENAI_API_KEY = "sk-llm"
    assert transcription_configured()  # the LLM's key serves transcription too
    settings.TRANSCRIPTION_MODEL = ""
    assert not transcription_configured()


def test_audio_file_names_carry_the_format():
    assert audio_filename("audio/ogg; codecs=opus") == "voice.ogg"
    assert audio_filename("audio/mpeg") == "voice.mp3"
    assert audio_filename("audio/wav") == "voice.wav"


def test_a_transcript_is_stored_without_characters_postgresql_refuses(transcription):
    transcript = transcribe_audio(content=fake_voice_note("oi\x00 tudo"), mime_type="audio/ogg")
    assert transcript.text == "oi tudo"
