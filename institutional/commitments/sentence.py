"""A sentence as the rules read it: words with their scope (negation, condition, person, the nearest object)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from institutional.amounts import item_key
from institutional.commitments.lexicon import (
    ACCOUNT,
    BEFORE_NOUN,
    CONDITION,
    CONDITION_PAIRS,
    CONSIDER,
    CONTACT_DETAILS,
    END,
    FIRST_PERSON,
    FIRST_PERSON_ENDINGS,
    FIRST_PERSON_MARKERS,
    FIRST_PERSON_WORDS,
    HOURS,
    NEGATION,
    NEGATION_EN_ES,
    NOT_ACTS,
    POSSESSIVE_CUSTOMER,
    SECOND_PERSON,
    THIRD_PARTY,
    THIRD_PARTY_ONLY,
    Phrases,
    classify,
    squeezed_phrases,
    squeezed_words,
)
from institutional.textnorm import Token, squeeze


@dataclass(frozen=True, slots=True)
class Finding:
    """One commitment the detector found: which family it breaks and the parse that says so."""

    family: str  # CLOSURE, PRICE, CREDENTIALS or ADVICE
    reason: str  # the parse in words, for the ledger and the admin tester
    evidence: str  # the words of the sentence that fired
    # A confirmation with nothing named ("Confirmado!"): it binds only a reply that has a deal in view
    # (see `verdict.find_commitments`); alone, or with thanks, it acknowledges.
    bare_confirmation: bool = False


# --- The rules -------------------------------------------------------------------------------------------
@dataclass(slots=True)
class Sentence:
    words: list[str]
    # The sentence's tokens: `raw` (what the evidence shows) is read from them only when a rule fires.
    tokens: Sequence[Token]
    # Index into `words` of the first word after the last comma/quote before each word (negation scope).
    segment_start: list[int]
    question: bool
    language: str
    quoted: set[int]
    vocabulary: frozenset[str] = frozenset()

    @property
    def raw(self) -> list[str]:
        """Each word as written (folded, before squeezing)."""
        return [token.raw or token.text for token in self.tokens if token.kind != "punct"]

    def evidence(self, start: int, end: int) -> str:
        return " ".join(self.raw[max(start, 0) : end])

    def phrase_at(self, phrases: Iterable[tuple[str, ...]]) -> int:
        """Where the first of `phrases` occurs (-1 when none does): a word test before any slicing."""
        if isinstance(phrases, Phrases) and phrases.firsts.isdisjoint(self.vocabulary):
            return -1
        words = self.words
        for phrase in phrases:
            if phrase[0] not in self.vocabulary or not self.vocabulary.issuperset(phrase):
                continue
            size = len(phrase)
            for index, word in enumerate(words):
                if word == phrase[0] and tuple(words[index : index + size]) == phrase:
                    return index
        return -1

    def indices(self, wanted: frozenset[str]) -> list[int]:
        """Where the words of `wanted` occur, in order (a rule then looks only there, not at every word)."""
        if wanted.isdisjoint(self.vocabulary):
            return []
        return [index for index, word in enumerate(self.words) if word in wanted]

    @property
    def third_party(self) -> bool:
        """Someone other than the speaker or the customer is in the sentence (the team, a salesperson)."""
        return not THIRD_PARTY_ONLY.isdisjoint(self.vocabulary)


# Before a priced item's name ("no Profissional", "o Essencial", "the Professional"): the name is the plan.
_BEFORE_ITEM = squeezed_words("o no do ao pelo a na da the in on into to el en del al plano plan plan planes planos")
# After a possessive too ("seu Profissional já está rodando", "your Professional is live"), unless the name is
# an everyday word the customer's own business is called by ("sua empresa" is their company, not the plan).
_POSSESSIVES = POSSESSIVE_CUSTOMER | squeezed_words("nosso nossa our nuestro nuestra")
_EVERYDAY_NAMES = frozenset(item_key(word) for word in "empresa empresas company negocio business loja".split())
_ITEM_LEADS = _BEFORE_ITEM | _POSSESSIVES
_MASCULINE_POSSESSIVES = squeezed_words("seu teu nosso")
_PLAN = squeeze("plano")


def prepare(tokens: Sequence[Token], language: str, items: frozenset[str] = frozenset()) -> Sentence:
    """The sentence's words with their scope. `items` are the keys (see `amounts.item_key`) of the
    release's priced items: a name among them after an article or "plano" reads as the plan it names."""
    words: list[str] = []
    add_word = words.append
    # Where each punctuation mark that sets scope stands: (how many words come before it, the mark).
    marks: list[tuple[int, str]] = []
    for token in tokens:
        kind = token.kind
        if kind == "word":
            add_word(token.text)
        elif kind == "punct":
            if token.text in _SCOPE_MARKS:
                marks.append((len(words), token.text))
        else:
            add_word("#" + token.text)  # numbers and money: never a word of any list
    if not _REASSURANCE.firsts.isdisjoint(words) and not _REASSURED.isdisjoint(words):
        _drop_reassurance(words)
    if items:
        for index in range(1, len(words)):
            previous, word = words[index - 1], words[index]
            if previous in _ITEM_LEADS and not word.startswith("#") and _names_item(previous, item_key(word), items):
                words[index] = _PLAN
    question = False
    quoted: set[int] = set()
    if not marks:
        segment_start = [0] * len(words)
    else:
        segment_start = []
        start = done = 0
        in_quote = False
        for position, mark in (*marks, (len(words), "")):
            # The words before this mark and after the previous one share its scope.
            segment_start.extend([start] * (position - done))
            if in_quote:
                quoted.update(range(done, position))
            done = position
            if mark in _QUESTION_MARKS:
                question = True
            elif mark in _QUOTES:
                in_quote = not in_quote
            if mark in _SEGMENT_MARKS:
                start = position
    return Sentence(
        words=words,
        tokens=tokens,
        segment_start=segment_start,
        question=question,
        language=language,
        quoted=quoted,
        vocabulary=frozenset(words),
    )


