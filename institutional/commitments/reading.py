"""Text to tokens for the detector: folded, repaired against evasion, long replies read only where they may commit."""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache, reduce
from operator import or_

from institutional.amounts import AMOUNT_WORDS, NUMBER_NAMES, PRICE_WORDS
from institutional.commitments.acts import DATE_WORDS, MONTHS, READY
from institutional.commitments.advice import (
    ADVICE_RULE_WORDS,
    BY_LAW,
    CARE,
    CREDENTIAL_PHRASES,
    CREDENTIAL_WORDS,
    DOSE_UNITS,
    INTAKE,
    LAW,
    LEGAL,
    LEGAL_CONTEXT,
    MEDICAL,
    PROFESSIONALS,
    SYMPTOMS,
    WIN,
)
from institutional.commitments.lexicon import (
    ACT_WORDS,
    CONDITION,
    CONGRATULATE,
    CONSIDER,
    DEAL_OBJECTS,
    FILLERS,
    FIRST_PERSON,
    FIRST_PERSON_AUX,
    FIRST_PERSON_MARKERS,
    FIRST_PERSON_WORDS,
    NEGATION,
    OBJECTS,
    POSSESSIVE_CUSTOMER,
    SECOND_PERSON,
    SPECIAL,
    THIRD_PARTY,
    act_stem_length,
    classify,
    squeezed_words,
)
from institutional.commitments.sales import (
    BILLING,
    CHARGE,
    CLOSING_INTERJECTIONS,
    CUSTOMER_STATUS,
    DONE,
    DONE_PARTICIPLES,
    FRACTION,
    INSIDE,
    ISSUE,
    ISSUED,
    PHRASE_WORDS,
    PLACED,
    SALE_RULE_WORDS,
    SALE_TRIGGERS,
    SEALED,
    START,
    YOURS,
)
from institutional.commitments.sales import TRIGGER_PAIRS as SALE_PAIRS
from institutional.textnorm import Token, fold, plain_tokens, repair, repair_merges, sentences, squeeze, unspell

# Words of the advice and sale rules: known to the repairs; the distinctive ones make a chunk worth reading
# (billing and "done" words matter only beside an issuing verb or a deal, see `_trigger_pairs`).
_NEWER_RULE_WORDS = (
    (
        SYMPTOMS
        | INTAKE
        | DOSE_UNITS
        | WIN
        | LEGAL_CONTEXT
        | START
        | FRACTION
        | BILLING
        | ISSUED
        | DONE
        | PLACED
        | INSIDE
    )
    | MONTHS
    | ADVICE_RULE_WORDS
    | SALE_RULE_WORDS
    | DONE_PARTICIPLES
    | frozenset(PRICE_WORDS)
)
_RULE_TRIGGERS = (
    SYMPTOMS | INTAKE | DOSE_UNITS | WIN | LEGAL_CONTEXT | START | FRACTION | PLACED | MONTHS
) - squeezed_words("dor alta passa passe aplica cabeca causa e")

_SCOPE_WORDS = (
    NEGATION
    | CONDITION
    | THIRD_PARTY
    | FIRST_PERSON
    | FIRST_PERSON_AUX
    | FILLERS
    | CONSIDER
    | CONGRATULATE
    | SPECIAL
    | SECOND_PERSON
    | POSSESSIVE_CUSTOMER
    | FIRST_PERSON_MARKERS
)

# Endings a verb stem takes in the three languages (squeezed): what joined pieces may add to a stem.
_INFLECTIONS = squeezed_words(
    "o a e os as es ar er ir ado ada ados adas ido ida idos idas ei ou eu iu amos emos imos aram eram iram "
    "arei aremos erei eremos irei iremos aria ariamos ando endo indo am em ou aste ou are ere ire aremos "
    "ed ing s es ion ions acao acoes amento amentos ativo iza izo izamos izado izada izar izare izaremos "
    "ate ated ating ation ee eed eing an en aron ieron o ó adisimo adisima alo ala ala-lo ado-lo"
)


