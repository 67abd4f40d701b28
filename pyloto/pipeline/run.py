"""The launch step of a run: claim the lease, apply the policies, then say how the run is answered.

A plain function: it returns a `RunStep` and enqueues nothing; `pyloto.pipeline.dispatch` launches
the LLM canvas its payload asks for, or carries on the reply it already wrote. When no LLM is
configured, the breaker is open, or the customer plainly asks for a person, the offline provider
answers here, without the canvas.
The breaker is only read here (`breaker_rejects_calls`): its half-open trial permit belongs to the LLM
call itself, so after an outage the first run's decide_state call is the trial that closes it again.
"""

from dataclasses import dataclass, replace
from typing import Any

import structlog
from django.conf import settings

from conversations.models import Conversation, Message
from conversations.selectors import (
    conversation_is_bot_silent,
    conversation_state_history,
    opt_keyword,
    wants_human,
)
from conversations.services import replies
from conversations.services.delivery import ReadReceipt
from conversations.services.media import images_for_prompt, voice_notes_transcribe
from conversations.services.runs import RunLease, run_begin, run_end, run_quiet_wait_s
from conversations.states import State, allowed_bot_targets
from institutional.hours import business_hours_status
from institutional.selectors import current_release, prompt_variant_for_contact, release_token_of
from llm.client import llm_configured
from pyloto.pipeline.heartbeat import beating, run_is_alive
from pyloto.resilience.breaker import breaker_rejects_calls, llm_breaker
from pyloto.resilience.rate_limit import contact_rate_check

log = structlog.get_logger(__name__)

RECENT_MESSAGES = 12  # answered exchanges shown to the LLM for context, besides the unanswered ones
RATE_LIMIT_NOTICE = (
    "Recebemos muitas mensagens suas em pouco tempo. Para manter o atendimento organizado, vamos pausar "
    "as respostas automáticas por alguns instantes. Já já voltamos a falar!"
)
# The one message an opted-out contact receives (the delivery planner lets this provider through).
OPT_OUT_PROVIDER = "optout"
OPT_OUT_CONFIRMATION = (
    "Pronto, você não vai mais receber mensagens automáticas nossas. Se quiser voltar a falar com a gente, "
    "é só enviar {keyword}."
)
OPT_IN_CONFIRMATION = "Que bom ter você de volta! Como podemos ajudar?"
DOCUMENT_RECEIVED = (
    "Recebemos seu documento, obrigado! Por aqui não consigo abrir arquivos; se puder, me conte por escrito o "
    "que você precisa."
)
DOCUMENT_RECEIVED_HANDOFF = (
    "Recebemos seu documento, obrigado! Vou passar para a nossa equipe, que vai analisá-lo e falar com você."
)
VOICE_NOTE_PLEASE_TYPE = (
    "Desculpe, não consegui ouvir seu áudio por aqui. Você pode escrever sua mensagem? Assim te respondo certinho."
)


@dataclass(frozen=True)
class RunStep:
    """What the launch step did, for the conductor (`pyloto.pipeline.dispatch.run_step_follow`) to carry on.

    `payload` set: the LLM canvas answers (and each of `shadow_payloads` runs beside it). `finalized`
    set: the step wrote the reply itself (a fixed text, the offline provider). `ended`: the run is over
    (answered here or closed without a reply), so messages that came in meanwhile need the next run.
    """

    outcome: str
    conversation_id: int
    payload: dict[str, Any] | None = None
    shadow_payloads: tuple[dict[str, Any], ...] = ()
    finalized: replies.Finalized | None = None
    ended: bool = False
    # The run's newest message: its read receipt (and typing indicator) go out once the run started.
    read_receipt: ReadReceipt | None = None
    # Not started: the conversation's newest message is younger than the quiet window; try again then.
    wait_s: float = 0.0