_QUESTION_MARKS = frozenset("?¿")
_QUOTES = frozenset('"“”«»')
_SEGMENT_MARKS = frozenset(',()"“”«»')
_SCOPE_MARKS = _QUESTION_MARKS | _SEGMENT_MARKS


# "Sem problemas, ...", "no worries", "no se preocupe": a reassurance, not a negation of what follows it.
_REASSURANCE = squeezed_phrases(
    ("sem", "problema"),
    ("sem", "problemas"),
    ("nao", "tem", "problema"),
    ("nao", "ha", "problema"),
    ("nao", "se", "preocupe"),
    ("no", "problem"),
    ("no", "problems"),
    ("no", "worries"),
    ("do", "not", "worry"),
    ("sin", "problema"),
    ("sin", "problemas"),
    ("no", "hay", "problema"),
    ("no", "se", "preocupe"),
    ("no", "te", "preocupes"),
)
_REASSURED = frozenset(phrase[-1] for phrase in _REASSURANCE)
# What stands in for the idiom's words: no list holds it, so the idiom neither negates nor names anything.
_REASSURANCE_MARK = "~"


def _drop_reassurance(words: list[str]) -> None:
    for phrase in _REASSURANCE:
        size = len(phrase)
        for index, word in enumerate(words):
            if word == phrase[0] and tuple(words[index : index + size]) == phrase:
                words[index : index + size] = [_REASSURANCE_MARK] * size


def _names_item(previous: str, key: str, items: frozenset[str]) -> bool:
    """Whether a word whose item key is `key`, after `previous`, names one of the release's priced items."""
    if key not in items:
        return False
    if previous in _BEFORE_ITEM:
        return True
    # "Seu Empresa" (a masculine possessive before a feminine word) can only be the plan.
    return previous in _POSSESSIVES and (key not in _EVERYDAY_NAMES or previous in _MASCULINE_POSSESSIVES)


def left_of(sentence: Sentence, index: int, size: int) -> list[str]:
    start = max(sentence.segment_start[index], index - size)
    return sentence.words[start:index]


def is_negated(sentence: Sentence, index: int, size: int = 5) -> bool:
    for word in left_of(sentence, index, size):
        if word in NEGATION or (word in NEGATION_EN_ES and sentence.language in ("en", "es")):
            return True
    return False


