"""Voice-note transcription through any OpenAI-compatible `/v1/audio/transcriptions` endpoint (openai SDK).

`TRANSCRIPTION_*` settings point at a separate server or model; left empty, the key and URL are the
LLM's (`OPENAI_*`). Pure: audio bytes in, a `Transcript` out, no database access.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from decimal import Decimal
from typing import cast

import openai
import structlog
from django.conf import settings
from openai.types import AudioResponseFormat

from llm.client import _map_api_error
from llm.errors import LLMNotConfigured, LLMPermanentError
from pyloto.process_cache import ProcessCache
from pyloto.whatsapp.webhook import clean_text

log = structlog.get_logger(__name__)

TASK_TRANSCRIBE = "transcribe_audio"
_clients: ProcessCache[openai.OpenAI] = ProcessCache()
_COST_QUANTUM = Decimal("0.00000001")
# Extensions the endpoint recognises, by the MIME type WhatsApp reports ("audio/ogg; codecs=opus").
_EXTENSIONS = {"audio/ogg": "ogg", "audio/mpeg": "mp3", "audio/mp4": "m4a", "audio/aac": "m4a", "audio/amr": "amr"}


@dataclass(frozen=True)
class Transcript:
    """What was said, in which language, how long it lasted, and the call's accounting."""

    text: str
    language: str
    duration_s: float | None
    model: str
    latency_ms: int
    started_at: float
    finished_at: float

    @property
    def estimated_cost(self) -> Decimal:
        minutes = Decimal(str(self.duration_s or 0)) / 60
        return (minutes * Decimal(str(settings.TRANSCRIPTION_PRICE_PER_MINUTE))).quantize(_COST_QUANTUM)


def _credentials() -> tuple[str, str]:
    key = settings.TRANSCRIPTION_API_KEY or settings.OPENAI_API_KEY
    base_url = settings.TRANSCRIPTION_BASE_URL or settings.OPENAI_BASE_URL
    return str(key), str(base_url)


def transcription_configured() -> bool:
    """True when a key and a model are set; otherwise voice notes get a polite request to type."""
    key, _base_url = _credentials()
    return bool(key and settings.TRANSCRIPTION_MODEL)


def _client() -> openai.OpenAI:
    key, base_url = _credentials()
    timeout_s, max_retries = float(settings.TRANSCRIPTION_TIMEOUT_S), int(settings.LLM_SDK_MAX_RETRIES)
    return _clients.get_or_create(
        (key, base_url, timeout_s, max_retries),
        lambda: openai.OpenAI(api_key=key, base_url=base_url, timeout=timeout_s, max_retries=max_retries),
    )


def audio_filename(mime_type: str) -> str:
    """A file name whose extension tells the endpoint the audio format."""
    base = mime_type.split(";", 1)[0].strip().lower()
    return f"voice.{_EXTENSIONS.get(base, base.rsplit('/', 1)[-1] or 'ogg')}"


def transcribe_audio(*, content: bytes, mime_type: str) -> Transcript:
    """Transcribe one audio file. Raises LLMNotConfigured, LLMTransientError or LLMPermanentError."""
    if not transcription_configured():
        raise LLMNotConfigured("no transcription configured", code="not_configured")
    model = str(settings.TRANSCRIPTION_MODEL)
    response_format = str(settings.TRANSCRIPTION_RESPONSE_FORMAT)
    started_at = time.time()
    t0 = time.perf_counter()
    try:
        result = _client().audio.transcriptions.create(
            model=model,
            file=(audio_filename(mime_type), content, mime_type.split(";", 1)[0].strip() or "audio/ogg"),
            response_format=cast(AudioResponseFormat, response_format),  # a setting; the server checks it
            stream=False,
        )
    except openai.APIError as exc:
        error = _map_api_error(exc)
        log.warning("transcription_failed", model=model, code=error.code, error_class=type(error).__name__)
        raise error from exc
    if isinstance(result, openai.Stream):
        raise LLMPermanentError("the transcription server streamed its answer", code="unexpected_stream")
    text = clean_text(result if isinstance(result, str) else str(getattr(result, "text", "") or ""))
    language = "" if isinstance(result, str) else str(getattr(result, "language", "") or "")
    duration = None if isinstance(result, str) else getattr(result, "duration", None)
    if not text.strip():
        raise LLMPermanentError("the transcription is empty", code="empty_transcript")
    finished_at = time.time()
    transcript = Transcript(
        text=text.strip(),
        language=language[:32],
        duration_s=float(duration) if isinstance(duration, int | float) else None,
        model=model,
        latency_ms=int((time.perf_counter() - t0) * 1000),
        started_at=started_at,
        finished_at=finished_at,
    )
    log.info("transcription_ok", model=model, language=transcript.language, latency_ms=transcript.latency_ms)
    return transcript