def run_launch(*, conversation_id: int) -> RunStep:
    """Start answering a conversation's unanswered messages; says what happened and what follows."""
    wait_s = run_quiet_wait_s(conversation_id=conversation_id, quiet_s=settings.BURST_QUIET_MS / 1000)
    if wait_s > 0:
        return RunStep("waiting", conversation_id, wait_s=wait_s)  # the customer is still typing
    # An expired lease whose run still beats is kept: a duplicate task must not answer it a second time.
    lease = run_begin(conversation_id=conversation_id, holder_is_alive=run_is_alive)
    if lease is None:
        return RunStep("busy", conversation_id)  # the run in flight answers these messages too, or starts the next run
    if not lease.message_ids:
        run_end(lease=lease)
        return RunStep("nothing_to_answer", conversation_id)
    conversation = Conversation.objects.select_related("contact").get(pk=conversation_id)
    inbound = list(lease.messages)
    # The run is alive while this prepares it (a voice note's transcription can outlast a lease).
    with beating(lease.token):
        step = _answer(lease, conversation, inbound)
    return replace(step, read_receipt=_read_receipt(lease, conversation, inbound))


def _read_receipt(lease: RunLease, conversation: Conversation, inbound: list[Message]) -> ReadReceipt:
    """The receipt of the run's newest message, from the rows the run read (a message erased since has no wamid)."""
    newest_id = lease.message_ids[-1]
    wamid = next((m.wamid or "" for m in inbound if m.pk == newest_id), "")
    return ReadReceipt(
        message_id=newest_id, wamid=wamid, contact_opted_out=conversation.contact.opted_out_at is not None
    )


def _closed(outcome: str, conversation: Conversation) -> RunStep:
    return RunStep(outcome, conversation.pk, ended=True)


def _answered(outcome: str, conversation: Conversation, finalized: replies.Finalized) -> RunStep:
    return RunStep(outcome, conversation.pk, finalized=finalized, ended=True)


def _answer(lease: RunLease, conversation: Conversation, inbound: list[Message]) -> RunStep:
    conversation_id = conversation.pk
    structlog.contextvars.bind_contextvars(conversation_id=conversation_id, run_key=lease.token)
    if conversation_is_bot_silent(conversation):
        replies.run_close_without_reply(
            run_key=lease.token,
            conversation_id=conversation_id,
            status=Message.Status.HANDED_OFF,
            reason="a person owns the conversation",
        )
        return _closed("handed_off", conversation)
    opt_outcome = _apply_opt_out(lease.token, conversation, inbound)
    if opt_outcome:
        return opt_outcome
    inbound, limited = _apply_rate_limit(lease.token, conversation, inbound)
    if limited:
        return limited
    inbound = _transcribe_voice_notes(lease.token, conversation, inbound)
    if all(_unheard(m) for m in inbound):
        # Never "[audio]": without a transcript we cannot know what was said, so we ask (no LLM guess).
        return _answered("asked_to_type", conversation, _fixed_reply(lease.token, conversation, VOICE_NOTE_PLEASE_TYPE))
    if all(m.type == "document" and not m.text for m in inbound):
        return _acknowledge_documents(lease.token, conversation)
    release = current_release()
    variant = prompt_variant_for_contact(release=release, contact_id=conversation.contact_id)
    payload = _payload(lease.token, conversation, inbound, release, variant)
    texts = [m.text for m in inbound]
    if wants_human("\n".join(texts)) or not llm_configured() or breaker_rejects_calls(llm_breaker()):
        # No outputs: finalize asks the offline provider, with the conversation's context, under its lock.
        finalized = replies.reply_finalize(
            run_key=lease.token,
            conversation_id=conversation_id,
            expected_state=conversation.state,
            decision=None,
            reply=None,
            choice=None,
            calls=[],
            provider="offline",
        )
        return _answered("answered_offline", conversation, finalized)
    # Same inputs, each shadow variant's prompts; their calls are recorded, their replies never sent.
    shadows = tuple(
        {**payload, "templates": _templates(release, shadow), "variant": shadow.name, "shadow": True}
        for shadow in release.shadow_variants_for(lease.token)
    )
    return RunStep("launched", conversation_id, payload=payload, shadow_payloads=shadows)


