"""Media a customer sends: voice notes transcribed (what was said is stored), images for a vision model.

Runs inside the conversation's run, before the state decision, so the reply answers what was said.
Each transcription is an `LLMCall` row (task `transcribe_audio`, priced per minute of audio); a
failure is recorded too and leaves the message without a transcript (the run then asks the customer
to type).
"""

from __future__ import annotations

import base64
import time

import structlog
from django.conf import settings
from django.utils import timezone

from conversations.models import Message
from llm.models import LLMCall
from llm.services import llm_call_record
from llm.transcription import TASK_TRANSCRIBE, transcribe_audio, transcription_configured
from pyloto.errors import PylotoError, TransientError
from pyloto.observability.correlation import current_correlation_id
from pyloto.whatsapp.client import WhatsAppClient

log = structlog.get_logger(__name__)


def voice_notes_transcribe(*, message_ids: list[int], conversation_id: int, run_key: str) -> int:
    """Transcribe the run's voice notes that have none yet; how many were transcribed."""
    if not transcription_configured():
        return 0
    notes = Message.objects.filter(
        pk__in=message_ids, direction=Message.Direction.INBOUND, type="audio", transcript=""
    ).exclude(media_id="")
    transcribed = 0
    for note in notes:
        transcribed += int(_transcribe_one(note, conversation_id=conversation_id, run_key=run_key))
    return transcribed


def images_for_prompt(*, messages: list[Message]) -> list[str]:
    """The run's images as data URLs for a vision model (LLM_VISION_MODEL); none without one.

    An image that cannot be downloaded is left out: the prompt still says an image was sent.
    """
    if not settings.LLM_VISION_MODEL:
        return []
    urls: list[str] = []
    for message in [m for m in messages if m.type == "image" and m.media_id][-settings.LLM_VISION_MAX_IMAGES :]:
        try:
            media = WhatsAppClient.from_settings().media_download(
                media_id=message.media_id, max_bytes=settings.LLM_VISION_MAX_BYTES
            )
        except PylotoError as exc:
            log.warning("image_download_failed", message_id=message.pk, code=exc.code)
            continue
        mime_type = media.mime_type.split(";", 1)[0].strip() or "image/jpeg"
        urls.append(f"data:{mime_type};base64,{base64.b64encode(media.content).decode()}")
    return urls


def _transcribe_one(note: Message, *, conversation_id: int, run_key: str) -> bool:
    audio = note.raw.get("audio") if isinstance(note.raw.get("audio"), dict) else {}
    declared_mime = str(audio.get("mime_type") or "audio/ogg")
    try:
        media = WhatsAppClient.from_settings().media_download(
            media_id=note.media_id, max_bytes=settings.WHATSAPP_MEDIA_MAX_BYTES
        )
    except PylotoError as exc:
        log.warning("voice_note_download_failed", message_id=note.pk, code=exc.code, error=str(exc)[:200])
        return False
    started_at = time.time()
    try:
        transcript = transcribe_audio(content=media.content, mime_type=media.mime_type or declared_mime)
    except PylotoError as exc:
        outcome = (
            LLMCall.Outcome.TRANSIENT_ERROR if isinstance(exc, TransientError) else LLMCall.Outcome.PERMANENT_ERROR
        )
        llm_call_record(
            task=TASK_TRANSCRIBE,
            model=str(settings.TRANSCRIPTION_MODEL),
            prompt_version="",
            release_number=None,
            tokens_in=0,
            tokens_out=0,
            latency_ms=int((time.time() - started_at) * 1000),
            outcome=outcome,
            started_at=started_at,
            finished_at=time.time(),
            correlation_id=current_correlation_id(),
            conversation_id=conversation_id,
            run_key=run_key,
            error=str(exc),
        )
        log.warning("voice_note_transcription_failed", message_id=note.pk, code=exc.code)
        return False
    # The transcript is the customer's words: it becomes the message's text for everything downstream.
    Message.objects.filter(pk=note.pk).update(
        text=transcript.text,
        transcript=transcript.text,
        transcript_language=transcript.language,
        media_duration_s=transcript.duration_s,
        updated_at=timezone.now(),
    )
    llm_call_record(
        task=TASK_TRANSCRIBE,
        model=transcript.model,
        prompt_version="",
        release_number=None,
        tokens_in=0,
        tokens_out=0,
        latency_ms=transcript.latency_ms,
        outcome=LLMCall.Outcome.OK,
        started_at=transcript.started_at,
        finished_at=transcript.finished_at,
        correlation_id=current_correlation_id(),
        conversation_id=conversation_id,
        run_key=run_key,
        estimated_cost=transcript.estimated_cost,
    )
    log.info("voice_note_transcribed", message_id=note.pk, language=transcript.language)
    return True
