"""The offline provider: deterministic answers from the published FAQ, used with no LLM or as fallback.

It produces the same three outputs as the LLM tasks (a state decision, a reply, a message type), so
finalize treats both alike. In the customer's language (detected offline) it:
- answers a question from the FAQ that clearly answers it (`llm.faq_search`), never a near guess;
- answers a greeting with the topics as buttons, and a thank-you or goodbye politely, without handoff;
- answers what it cannot with what the company does, "our team confirms that", and the topics as
  buttons, and hands over to a person only when asked or after repeated misses;
- says politely, in the customer's language, when the release has no content in it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from conversations.selectors import wants_human
from conversations.states import State
from institutional.snapshot import FaqEntry, ReleaseSnapshot, language_code, ordered_faqs
from llm.faq_search import FILLER, STOPWORDS, FaqIndex, terms
from llm.language import detect_language, fold
from pyloto.whatsapp.compose import clip
from pyloto.whatsapp.payloads import BUTTON_TITLE_MAX, MAX_REPLY_BUTTONS

PROVIDER = "offline"
PROMPT_VERSION = "offline-2"
# This many misses in a row (this one included) hand the conversation to a person.
MISSES_BEFORE_HANDOFF = 2
# Decision reasons of the answers that did not help: the pipeline passes recent ones back to count misses.
MISS_REASON = "offline: no FAQ clearly answers"
ABUSE_REASON = "offline: abusive message"
_MISS_REASONS = (MISS_REASON, ABUSE_REASON)
HANDOFF_BUTTON_ID = "handoff"
MIN_TERMS_BESIDE_ABUSE = 3

_WORD = re.compile(r"\w+")
_GREETINGS = frozenset(
    "oi ola bom dia boa tarde noite hello hi hey hola buenos buenas dias tardes noches good morning afternoon evening "
    "e ai eai opa "
    "salve tudo bem bonjour salut ciao buongiorno hallo guten tag morgen".split()
)
_THANKS = frozenset(
    "obrigado obrigada obg brigado brigada valeu vlw agradeco grato grata thanks thank thx ty gracias merci grazie "
    "danke".split()
)
_GOODBYES = frozenset(
    "tchau xau adeus flw falou bye goodbye adios chao chau hasta luego ate logo see later au revoir arrivederci "
    "tschuss".split()
)
# Words that may sit beside a thank-you or goodbye without asking anything.
_COURTESY_FILLER = frozenset(
    "muito muita mesmo pela pelo ajuda help much lot so mucho todo tudo ok certo beleza blz perfeito otimo "
    "great perfect entendi combinado show top ate mais logo you very por la su sua nice day dia bom boa "
    "tenha have muchas muchisimas many".split()
)
# A message that only acknowledges ("ok", "entendi") is answered like a thank-you.
_ACKNOWLEDGEMENTS = frozenset("ok okay certo beleza blz entendi combinado perfeito otimo show".split())
_ABUSE = frozenset(
    "idiota burro burra lixo merda porra caralho otario otaria imbecil estupido estupida inutil vagabundo fdp "
    "idiot stupid useless shit fuck fucking crap garbage dumb moron mierda pendejo basura estupido porcaria ferrar "
    "ferra bosta droga palhaco lixo ridiculo".split()
)

# What the assistant says in each language it knows. {company}/{description} come from the release.
_TEXTS: dict[str, dict[str, str]] = {
    "pt": {
        "greeting": (
            "Olá! Sou o assistente virtual da {company}. Como posso ajudar? Escolha um assunto ou escreva sua dúvida."
        ),
        "handoff": (
            "Claro! Vou te transferir para uma pessoa da nossa equipe. Em instantes alguém continua o atendimento "
            "por aqui."
        ),
        "miss_handoff": (
            "Não consegui encontrar uma resposta segura para isso por aqui. Vou te transferir para uma pessoa da "
            "nossa equipe, que continua o atendimento em breve."
        ),
        "miss": (
            "Não tenho uma resposta confirmada para isso por aqui — para não te passar nada errado, quem confirma "
            "é a nossa equipe (toque em “Falar com a equipe”).\n\n{description}\n\nPosso ajudar com estes assuntos:"
        ),
        "goodbye": "Eu que agradeço! Foi um prazer ajudar. Quando precisar, é só mandar uma mensagem. Até logo!",
        "thanks": "De nada! Se precisar de mais alguma coisa, é só escrever.",
        "abuse": (
            "Entendo que algo possa ter te incomodado. Estou aqui para ajudar com dúvidas sobre a {company}; se "
            "preferir, uma pessoa da equipe pode continuar o atendimento."
        ),
        "talk": "Falar com a equipe",
        "no_content": "",
    },
    "en": {
        "greeting": "Hello! I'm {company}'s virtual assistant. How can I help? Pick a topic or type your question.",
        "handoff": (
            "Sure! I'm passing you to a person from our team. Someone will continue the conversation here shortly."
        ),
        "miss_handoff": (
            "I couldn't find a reliable answer to that here. I'm passing you to a person from our team, who will "
            "continue shortly."
        ),
        "miss": (
            "I don't have a confirmed answer to that here — so I don't tell you anything wrong, our team confirms "
            "it (tap “Talk to the team”).\n\n{description}\n\nI can help with these topics:"
        ),
        "goodbye": "Thank you! It was a pleasure to help. Whenever you need us, just send a message. Bye!",
        "thanks": "You're welcome! If you need anything else, just write.",
        "abuse": (
            "I understand something may have bothered you. I'm here to help with questions about {company}; if "
            "you prefer, a person from the team can take over."
        ),
        "talk": "Talk to the team",
        "no_content": (
            "Sorry, I can only answer in Portuguese for now. A person from our team can help you — tap "
            "“Talk to the team”."
        ),
    },
    "es": {
        "greeting": (
            "¡Hola! Soy el asistente virtual de {company}. ¿En qué puedo ayudar? Elija un tema o escriba su duda."
        ),
        "handoff": (
            "¡Claro! Le paso con una persona de nuestro equipo. En breve alguien continúa la atención por aquí."
        ),
        "miss_handoff": (
            "No encontré una respuesta segura para eso por aquí. Le paso con una persona de nuestro equipo, que "
            "continúa la atención en breve."
        ),
        "miss": (
            "No tengo una respuesta confirmada para eso por aquí — para no darle información errónea, quien lo "
            "confirma es nuestro equipo (toque “Hablar con equipo”).\n\n{description}\n\nPuedo ayudar con estos temas:"
        ),
        "goodbye": "¡Gracias a usted! Fue un placer ayudar. Cuando lo necesite, solo envíe un mensaje. ¡Hasta luego!",
        "thanks": "¡De nada! Si necesita algo más, solo escriba.",
        "abuse": (
            "Entiendo que algo le haya molestado. Estoy aquí para ayudar con dudas sobre {company}; si prefiere, "
            "una persona del equipo puede continuar la atención."
        ),
        "talk": "Hablar con equipo",
        "no_content": (
            "Lo siento, por ahora solo puedo responder en portugués. Una persona de nuestro equipo puede "
            "ayudarle: toque “Hablar con equipo”."
        ),
    },
    "fr": {
        "handoff": "Bien sûr ! Je vous mets en relation avec une personne de notre équipe.",
        "miss_handoff": "Je vous mets en relation avec une personne de notre équipe, qui continuera bientôt.",
        "goodbye": "Merci à vous ! Au revoir.",
        "thanks": "Avec plaisir !",
        "talk": "Parler à l'équipe",
        "no_content": (
            "Désolé, je ne peux répondre qu'en portugais pour le moment. Une personne de notre équipe peut vous "
            "aider : touchez « Parler à l'équipe »."
        ),
    },
    "it": {
        "handoff": "Certo! La metto in contatto con una persona del nostro team.",
        "miss_handoff": "La metto in contatto con una persona del nostro team, che continuerà a breve.",
        "goodbye": "Grazie a lei! Arrivederci.",
        "thanks": "Prego!",
        "talk": "Parla con il team",
        "no_content": (
            "Mi dispiace, per ora posso rispondere solo in portoghese. Una persona del nostro team può aiutarla: "
            "tocchi «Parla con il team»."
        ),
    },
    "de": {
        "handoff": "Gern! Ich verbinde Sie mit einer Person aus unserem Team.",
        "miss_handoff": "Ich verbinde Sie mit einer Person aus unserem Team, die sich gleich meldet.",
        "goodbye": "Vielen Dank! Auf Wiedersehen.",
        "thanks": "Gern geschehen!",
        "talk": "Mit dem Team reden",
        "no_content": (
            "Entschuldigung, im Moment kann ich nur auf Portugiesisch antworten. Eine Person aus unserem Team "
            "kann Ihnen helfen: Tippen Sie auf „Mit dem Team reden“."
        ),
    },
}
_TALK_TITLES = frozenset(fold(texts["talk"]) for texts in _TEXTS.values())


@dataclass(frozen=True)
class OfflineAnswer:
    decision: dict[str, Any]
    reply: dict[str, Any]
    choice: dict[str, Any]
    matched_faq_id: int | None = None
    language: str = "pt"


def faq_button_title(faq: FaqEntry, language: str = "", default_language: str = "pt-BR") -> str:
    """The short label a topic gets on a reply button (≤ 20 characters), in `language` when translated."""
    content = faq.in_language(language or language_code(default_language), default_language) or faq
    label = content.keywords[0] if content.keywords else content.question
    return clip(label[:1].upper() + label[1:], BUTTON_TITLE_MAX)


def _words(text: str) -> list[str]:
    return _WORD.findall(fold(text))


def _courtesy(words: list[str]) -> str | None:
    """ "goodbye", "thanks" or None: a message that only thanks or takes leave asks for nothing."""
    if not words or len(words) > 12:
        return None
    polite = _THANKS | _GOODBYES | _COURTESY_FILLER | _GREETINGS | STOPWORDS
    if not all(word in polite for word in words):
        return None
    if any(word in _GOODBYES for word in words):
        return "goodbye"
    return "thanks" if any(word in _THANKS or word in _ACKNOWLEDGEMENTS for word in words) else None


def _is_greeting(words: list[str]) -> bool:
    return bool(words) and len(words) <= 8 and all(w in _GREETINGS or w in STOPWORDS or w in FILLER for w in words)


def _decision(target: State, current_state: str, allowed: list[str], reason: str, wants_person: bool = False) -> dict:
    chosen = target.value if target.value in allowed else current_state
    return {"target_state": chosen, "reason": reason, "customer_wants_human": wants_person}


def _choice(reason: str, buttons: list[dict[str, str]] | None = None) -> dict[str, Any]:
    return {
        "message_type": "BUTTON" if buttons else "TEXT",
        "buttons": buttons or [],
        "list_button_label": "",
        "list_rows": [],
        "media": None,
        "reason": reason,
    }


def _text(language: str, key: str) -> str:
    """A canned sentence in `language`, falling back to Portuguese for what a language lacks."""
    return _TEXTS.get(language, {}).get(key) or _TEXTS["pt"][key]


def _consecutive_misses(recent_reasons: list[str]) -> int:
    misses = 0
    for reason in recent_reasons:
        if reason not in _MISS_REASONS:
            break
        misses += 1
    return misses


class _Reply:
    """What one run knows while composing: the release, the customer's language, where the conversation is."""

    def __init__(self, *, release: ReleaseSnapshot, language: str, current_state: str, allowed: list[str]) -> None:
        self.release = release
        self.default = language_code(release.profile.default_language) or "pt"
        self.has_content = language == self.default or any(
            item.language == language for faq in release.faqs for item in faq.translations
        )
        # Without content in the customer's language the topics and facts come in the default one.
        self.language = language
        self.content_language = language if self.has_content else self.default
        self.current_state = current_state
        self.allowed = allowed
        self.company = release.profile.name or "nossa empresa"

    def say(self, key: str, **values: str) -> str:
        language = self.language if key in _TEXTS.get(self.language, {}) else self.content_language
        return _text(language, key).format(company=self.company, **values)

    def with_note(self, text: str) -> str:
        """Prefix the polite "I only answer in …" note when the customer's language has no content."""
        note = "" if self.has_content else _TEXTS.get(self.language, {}).get("no_content", "")
        return f"{note}\n\n{text}" if note else text

    def topic_buttons(self, *, with_talk: bool) -> list[dict[str, str]]:
        slots = MAX_REPLY_BUTTONS - (1 if with_talk else 0)
        topics = [
            faq
            for faq in ordered_faqs(self.release.faqs)
            if faq.in_language(self.content_language, self.release.profile.default_language) is not None
            and not wants_human(faq.question)
        ][:slots]
        buttons = [
            {
                "id": f"faq-{faq.id}",
                "title": faq_button_title(faq, self.content_language, self.release.profile.default_language),
            }
            for faq in topics
        ]
        if with_talk:
            buttons.append({"id": HANDOFF_BUTTON_ID, "title": clip(self.say("talk"), BUTTON_TITLE_MAX)})
        return buttons

    def answer(self, target: State, reason: str, text: str, buttons: list[dict[str, str]] | None = None, **extra: Any):
        wants_person = bool(extra.pop("wants_person", False))
        return OfflineAnswer(
            decision=_decision(target, self.current_state, self.allowed, reason, wants_person),
            reply={"text": text},
            choice=_choice(reason, buttons),
            language=self.language,
            **extra,
        )