def opt_out_confirmation() -> str:
    return OPT_OUT_CONFIRMATION.format(keyword=settings.OPT_IN_KEYWORDS[0] if settings.OPT_IN_KEYWORDS else "")


def _apply_opt_out(run_key: str, conversation: Conversation, inbound: list[Message]) -> RunStep | None:
    """An opted-out contact gets one confirmation (for the keyword) and then silence; VOLTAR is welcomed back.

    Ingestion already changed the contact (and closed what an opted-out contact sends later): the run
    only says so, with a fixed text and no LLM.
    """
    keywords = [opt_keyword(m.text) for m in inbound]
    if conversation.contact.opted_out_at is not None:
        if "out" in keywords:
            confirmed = _fixed_reply(run_key, conversation, opt_out_confirmation(), provider=OPT_OUT_PROVIDER)
            return _answered("opted_out", conversation, confirmed)
        replies.run_close_without_reply(
            run_key=run_key,
            conversation_id=conversation.pk,
            status=Message.Status.DROPPED,
            reason="contact opted out",
        )
        return _closed("opted_out", conversation)
    if keywords and keywords[-1] == "in":
        return _answered("opted_in", conversation, _fixed_reply(run_key, conversation, OPT_IN_CONFIRMATION))
    return None


def _fixed_reply(run_key: str, conversation: Conversation, text: str, *, provider: str = "system") -> replies.Finalized:
    return replies.reply_finalize(
        run_key=run_key,
        conversation_id=conversation.pk,
        expected_state=conversation.state,
        decision=None,
        reply={"text": text},
        choice=None,
        calls=[],
        provider=provider,
    )


def _apply_rate_limit(
    run_key: str, conversation: Conversation, inbound: list[Message]
) -> tuple[list[Message], RunStep | None]:
    """Drop what exceeds the contact's rate limit; the first blocked message earns one polite notice.

    Returns the messages still to answer, and the run's end when none is left.
    """
    allowed, dropped, notify = [], [], False
    for message in inbound:
        decision = contact_rate_check(contact_id=conversation.contact_id)
        if decision.allowed:
            allowed.append(message)
        else:
            dropped.append(message.pk)
            notify = notify or decision.notify
    if dropped:
        replies.messages_drop(message_ids=dropped, reason="rate limited")
    if allowed:
        return allowed, None
    if notify:
        return allowed, _answered("rate_limited", conversation, _fixed_reply(run_key, conversation, RATE_LIMIT_NOTICE))
    replies.run_close_without_reply(
        run_key=run_key, conversation_id=conversation.pk, status=Message.Status.DROPPED, reason="rate limited"
    )
    return allowed, _closed("rate_limited", conversation)


def _acknowledge_documents(run_key: str, conversation: Conversation) -> RunStep:
    """Documents alone are acknowledged; while qualifying a lead they are for staff, so the run hands off."""
    if conversation.state != State.QUALIFYING:
        return _answered("document_acknowledged", conversation, _fixed_reply(run_key, conversation, DOCUMENT_RECEIVED))
    handed_off = replies.reply_finalize(
        run_key=run_key,
        conversation_id=conversation.pk,
        expected_state=conversation.state,
        decision={
            "target_state": State.HANDOFF_REQUESTED.value,
            "reason": "documento enviado durante a qualificação: a equipe analisa",
            "customer_wants_human": False,
        },
        reply={"text": DOCUMENT_RECEIVED_HANDOFF},
        choice=None,
        calls=[],
        provider="system",
    )
    return _answered("document_handed_off", conversation, handed_off)