@lru_cache(maxsize=65536)
def known_word(word: str) -> bool:
    """Whether the detector gives `word` a role: what letter-level repairs may produce.

    A stem counts with an inflection of at most a few letters, so joined pieces never run past a word.
    """
    if len(word) < 2:
        return False
    if word in _SCOPE_WORDS or word in CREDENTIAL_WORDS or word in OBJECTS or word in ACT_WORDS:
        return True
    if word in MEDICAL or word in LEGAL or word in PROFESSIONALS or word in READY or word in DATE_WORDS:
        return True
    if any(word == head or word in tails for head, tails in CREDENTIAL_PHRASES):
        return True
    if word in DONE or word in BILLING or word in ISSUE or word in CLOSING_INTERJECTIONS:
        return True
    if word in CHARGE or word in CUSTOMER_STATUS or word in YOURS or word in PHRASE_WORDS:
        return True
    if word in _NEWER_RULE_WORDS:
        return True
    if word in AMOUNT_WORDS:
        return True
    role = classify(word)
    if role is None:
        return False
    return role[0] != "act" or word in ACT_WORDS or word[act_stem_length(word) :] in _INFLECTIONS | {""}


# Where a reply is cut into chunks before tokenising: after a sentence's end, at a line break. (Written to
# start with one whitespace character, so the regex engine skips straight from one space to the next: the
# same cuts as `(?<=[.!?;])\s+|\n+`, several times faster.)
_CHUNK = re.compile(r"\s(?:(?<=[.!?;]\s)\s*|(?<=\n)\n*)")

_LETTER_RUNS = re.compile(r"[a-z]+")

# A chunk with a digit or a leet sign, or with letters glued by signs ("f.e.c.h", "fe_cha_do"), is read in
# full whatever its words look like; so is one with letters spaced apart (three one-letter words in a row).
_DIGIT_OR_LEET = re.compile(r"[0-9@$]")

# (The sign first, the letter before it looked at behind: the engine then skips from one sign to the next.)
_GLUED = re.compile(r"[.\-_*~|/\\·•+](?<=[a-z].)(?=[a-z])")


@lru_cache(maxsize=1)
def _trigger_words() -> frozenset[str]:
    """Words besides acts that can start a finding or an amount: credentials, advice, named days,
    congratulations, discounts and fees, numbers in words. A contract or a plan named without an act commits
    to nothing, so objects alone do not make a chunk worth reading."""
    words: set[str] = set()
    words.update(CREDENTIAL_WORDS, MEDICAL, LEGAL, DATE_WORDS, CONGRATULATE, FIRST_PERSON_WORDS)
    words.update(word for word, kind in OBJECTS.items() if kind in ("discount", "fee"))
    words.update(head for head, _tails in CREDENTIAL_PHRASES)
    words.update(squeeze(word) for word in NUMBER_NAMES if word not in _ARTICLE_NUMBERS)
    # Distinctive words of the other rules (common ones like "pronto" or "mês" would make every chunk worth
    # reading; a reply under 400 characters is always read in full anyway).
    words.update(CLOSING_INTERJECTIONS, CHARGE, _RULE_TRIGGERS, BY_LAW, CARE, SEALED, SALE_TRIGGERS)
    words.update(squeeze(word) for word in "custo custos cost costo pagar paying house combinado comemorar".split())
    words.update(DONE_PARTICIPLES)
    words.update(squeeze(word) for word in "link enlace fim final end fin proxima next vigor".split())
    return frozenset(words)


@lru_cache(maxsize=65536)
def _is_trigger(word: str) -> bool:
    word = squeeze(word)
    if word in _trigger_words():
        return True
    role = classify(word)
    return role is not None and role[0] == "act"


_ARTICLE_NUMBERS = frozenset({"um", "uma", "un", "una", "uno", "one"})


@lru_cache(maxsize=1)
def _trigger_pairs() -> tuple[tuple[frozenset[str], frozenset[str]], ...]:
    """Common words that matter only together (defined by the rules further down)."""
    return (
        *_TRIGGER_PAIRS,
        (BILLING, ISSUED),
        (DONE, frozenset(word for word, kind in OBJECTS.items() if kind in DEAL_OBJECTS)),
        (ISSUE, squeezed_words("contrato contract contrato proposta proposal propuesta")),
        (YOURS, squeezed_words("negocio deal trato acordo acuerdo")),
        *SALE_PAIRS,
    )