def offline_answer(
    *,
    release: ReleaseSnapshot,
    messages: list[str],
    current_state: str,
    allowed_targets: list[str],
    earlier_texts: list[str] | None = None,
    recent_reasons: list[str] | None = None,
) -> OfflineAnswer:
    """Answer the customer's unanswered `messages` from the release alone.

    `earlier_texts` are the customer's earlier messages (to keep the language of "ok" or "1");
    `recent_reasons` are the reasons of the conversation's latest bot decisions, newest first (to count
    misses in a row).
    """
    text = "\n".join(m for m in messages if m.strip())
    default = language_code(release.profile.default_language) or "pt"
    language = detect_language(text, earlier_texts=earlier_texts or [], default=default) if text else default
    reply = _Reply(release=release, language=language, current_state=current_state, allowed=allowed_targets)
    words = _words(text)

    if wants_human(text) or fold(text).strip(" .!?") in _TALK_TITLES:
        return reply.answer(
            State.HANDOFF_REQUESTED, "customer asked for a person", reply.say("handoff"), wants_person=True
        )
    tapped = _tapped_topic(release, text)
    if tapped is not None:
        return _faq_answer(reply, (tapped,), f"answered from FAQ {tapped.id} (topic button)")
    courtesy = _courtesy(words)
    if courtesy == "goodbye":
        return reply.answer(State.RESOLVED, "offline: the customer said goodbye", reply.say("goodbye"))
    if courtesy == "thanks":
        return reply.answer(State(current_state), "offline: the customer said thanks", reply.say("thanks"))
    if not text or _is_greeting(words):
        greeting = reply.with_note(reply.say("greeting"))
        return reply.answer(State.TRIAGE, "greeting", greeting, reply.topic_buttons(with_talk=not reply.has_content))

    abusive = any(word in _ABUSE for word in words)
    polite_words = " ".join(word for word in words if word not in _ABUSE)
    index = FaqIndex(release.faqs, language=reply.content_language, default_language=release.profile.default_language)
    # An insult with a word or two around it is not a question ("lixo de atendimento"); one with a question is.
    asks = not abusive or len(terms(polite_words)) >= MIN_TERMS_BESIDE_ABUSE
    match = index.search(polite_words) if asks else None
    if match is not None:
        faq_ids = ", ".join(str(faq.id) for faq in match.faqs)
        return _faq_answer(reply, match.faqs, f"answered from FAQ {faq_ids} (coverage {match.coverage})")

    misses = _consecutive_misses(recent_reasons or []) + 1
    if misses >= MISSES_BEFORE_HANDOFF:
        return reply.answer(
            State.HANDOFF_REQUESTED, f"offline: {misses} misses in a row", reply.with_note(reply.say("miss_handoff"))
        )
    if abusive:
        return reply.answer(
            State(current_state), ABUSE_REASON, reply.with_note(reply.say("abuse")), reply.topic_buttons(with_talk=True)
        )
    description = release.profile.description_in(reply.content_language) or release.profile.description
    body = reply.with_note(reply.say("miss", description=description.strip()))
    return reply.answer(State.TRIAGE, MISS_REASON, body, reply.topic_buttons(with_talk=True))


def _faq_answer(reply: _Reply, faqs: tuple[FaqEntry, ...], reason: str) -> OfflineAnswer:
    default_language = reply.release.profile.default_language
    parts = [(faq.in_language(reply.content_language, default_language) or faq).answer for faq in faqs]
    return reply.answer(State.ANSWERING, reason, reply.with_note("\n\n".join(parts)), matched_faq_id=faqs[0].id)


def _tapped_topic(release: ReleaseSnapshot, text: str) -> FaqEntry | None:
    """A tapped topic button sends its title back verbatim: the FAQ it names, in any language."""
    folded = fold(text).strip(" .!?…")
    if not folded:
        return None
    default_language = release.profile.default_language
    for faq in ordered_faqs(release.faqs):
        languages = {language_code(default_language), *(item.language for item in faq.translations)}
        if any(folded == fold(faq_button_title(faq, code, default_language)).strip(" .!?…") for code in languages):
            return faq
    return None
