"""The offline provider: deterministic answers from the published FAQ, used with no LLM or as fallback.

It produces the same three outputs as the LLM tasks (a state decision, a reply, a message type), so
finalize treats both alike. It answers when a question matches an FAQ well, offers FAQ topics as
reply buttons on a greeting, and hands over to a person when asked or when nothing matches.
"""

import re
from dataclasses import dataclass
from typing import Any

from conversations.selectors import wants_human
from conversations.states import State
from institutional.guard import normalize_text
from institutional.snapshot import FaqEntry, ReleaseSnapshot, ordered_faqs
from pyloto.pipeline.compose import clip
from pyloto.whatsapp.payloads import BUTTON_TITLE_MAX, MAX_REPLY_BUTTONS

PROVIDER = "offline"
PROMPT_VERSION = "offline-1"
# A match needs this share of the question's meaningful words (or a keyword hit) to be trusted.
MATCH_THRESHOLD = 0.5

_WORD = re.compile(r"\w+")
_STOPWORDS = frozenset(
    """a o as os de da do das dos e é em no na nos nas um uma uns umas para pra por com sem que qual quais
    como quando onde eu voce voces vc meu minha seu sua me te se ao aos the an and or of to in on for is are
    do does can i you your my what how when where which vocês tem ter há ha sobre isso esse essa este esta""".split()
)
_GREETINGS = frozenset("oi ola olá bom dia boa tarde noite hello hi hey e ai eai opa salve tudo bem".split())

HANDOFF_TEXT = (
    "Claro! Vou te transferir para uma pessoa da nossa equipe. Em instantes alguém continua o atendimento por aqui."
)
GREETING_TEXT = (
    "Olá! Sou o assistente virtual da {company}. Como posso ajudar? Escolha um assunto ou escreva sua dúvida."
)
NO_MATCH_TEXT = (
    "Não encontrei essa informação por aqui. Vou chamar uma pessoa da nossa equipe para te ajudar — "
    "ela continua este atendimento em breve."
)


@dataclass(frozen=True)
class OfflineAnswer:
    decision: dict[str, Any]
    reply: dict[str, Any]
    choice: dict[str, Any]
    matched_faq_id: int | None = None


def _terms(text: str) -> set[str]:
    return {word for word in _WORD.findall(normalize_text(text)) if word not in _STOPWORDS and len(word) > 1}


def faq_button_title(faq: FaqEntry) -> str:
    """The short label a topic gets on a reply button (≤ 20 characters)."""
    label = faq.keywords[0] if faq.keywords else faq.question
    return clip(label[:1].upper() + label[1:], BUTTON_TITLE_MAX)


def best_faq(release: ReleaseSnapshot, text: str) -> FaqEntry | None:
    """The FAQ entry that answers `text`, or None when none matches well enough. Deterministic."""
    folded = normalize_text(text).strip(" .!?")
    faqs = ordered_faqs(release.faqs)
    for faq in faqs:  # a tapped topic button sends its title back verbatim
        if folded and folded == normalize_text(faq_button_title(faq)).strip(" .!?…"):
            return faq
    asked = _terms(text)
    if not asked:
        return None
    best: tuple[float, int, FaqEntry] | None = None
    for position, faq in enumerate(faqs):
        question_terms = _terms(faq.question)
        keyword_terms = set().union(*(_terms(k) for k in faq.keywords)) if faq.keywords else set()
        overlap = len(asked & question_terms) / max(len(question_terms), 1)
        score = overlap + (0.6 if asked & keyword_terms else 0.0)
        if score >= MATCH_THRESHOLD and (best is None or score > best[0]):
            best = (score, -position, faq)
    return best[2] if best else None


def _is_greeting(text: str) -> bool:
    words = _WORD.findall(normalize_text(text))
    return bool(words) and len(words) <= 6 and all(word in _GREETINGS or word in _STOPWORDS for word in words)


def _decision(target: State, current_state: str, allowed: list[str], reason: str, wants_person: bool = False) -> dict:
    chosen = target.value if target.value in allowed else current_state
    return {"target_state": chosen, "reason": reason, "customer_wants_human": wants_person}


def _text_choice(reason: str) -> dict[str, Any]:
    return {
        "message_type": "TEXT",
        "buttons": [],
        "list_button_label": "",
        "list_rows": [],
        "media": None,
        "reason": reason,
    }


def offline_answer(
    *, release: ReleaseSnapshot, messages: list[str], current_state: str, allowed_targets: list[str]
) -> OfflineAnswer:
    """Answer the customer's unanswered messages from the release alone."""
    text = "\n".join(m for m in messages if m.strip())
    company = release.profile.name or "nossa empresa"
    if wants_human(text):
        return OfflineAnswer(
            decision=_decision(
                State.HANDOFF_REQUESTED, current_state, allowed_targets, "customer asked for a person", True
            ),
            reply={"text": HANDOFF_TEXT},
            choice=_text_choice("handoff notice"),
        )
    faq = best_faq(release, text)
    if faq is not None:
        return OfflineAnswer(
            decision=_decision(State.ANSWERING, current_state, allowed_targets, f"answered from FAQ {faq.id}"),
            reply={"text": faq.answer},
            choice=_text_choice("FAQ answer"),
            matched_faq_id=faq.id,
        )
    if _is_greeting(text) or not text:
        topics = ordered_faqs(release.faqs)[:MAX_REPLY_BUTTONS]
        buttons = [{"id": f"faq-{faq.id}", "title": faq_button_title(faq)} for faq in topics]
        return OfflineAnswer(
            decision=_decision(State.TRIAGE, current_state, allowed_targets, "greeting"),
            reply={"text": GREETING_TEXT.format(company=company)},
            choice={
                **_text_choice("greeting with topics"),
                "message_type": "BUTTON" if buttons else "TEXT",
                "buttons": buttons,
            },
        )
    return OfflineAnswer(
        decision=_decision(State.HANDOFF_REQUESTED, current_state, allowed_targets, "no FAQ matched", False),
        reply={"text": NO_MATCH_TEXT},
        choice=_text_choice("no match: handoff"),
    )
