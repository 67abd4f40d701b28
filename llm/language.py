"""The customer's language, detected offline (py3langid's bundled model) with a lexicon for one-word messages.

Statistical detection is unreliable on "tchau" or "ok", so short courtesy words decide first when they
are unambiguous, the model decides when it is confident, and otherwise the conversation's earlier
messages (or the release's default language) do.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache
from typing import Any

# Languages the assistant can at least say a polite sentence in (see `llm.offline`).
SUPPORTED_LANGUAGES = ("pt", "en", "es", "fr", "it", "de")
# Below this probability (py3langid's normalised score over SUPPORTED_LANGUAGES) the model is not trusted.
MIN_CONFIDENCE = 0.7
# Texts shorter than this (in words) need a higher confidence: a word or two says little.
SHORT_TEXT_WORDS = 3
SHORT_TEXT_CONFIDENCE = 0.9

_WORD = re.compile(r"\w+")
# Words that name their language on their own (accents folded). "ola"/"hola" style overlaps are left out.
_LEXICON: dict[str, frozenset[str]] = {
    "pt": frozenset(
        "oi obrigado obrigada obg brigado valeu vlw tchau xau ate logo mais bom boa dia tarde noite voce voces "
        "quanto custa nao sim quero falar pessoa atendente".split()
    ),
    "en": frozenset("hi hello hey thanks thank you thx bye goodbye how much what please yes no want talk".split()),
    "es": frozenset("hola gracias adios chao buenos buenas dias usted cuanto cuesta quiero hablar si".split()),
    "fr": frozenset("bonjour merci salut revoir combien oui non".split()),
    "it": frozenset("ciao grazie buongiorno arrivederci costa".split()),
    "de": frozenset("hallo danke tschuss guten morgen tag wie viel kostet".split()),
}


def fold(text: str) -> str:
    """Lower-case and strip accents, keeping words and digits (how texts are compared offline)."""
    decomposed = unicodedata.normalize("NFKD", text or "")
    return "".join(char for char in decomposed if not unicodedata.combining(char)).casefold()


@cache
def _identifier() -> Any:
    # Loaded once per process (about half a second): the model ships inside the package, no download.
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    identifier.set_languages(list(SUPPORTED_LANGUAGES))
    return identifier


def _lexicon_vote(words: list[str]) -> str | None:
    votes = {language: sum(word in lexicon for word in words) for language, lexicon in _LEXICON.items()}
    best = max(votes.values())
    winners = [language for language, count in votes.items() if count == best]
    return winners[0] if best and len(winners) == 1 else None


def detect_confident(text: str) -> str | None:
    """The language of `text` when it is clear, else None."""
    words = _WORD.findall(fold(text))
    if not words:
        return None
    lexical = _lexicon_vote(words)
    language, probability = _identifier().classify(text)
    needed = SHORT_TEXT_CONFIDENCE if len(words) < SHORT_TEXT_WORDS else MIN_CONFIDENCE
    if probability >= needed:
        # A lone courtesy word the model misreads ("tchau" as German) is settled by the lexicon.
        return lexical if lexical and len(words) < SHORT_TEXT_WORDS else str(language)
    return lexical


def detect_language(text: str, *, earlier_texts: list[str], default: str) -> str:
    """The customer's language: this text's when clear, else the conversation's so far, else `default`."""
    return detect_confident(text) or detect_confident(" ".join([*earlier_texts[-6:], text])) or default