_TRIGGER_PAIRS = (
    (
        squeezed_words("boleto boletos fatura faturas invoice invoices factura facturas cobranca cobro"),
        squeezed_words(
            "gerar gero geramos emitir emito emitimos enviar envio enviamos mandar mando mandamos send issue generate"
        ),
    ),
    (
        squeezed_words("cliente clientes customer client member membro assinante subscriber"),
        squeezed_words("voce you usted tu"),
    ),
    (squeezed_words("conta cuenta"), squeezed_words("minha nossa nuestra mi casa")),
    (LAW, squeezed_words("voce voces vc you usted ustedes tu te ti lado side")),
    (squeezed_words("casa house"), squeezed_words("cortesia invita")),
    (squeezed_words("us me"), squeezed_words("on")),
)

# "um mês", "one week": an article read as a number only before a unit.
_ARTICLE_AMOUNT = re.compile(
    r"\b(?:um|uma|un|una|uno|one|a|an)\s+(?:dias?|semanas?|mes|meses|horas?|days?|weeks?|months?|hours?|anos?"
    r"|years?|minutos?|minutes?|vez|parcela|cuota)\b"
)
# The words an article amount needs: its regex runs only when the chunk has both kinds.
_ARTICLES = frozenset({"um", "uma", "un", "una", "uno", "one", "a", "an"})
_ARTICLE_UNITS = frozenset(
    "dia dias semana semanas mes meses hora horas day days week weeks month months hour hours ano anos year years "
    "minuto minutos minute minutes vez parcela cuota".split()
)


def _worth_reading(chunk: str) -> bool:
    """Whether a chunk of folded text may hold a finding or an amount: a cheap test that skips the rest.

    Repeated letters need no test of their own: a trigger word is recognised squeezed.
    """
    mask = 0
    known_pieces = _PIECE_FLAGS.get
    for piece in chunk.split():
        flags = known_pieces(piece)
        mask |= flags if flags is not None else _piece_flags(piece)
    if mask & _SIGNALLED:
        return True
    if mask & _ARTICLE and mask & _ARTICLE_UNIT and _ARTICLE_AMOUNT.search(chunk):
        return True
    if mask & _TRIGGER:
        return True
    if mask & (mask >> 1) & _pair_firsts():
        return True  # both words of a pair: a pair's second bit sits right above its first
    # Letters or syllables apart need the words in order; most chunks have no short uncommon word at all.
    if not mask & _ODD_SHORT:
        return False
    singles = short = fragments = 0
    for word in _LETTER_RUNS.findall(chunk):
        singles = singles + 1 if len(word) == 1 else 0
        if singles >= 3:
            return True
        # Syllables apart ("fec har", "ati vad o"): two short pieces in a row that are not common words.
        if len(word) <= 3:
            short += 1
            fragments += word not in _SHORT_WORDS
            if short >= 2 and fragments:
                return True
        else:
            short = fragments = 0
    return False


# What each whitespace-separated piece of a chunk tells `_worth_reading` (no test it makes crosses a space but
# the article amount's, which runs on the chunk): its letter runs' flags, and bits of its own above them.
_PIECE_FLAGS: dict[str, int] = {}
_PIECE_FLAGS_MAX = 65536
# A digit, a leet sign or letters glued by signs; an article; a unit an article can count.
_SIGNALLED, _ARTICLE, _ARTICLE_UNIT = 1 << 61, 1 << 62, 1 << 63


def _piece_flags(piece: str) -> int:
    flags = _SIGNALLED if _DIGIT_OR_LEET.search(piece) or _GLUED.search(piece) else 0
    for run in _LETTER_RUNS.findall(piece):
        flags |= _word_flags(run)
        if run in _ARTICLES:
            flags |= _ARTICLE
        if run in _ARTICLE_UNITS:
            flags |= _ARTICLE_UNIT
    if len(_PIECE_FLAGS) >= _PIECE_FLAGS_MAX:
        _PIECE_FLAGS.clear()
    _PIECE_FLAGS[piece] = flags
    return flags


# What one word tells `_worth_reading`, as bits OR-ed over a chunk's words: a trigger, a word of the first or
# the second half of each trigger pair, a short word that is not an everyday one.
_TRIGGER, _ODD_SHORT = 1, 2


@lru_cache(maxsize=1)
def _pair_bits() -> tuple[tuple[int, int], ...]:
    bits = tuple((1 << (2 + 2 * index), 1 << (3 + 2 * index)) for index in range(len(_trigger_pairs())))
    if bits and bits[-1][1] >= _SIGNALLED:
        raise ValueError("too many trigger pairs for the piece bits above them")
    return bits