def _transcribe_voice_notes(run_key: str, conversation: Conversation, inbound: list[Message]) -> list[Message]:
    """Voice notes become text before the decision, in this run; the messages as stored afterwards."""
    if not any(m.type == "audio" and not m.transcript for m in inbound):
        return inbound
    voice_notes_transcribe(message_ids=[m.pk for m in inbound], conversation_id=conversation.pk, run_key=run_key)
    return list(Message.objects.filter(pk__in=[m.pk for m in inbound]).order_by("created_at", "pk"))


def _unheard(message: Message) -> bool:
    return message.type == "audio" and not message.text


# How the prompt names what a customer sent besides words: it says what arrived, never guesses content.
_MEDIA_NOTES = {
    "image": "[o cliente enviou uma imagem]",
    "video": "[o cliente enviou um vídeo]",
    "document": "[o cliente enviou um documento{name}]",
    "audio": "[mensagem de voz]",
}


def prompt_text(message: Message, quoted: dict[str, str]) -> str:
    """A customer message as the LLM reads it: the quoted message, a note for media, then the words."""
    parts = []
    if message.quoted_wamid and quoted.get(message.quoted_wamid):
        parts.append(f'[respondendo a: "{quoted[message.quoted_wamid][:300]}"]')
    if message.type == "audio" and not message.text:
        parts.append("[mensagem de voz que não pôde ser transcrita]")
    elif message.type in _MEDIA_NOTES:
        body = message.raw.get(message.type) if isinstance(message.raw.get(message.type), dict) else {}
        filename = str(body.get("filename") or "")
        parts.append(_MEDIA_NOTES[message.type].format(name=f": {filename}" if filename else ""))
    if message.text:
        parts.append(message.text)
    return " ".join(parts) or f"[{message.type}]"


def _quoted_texts(conversation: Conversation, inbound: list[Message]) -> dict[str, str]:
    wamids = {m.quoted_wamid for m in inbound if m.quoted_wamid}
    if not wamids:
        return {}
    rows = Message.objects.filter(conversation__contact_id=conversation.contact_id, wamid__in=wamids).exclude(text="")
    return {str(wamid): text for wamid, text in rows.values_list("wamid", "text")}


def _templates(release: Any, variant: Any) -> dict[str, dict[str, str]]:
    return {name: {"version": t.version, "text": t.text} for name, t in release.templates_for(variant).items()}


def _payload(
    run_key: str, conversation: Conversation, inbound: list[Message], release: Any, variant: Any
) -> dict[str, Any]:
    """Everything the three LLM tasks need, as JSON primitives (they never touch the database)."""
    unanswered = {m.pk for m in inbound}
    recent = list(
        Message.objects.filter(conversation=conversation)
        .exclude(pk__in=unanswered)
        .exclude(text="")
        .order_by("-created_at", "-pk")
        .values("direction", "text")[:RECENT_MESSAGES]
    )
    messages: list[dict[str, Any]] = [
        {"role": "customer" if row["direction"] == Message.Direction.INBOUND else "assistant", "text": row["text"]}
        for row in reversed(recent)
    ]
    quoted = _quoted_texts(conversation, inbound)
    messages += [{"role": "customer", "text": prompt_text(m, quoted), "unanswered": True} for m in inbound]
    return {
        "run_key": run_key,
        "conversation_id": conversation.pk,
        "correlation_id": inbound[-1].correlation_id,
        "release_number": release.number,
        # The LLM worker reads the release's context from its own loader (ADR 0017): ≈10 KB less per hop.
        "release_token": release_token_of(release),
        # Whether a person can answer now (and when next), so the decision and the reply can say so.
        "hours_line": business_hours_status().prompt_line(),
        "templates": _templates(release, variant),
        "variant": variant.name if variant else "",
        "current_state": conversation.state,
        "allowed_states": allowed_bot_targets(conversation.state),
        "history": conversation_state_history(conversation_id=conversation.pk, limit=10),
        "messages": messages,
        "images": images_for_prompt(messages=inbound),
    }