def nearest_role(sentence: Sentence, index: int, size: int = 6) -> tuple[str, str, int] | None:
    """The nearest object or innocent noun around `index`: (role, kind, position)."""
    best: tuple[float, tuple[str, str, int]] | None = None
    for position in range(max(0, index - size), min(len(sentence.words), index + size + 1)):
        if position == index:
            continue
        word = sentence.words[position]
        if HOURS.match(word.lstrip("#")):
            role: tuple[str, str] | None = ("noun", "")
        else:
            found = classify(word)
            role = found if found is not None and found[0] in ("object", "noun") else None
            if role is not None and role[0] == "object" and sentence.language == "es" and word == "fecha":
                role = ("object", "deadline")
            if role == ("noun", "") and word in END and sentence.words[position + 1 : position + 3] != ["de", "semana"]:
                role = None  # "até o fim do mês" is a date; "fim de semana" is when the office is closed
            if role is None and word in ACCOUNT and position and sentence.words[position - 1] in POSSESSIVE_CUSTOMER:
                role = ("object", "subscription")  # "sua conta foi criada" (not "me conta", "a conta de luz")
            if role is None and word in CONTACT_DETAILS:
                role = ("noun", "")  # "confirmado o seu contato": the customer's details, not a deal
        if role is None:
            continue
        distance = abs(position - index) + (0.5 if position > index else 0)
        if best is None or distance < best[0]:
            best = (distance, (role[0], role[1], position))
    return best[1] if best else None


def is_first_person(sentence: Sentence, index: int, word: str, act_stem_len: int) -> bool:
    """The act at `index` is the speaker's own: a first-person ending, pronoun or auxiliary before it."""
    suffix = word[act_stem_len:]
    language = sentence.language
    if word in FIRST_PERSON_WORDS:
        return True
    if language != "en" and (suffix in FIRST_PERSON_ENDINGS or (suffix == "o" and word not in NOT_ACTS)):
        return True
    if language == "es" and suffix == "e":
        return True  # "firmé", "cerré" (the accent folded away)
    left = left_of(sentence, index, 4)
    for offset, previous in enumerate(reversed(left)):
        if previous in THIRD_PARTY and previous not in SECOND_PERSON:
            return False
        if previous in FIRST_PERSON_MARKERS or previous in FIRST_PERSON:
            if previous == "me" and language != "en":
                continue  # "me" is the customer in "me confirma" (PT/ES)
            if previous == "he" and language == "en":
                continue
            return True
        if language == "en" and previous in ("can", "will", "wil", "shall", "could", "would", "have", "am", "are"):
            before = left[: len(left) - offset - 1]
            return bool(before) and before[-1] in ("i", "we")
        if previous in ("te", "lhe", "le", "you", "ti"):
            # "te garanto", "te dou", "I can give you": the customer as the one receiving; with a first-person
            # word earlier in the sentence ("vou abrir uma exceção e te dar"), the speaker is the giver.
            if offset == 0 and not (FIRST_PERSON_MARKERS | FIRST_PERSON).isdisjoint(sentence.words[:index]):
                return True
            continue
        if previous in SECOND_PERSON:
            return False
    return False


def has_condition_before(sentence: Sentence, index: int) -> bool:
    left = sentence.words[sentence.segment_start[index] : index][-7:]
    for position, word in enumerate(left):
        previous = left[position - 1] if position else ""
        if (previous, word) in CONDITION_PAIRS:
            return True
        if word not in CONDITION:
            continue
        if word == "se" and previous in CONSIDER:
            continue  # reflexive: "considera-se contratado"
        if word == "caso" and previous in BEFORE_NOUN:
            continue  # a noun: "no seu caso"
        return True
    return False


def is_generic_plural(sentence: Sentence, index: int) -> bool:
    nearest = nearest_role(sentence, index)
    if nearest is None or nearest[0] != "object":
        return False
    position = nearest[2]
    word = sentence.words[position]
    owned = any(w in POSSESSIVE_CUSTOMER for w in sentence.words[max(0, position - 2) : position])
    return word.endswith("s") and not owned and sentence.words[position - 1 : position] != ["os"]