@lru_cache(maxsize=1)
def _pair_firsts() -> int:
    return reduce(or_, (first for first, _second in _pair_bits()), 0)


@lru_cache(maxsize=65536)
def _word_flags(word: str) -> int:
    flags = _TRIGGER if _is_trigger(word) else 0
    if not (len(word) > 3 or (word in _SHORT_WORDS and len(word) > 1)):
        flags |= _ODD_SHORT
    squeezed = squeeze(word)
    for (first, second), (first_bit, second_bit) in zip(_trigger_pairs(), _pair_bits(), strict=True):
        if squeezed in first:
            flags |= first_bit
        if squeezed in second:
            flags |= second_bit
    return flags


# Short words of everyday PT, EN and ES: a chunk made of these is not written in syllables apart.
_SHORT_WORDS = frozenset(
    "a o e os as um de do da dos das em no na nos nas por pra pro com sem que se me te eu ja so vc vcs nao "
    "mas mais ate seu sua meu teu tua ele ela voc sim ou ao aos la ai vai ver tem ter faz sao foi vez dia mes "
    "ano hoje boa bom oi ola ok the to of and in is it you we i an at on or by be do if my me us our for are "
    "can not all yes no so get one two day el los las en y es un una con lo tu su mi al del hay muy hoy ya "
    "pero dia r us".split()
)

_CHUNK_END = Token("punct", "\n", "\n")


def tokens_of(text: str, folded: str | None = None) -> tuple[Token, ...]:
    """The folded, repaired tokens of `text` (what the rules and the amount patterns read).

    Only the chunks that may hold a finding or an amount are tokenised; the others cannot matter.
    """
    folded = unspell(fold(text) if folded is None else folded)
    if len(folded) < 400:
        return tuple(_read(folded))
    tokens: list[Token] = []
    for chunk in _CHUNK.split(folded):
        if chunk and _worth_reading(chunk):
            tokens.extend(_read(chunk))
            tokens.append(_CHUNK_END)
    return tuple(tokens)


def _read(folded: str) -> list[Token]:
    """`repair(raw_tokens(folded))`: without a digit or a leet sign no word needs repairing on its own."""
    if _DIGIT_OR_LEET.search(folded):
        return repair(plain_tokens(folded), known_word, _known_digit_word)
    return repair_merges(plain_tokens(folded), known_word)


def _known_digit_word(word: str) -> bool:
    """A number read as a word only when that word commits: an act, "set", "done" (never "isso" for 150)."""
    role = classify(word)
    return (role is not None and role[0] == "act") or word in DONE or word in CLOSING_INTERJECTIONS


class TokenMemo(dict[str, tuple[Token, ...]]):
    """Tokens of the strings one check reads, each tokenised once (the detector and the amounts share them).

    `folded` may hold texts the caller already folded.
    """

    def __init__(self, folded: dict[str, str] | None = None) -> None:
        super().__init__()
        self.folded = folded or {}

    def __missing__(self, text: str) -> tuple[Token, ...]:
        tokens = tokens_of(text, self.folded.get(text))
        self[text] = tokens
        return tokens


def parse(text: str, memo: TokenMemo | None = None) -> list[Sequence[Token]]:
    """The folded, repaired sentences of `text`."""
    return sentences(memo[text] if memo is not None else tokens_of(text))


_JOIN_TAIL = 300


def joined_variants(texts: Sequence[str]) -> list[str]:
    """The strings a customer reads as one: the end of the body followed by the labels, with a space and
    without one (a word cut in two between the body and a button: "forma" + "lizado")."""
    pieces = [text for text in texts if text and text.strip()]
    if len(pieces) < 2:
        return []
    tail = _last_sentences(pieces[0][-_JOIN_TAIL:])
    return [" ".join([tail, *pieces[1:]]), "".join([tail, *pieces[1:]])]


def _last_sentences(tail: str) -> str:
    """The body's tail from its last sentence break on: only a sentence that runs on into a label can hold
    a commitment split across fields (every whole sentence before it was read with the body), and a
    sentence cut in the middle would lose its start ("não", "se") and read as a commitment it is not."""
    end = len(tail.rstrip())
    cut = 0
    for match in _CHUNK.finditer(tail):
        if match.end() >= end:
            break
        cut = match.end()
    return tail[cut:]
