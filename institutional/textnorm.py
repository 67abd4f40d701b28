"""Text folded against evasion: what the commitment detector and the amount checks read.

Every trick a model (or a prompt injection) can use to slip a word past a matcher is undone here:
case, accents, zero-width and other invisible characters, Unicode confusables (Cyrillic or Greek
letters that look Latin, fullwidth and mathematical letters), emoji and symbols inside or between
words, markdown emphasis, leetspeak, letters spaced, hyphenated or dotted apart, and letters
repeated. Words come out *squeezed* (every run of one letter written once: "assinado" reads
"asinado"), and the detector's vocabulary is squeezed the same way, so "asssinaaado" and
"assinado" are one word while an innocent word never turns into a different one.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from confusable_homoglyphs.confusables import confusables_data

# Characters that render as nothing but split words for a naive matcher: combining marks (after NFKD),
# zero-width spaces and joiners, soft hyphen, word joiner, BOM, variation selectors and tag characters.
INVISIBLE = re.compile(
    "[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"
    "\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufeff"
    "\ufe00-\ufe0f\U000e0000-\U000e007f\U000e0100-\U000e01ef]+"
)
# Leetspeak: digits and signs standing for letters inside a word. Two tables because "1" is "i" or "l".
LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "@": "a", "$": "s"})
LEET_L = str.maketrans({"0": "o", "1": "l", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "@": "a", "$": "s"})
# Greek letters whose Latin look-alike the Unicode confusables table gives only as a capital or not at all.
_EXTRA_CONFUSABLES = {"κ": "k", "τ": "t", "χ": "x", "ε": "e", "β": "b", "ι": "i", "η": "n", "ω": "w", "μ": "u"}
# Signs written for a letter inside a word ("f€chado", "fechadø"): no decomposition or TR39 entry gives them.
_EXTRA_CONFUSABLES |= {"€": "e", "ø": "o", "Ø": "o", "¢": "c"}


def _confusable_table() -> dict[int, str]:
    """Non-ASCII character -> the ASCII letter or digit it is drawn like (Unicode TR39 confusables)."""
    table: dict[int, str] = {}
    for char, homoglyphs in confusables_data.items():
        if len(char) != 1 or char.isascii() or unicodedata.category(char)[0] not in "LN":
            continue
        for homoglyph in homoglyphs:
            target = homoglyph["c"]
            if len(target) == 1 and target.isascii() and target.isalnum():
                name = unicodedata.name(char, "")
                # TR39 draws every I-like letter as "l"; in words they stand for "i".
                if target in "lI" and (name.endswith(" I") or "IOTA" in name or "BYELORUSSIAN" in name):
                    target = "i"
                table[ord(char)] = target.lower()
                break
    for char, target in _EXTRA_CONFUSABLES.items():
        table.setdefault(ord(char), target)
    # Letters with accents are ordinary Portuguese and Spanish letters: NFKD takes their accents off instead.
    for code in list(table):
        if unicodedata.normalize("NFKD", chr(code)) != chr(code) and chr(code).isalpha():
            decomposed = unicodedata.normalize("NFKD", chr(code))[0]
            if decomposed.isascii():
                del table[code]
    return table


CONFUSABLES = _confusable_table()


def _is_symbol(char: str) -> bool:
    return unicodedata.category(char) in ("So", "Sk", "Cs", "Co", "Cn")


def _latin1_tables() -> tuple[bytes, bytes, bytes]:
    """What `fold` does to each Latin-1 character, as byte tables: (map, delete, keep-for-the-full-path).

    A Latin-1 character whose decomposition, invisible marks removed, is one ASCII character or nothing
    ("á" -> "a", soft hyphen -> "") is folded by a byte translation; any other ("¿", "µ", "«") sends the
    text down the full path. Derived from the same decomposition the full path applies, so both agree.
    """
    mapping = bytearray(range(256))
    deleted = bytearray()
    full_path = bytearray()
    for code in range(128, 256):
        out = INVISIBLE.sub("", unicodedata.normalize("NFKD", chr(code)))
        if not out:
            deleted.append(code)
        elif len(out) == 1 and out.isascii():
            mapping[code] = ord(out)
        else:
            full_path.append(code)
    return bytes(mapping), bytes(deleted), bytes(full_path)


_LATIN1_MAP, _LATIN1_DELETED, _LATIN1_FULL_PATH = _latin1_tables()
# Every byte but those that need the full path: deleting them leaves only the ones that do.
_LATIN1_SIMPLE = bytes(sorted(set(range(256)) - set(_LATIN1_FULL_PATH)))


def fold(text: str) -> str:
    """Lower case, accents, invisible characters, confusables and emoji taken out; punctuation kept.

    Pure ASCII text (most replies) takes a fast path: only case folding applies to it. So does text whose
    every other character is an accented Latin-1 letter (most Portuguese and Spanish): a byte translation
    then does what the decomposition would, several times faster.
    """
    if text.isascii():
        return text.casefold()
    try:
        latin1 = text.encode("latin-1")
    except UnicodeEncodeError:
        latin1 = b""
    if latin1 and not latin1.translate(None, _LATIN1_SIMPLE):
        return latin1.translate(_LATIN1_MAP, _LATIN1_DELETED).decode("ascii").casefold()
    stripped = INVISIBLE.sub("", unicodedata.normalize("NFKD", text))
    if stripped.isascii():
        return stripped.casefold()  # accents only (most Portuguese and Spanish): nothing else to undo
    text = INVISIBLE.sub("", text).translate(CONFUSABLES)
    text = INVISIBLE.sub("", unicodedata.normalize("NFKD", text))
    text = text.casefold().translate(CONFUSABLES)
    if not text.isascii():
        # Emoji and pictographs are deleted, not spaced: "fe🔥chado" must read "fechado".
        text = "".join(char for char in text if not _is_symbol(char))
        text = text.replace("\u2019", "'").replace("\u2018", "'")
    return text


_RUN = re.compile(r"(.)\1+")


@lru_cache(maxsize=65536)
def squeeze(word: str) -> str:
    """Every run of one character written once: "fechaaaado" -> "fechado", "assinado" -> "asinado"."""
    return _RUN.sub(r"\1", word) if len(word) > 1 else word


# --- Tokens ------------------------------------------------------------------------------------------
# A money sign, a number (with its thousands and decimal separators), a word (letters, digits and leet
# signs, with an English contraction), or one punctuation mark that matters to the detector.
_TOKEN = re.compile(
    r"(?P<money>(?:r|us)?\$(?=\s*\d))"
    r"|(?P<number>\d+(?:[.,]\d+)*(?![a-z@\d]))"
    r"|(?P<word>[a-z0-9@$]+(?:'[a-z]+)?)"
    r"|(?P<punct>[.!?;:,\n\"“”«»¿¡()%/])"
)
# A dot, hyphen, underscore or markdown sign directly between two letters joins them ("f.e.c.h.a.d.o").
# (The sign is matched first and what precedes it looked at behind: the regex engine then skips straight
# to the next sign instead of trying a lookbehind at every position.)
_INNER_SEPARATOR = re.compile(r"[.\-_*~|/\\·•+](?:(?<=[a-z@].)(?=[a-z0-9@])|(?<=[0-9][.\-_*~|\\·•+])(?=[a-z@]))")
_MARKDOWN = re.compile(r"[*_~`#>|]+")
BOUNDARY = frozenset(".!?;:\n")
_CONTRACTIONS = {"n't": ("not",), "'ll": ("will",), "'ve": ("have",), "'m": ("am",), "'re": ("are",), "'d": ("would",)}
_IRREGULAR_NT = {
    "won't": ("will", "not"),
    "can't": ("can", "not"),
    "cannot": ("can", "not"),
    "shan't": ("shall", "not"),
}


@dataclass(frozen=True, slots=True)
class Token:
    """One unit of folded text: `text` squeezed (words) or as written (numbers, punctuation)."""

    kind: str  # "word", "number", "money" or "punct"
    text: str
    raw: str


@lru_cache(maxsize=65536)
def _word_tokens(raw: str) -> tuple[Token, ...]:
    if "'" not in raw:
        return (Token("word", squeeze(raw), raw),)
    return tuple(_contraction_tokens(raw))


def _contraction_tokens(raw: str) -> list[Token]:
    if raw in _IRREGULAR_NT:
        return [Token("word", squeeze(part), raw) for part in _IRREGULAR_NT[raw]]
    for ending, parts in _CONTRACTIONS.items():
        if raw.endswith(ending) and len(raw) > len(ending):
            stem = raw[: -len(ending)]
            return [Token("word", squeeze(stem), raw)] + [Token("word", squeeze(part), raw) for part in parts]
    if raw.endswith("'s") and len(raw) > 2:
        return [Token("word", squeeze(raw[:-2]), raw), Token("word", "is", raw)]
    return [Token("word", squeeze(raw.replace("'", "")), raw)]


_GLUE = Token("glue", "", "")


@lru_cache(maxsize=65536)
def _plain_token(kind: str, value: str) -> Token:
    return Token(kind, value, value)


def raw_tokens(folded: str) -> list[Token]:
    """Tokens of already folded text, before vocabulary-aware repairs."""
    # Inner separators first become a marker so a word split by them can be told from spaced words.
    text = _MARKDOWN.sub(" ", _INNER_SEPARATOR.sub("\x01", folded))
    tokens: list[Token] = []
    for position, piece in enumerate(text.split("\x01") if "\x01" in text else (text,)):
        if position:
            tokens.append(_GLUE)
        # One group of the four matches each time (a money sign, a number, a word or a punctuation mark).
        for money, number, word, punct in _TOKEN.findall(piece):
            if word:
                tokens.extend(_word_tokens(word))
            elif punct:
                tokens.append(_plain_token("punct", punct))
            elif number:
                tokens.append(_plain_token("number", number))
            else:
                tokens.append(_plain_token("money", money))
    return tokens


# Tokens of each whitespace-separated piece seen (words with their punctuation: "plano", "uteis.", "f.e.c.h.o").
# No token but a money sign looks past the whitespace around it, so text without one tokenises piece by piece.
_PIECE_TOKENS: dict[str, tuple[Token, ...]] = {}
_PIECE_TOKENS_MAX = 65536
_NEWLINE = _plain_token("punct", "\n")


def _piece_tokens(piece: str) -> tuple[Token, ...]:
    found = tuple(raw_tokens(piece))
    if len(_PIECE_TOKENS) >= _PIECE_TOKENS_MAX:
        _PIECE_TOKENS.clear()
    _PIECE_TOKENS[piece] = found
    return found


# A word spelled out letter by letter with a dot or an apostrophe after each ("f. e. c. h. a. d. o.",
# "s'e'u"): read as letters spaced apart (four or more, see `repair`) or glued (three or more). Each hint
# starts with a literal, which the regex engine finds at memory speed. (Folding turns "’" into "'".)
_DOTTED_HINT = re.compile(r"\. [a-z]\. ")
_APOSTROPHE_HINT = re.compile(r"'[a-z]'")
_DOTTED = re.compile(r"(?<![a-z0-9])[a-z](?:\. [a-z]){3,}(?![a-z0-9])\.?")  # without the space they are glued
_APOSTROPHES = re.compile(r"(?<![a-z0-9])[a-z](?:'[a-z]){2,}(?![a-z0-9'])")


def unspell(folded: str) -> str:
    """Letters spelled out with dots set apart by spaces instead ("f. e. c. h. a" -> "f e c h a"), so that no
    sentence ends between them; with apostrophes, glued by hyphens ("s'e'u" -> "s-e-u"), not read as an
    English contraction."""
    if _DOTTED_HINT.search(folded) is not None:
        folded = _DOTTED.sub(lambda match: " ".join(match.group(0).replace(".", " ").split()), folded)
    if "'" in folded and _APOSTROPHE_HINT.search(folded) is not None:
        folded = _APOSTROPHES.sub(lambda match: match.group(0).replace("'", "-"), folded)
    return folded


def plain_tokens(folded: str) -> list[Token]:
    """`raw_tokens(folded)`, piece by piece (each piece's tokens looked up once): several times faster.

    A money sign ("r$" then " 199") is read together with the pieces after it, up to one without a sign
    that is more than markdown;
    text with a sign and a line break (after which a number may follow it) takes `raw_tokens` whole.
    """
    if "$" in folded and "\n" in folded:
        return raw_tokens(folded)
    tokens: list[Token] = []
    add, extend, known_pieces = tokens.append, tokens.extend, _PIECE_TOKENS.get
    for position, line in enumerate(folded.split("\n") if "\n" in folded else (folded,)):
        if position:
            add(_NEWLINE)
        if "$" in line:
            _money_line_tokens(line.split(), tokens)
            continue
        for piece in line.split():
            found = known_pieces(piece)
            extend(found if found is not None else _piece_tokens(piece))
    return tokens


def _money_line_tokens(pieces: list[str], tokens: list[Token]) -> None:
    index = 0
    while index < len(pieces):
        piece = pieces[index]
        if "$" not in piece:
            found = _PIECE_TOKENS.get(piece)
            tokens.extend(found if found is not None else _piece_tokens(piece))
            index += 1
            continue
        end = index + 1
        # Up to a piece without a sign that is more than markdown (which reads as a space).
        while end < len(pieces) and ("$" in pieces[end - 1] or _MARKDOWN.fullmatch(pieces[end - 1])):
            end += 1
        tokens.extend(raw_tokens(" ".join(pieces[index:end])))
        index = end


def repair(
    tokens: list[Token], known: Callable[[str], bool], known_digits: Callable[[str], bool] | None = None
) -> list[Token]:
    """Undo letter-level evasion with the detector's vocabulary as the judge.

    - leetspeak: a word mixing letters and digits becomes its leet reading when that reading is known;
    - pieces glued by dots/hyphens/underscores, or short pieces spaced apart ("fe cha do", "c o n t r a t o"),
      become one word when the joined word is known (and runs of four or more single letters always do).
    An unknown word stays as written, so innocent text is never rewritten into a different word.
    `known_digits` (stricter, default `known`) judges a number read as a word: "537" is "set", "150" stays 150.
    """
    words: list[Token] = []
    for token in tokens:
        kind = token.kind
        if kind == "word" and token.text.isalpha():
            words.append(token)  # most tokens: nothing to repair on their own
            continue
        if kind == "number" and token.text.isdigit() and len(token.text) >= 3 and not _after_money(words):
            # A word written all in digits ("all 537" for "all set"): only when its reading is a known word.
            candidate = squeeze(token.text.translate(LEET))
            if len(candidate) >= 3 and (known_digits or known)(candidate):
                token = Token("word", candidate, token.raw)
        if token.kind == "word" and not token.text.isalpha():
            for table in (LEET, LEET_L):
                candidate = squeeze(token.text.translate(table))
                if candidate.isalpha() and known(candidate):
                    token = Token("word", candidate, token.raw)
                    break
        words.append(token)
    return repair_merges(words, known)


def repair_merges(words: list[Token], known: Callable[[str], bool]) -> list[Token]:
    """`repair`'s second half alone: pieces glued or spaced apart joined (all `repair` does to text
    without digits or leet signs, whose words need no repair on their own)."""
    out: list[Token] = []
    size = len(words)
    index = 0
    while index < size:
        token = words[index]
        kind = token.kind
        if kind != "word":
            if kind != "glue":
                out.append(token)
            index += 1
            continue
        following = words[index + 1] if index + 1 < size else None
        # A run needs a second piece: glued on, or a short word spaced after it, a little longer after a
        # syllable (see `_merge_from`).
        if following is not None and (
            following.kind == "glue"
            or (
                len(token.text) <= 4
                and following.kind == "word"
                and (len(following.text) <= _SHORT or (len(following.text) <= _SHORT + 2 and len(token.text) >= 2))
                and following.text.isalpha()
            )
        ):
            merged = _merge_from(words, index, known)
            if merged is not None:
                joined, end = merged
                raw = "".join(t.raw for t in words[index:end])
                out.extend(Token("word", word, raw if len(joined) == 1 else word) for word in joined)
                index = end
                continue
        out.append(token)
        index += 1
    return out


def _after_money(words: list[Token]) -> bool:
    return bool(words) and words[-1].kind == "money"


_MAX_PIECES = 30
_COPULAS = frozenset({"es", "e", "is"})
_SHORT = 4


def _merge_from(words: list[Token], start: int, known: Callable[[str], bool]) -> tuple[list[str], int] | None:
    """The words that the run of pieces from `start` forms, and the index after it; None to leave it alone."""
    pieces: list[tuple[str, int, bool]] = []  # (text, index after it, glued to the previous piece)
    index = start
    while index < len(words) and len(pieces) < _MAX_PIECES:
        token = words[index]
        if token.kind == "glue":
            index += 1
            continue
        if token.kind != "word" or not token.text.isalpha():
            break
        glued = index > start and words[index - 1].kind == "glue"
        if len(pieces) == 1 and not glued and token.text in _COPULAS and known(pieces[0][0]):
            break  # "el plan es tuyo": a known word, then "is" (never "planes")
        if pieces and not glued and len(token.text) > _SHORT:
            # A longer last piece only after syllables ("fe chado"), never after a one-letter word ("a prova").
            if len(token.text) <= _SHORT + 2 and all(len(text) >= 2 for text, _end, _glued in pieces):
                index += 1
                pieces.append((token.text, index, glued))
            break
        index += 1
        pieces.append((token.text, index, glued))
    singles = 0
    while singles < len(pieces) and len(pieces[singles][0]) == 1:
        singles += 1
    if singles >= 4 or (singles >= 2 and all(glued for _text, _end, glued in pieces[1:singles])):
        # Letters spaced or glued apart one by one ("c o n t r a t o", "f-e-c-h-a"): cut into the known words
        # they spell ("o d e s c o n t o" -> "o", "desconto"); what is left stays joined.
        letters = "".join(text for text, _end, _glued in pieces[:singles])
        return _segment(letters, known), pieces[singles - 1][1]
    best = None
    for count in range(2, min(len(pieces), 14) + 1):
        joined = squeeze("".join(text for text, _end, _glued in pieces[:count]))
        all_glued = all(glued for _text, _end, glued in pieces[1:count])
        # Spaced pieces must spell a longer word, unless they start with a syllable ("nul o" is "nulo",
        # while "a prova" stays two words).
        first = squeeze(pieces[0][0])
        syllable = len(first) >= 2 and joined != first and not known(first)
        shortest = 3 if all_glued else (4 if syllable else 5)
        if len(joined) >= shortest and known(joined):
            best = ([joined], pieces[count - 1][1])
    return best


def _segment(letters: str, known: Callable[[str], bool]) -> list[str]:
    """Letters cut into the known words that cover most of them, in as few words as possible; letters no
    known word covers stay joined between them."""
    size = len(letters)
    # best[i]: ((letters covered, -pieces) for letters[i:], the pieces)
    best: list[tuple[tuple[int, int], list[str]]] = [((0, 0), [])] * (size + 1)
    for start in range(size - 1, -1, -1):
        (covered, pieces), rest = best[start + 1]
        choice = ((covered, pieces - 1), [letters[start], *rest])
        for end in range(start + 3, size + 1):
            word = squeeze(letters[start:end])
            if known(word):
                (covered, pieces), rest = best[end]
                score = (covered + end - start, pieces - 1)
                if score > choice[0]:
                    choice = (score, [word, *rest])
        best[start] = choice
    out: list[str] = []
    for piece in best[0][1]:
        if len(piece) == 1 and out and not known(out[-1]):
            out[-1] = out[-1] + piece
        else:
            out.append(piece)
    return [squeeze(piece) for piece in out]


# --- Language ------------------------------------------------------------------------------------------
_MARKERS: dict[str, frozenset[str]] = {
    "pt": frozenset(
        "nao voce voces vc esta estao sao seu sua seus suas nosa noso nosas nosos equipe obrigado obrigada ola "
        "com uma um os as do da dos das ao aos pra para tambem mas isso iso aqui agora hoje fazer posso podemos "
        "vou vamos tem temos ja ainda quando como qual quanto muito sim ate depois entao pelo pela ficou fica "
        "contrato plano planos desconto preco prazo senha cartao atendimento".split()
    ),
    "es": frozenset(
        "el los las usted ustedes es estan su sus nuestro nuestra equipo gracias hola con una un del al "
        "para tambien pero eso aqui ahora hoy hacer puedo podemos voy vamos tiene tenemos ya todavia cuando "
        "como cual cuanto muy si hasta despues entonces por y yo te le contrato plan planes descuento precio "
        "plazo contrasena tarjeta hay esta este".split()
    ),
    "en": frozenset(
        "the you your is are we our and to of for with can will team thanks thank hello hi this that it "
        "here now today do i my me be has have not no yes until after then by contract plan plans discount "
        "price deadline password card please would could should".split()
    ),
}
# Words two languages share count less than words only one has.
_SHARED = _MARKERS["pt"] & _MARKERS["es"]


def detect_language(text: str, default: str = "pt") -> str:
    """ "pt", "en" or "es": which language the text is written in (the default when it cannot tell)."""
    scores = dict.fromkeys(_MARKERS, 0.0)
    folded = fold(text)
    for word in _counted_words(re.findall(r"[a-z']+", folded)):
        for language, markers in _MARKERS.items():
            if word in markers:
                scores[language] += 0.5 if word in _SHARED else 1.0
    # Spelling only one language has.
    scores["pt"] += 1.5 * len(re.findall(r"(?:cao|coes|lh|nh|ã|õ|ç)", folded + " " + text.casefold()))
    scores["es"] += 1.5 * len(re.findall(r"(?:cion\b|ñ|¿|¡|ll[aeo])", text.casefold()))
    best = max(scores, key=lambda language: scores[language])
    return best if scores[best] >= 1.0 else default


def _counted_words(words: list[str]) -> list[str]:
    """The words that tell a language: letters spaced apart ("a t i v e i") are a word in disguise, not the
    English "I" and "a" (a run of three or more one-letter words is left out)."""
    out: list[str] = []
    run: list[str] = []
    for word in [*words, ""]:
        if len(word) == 1:
            run.append(word)
            continue
        if len(run) < 3:
            out.extend(run)
        run = []
        if word:
            out.append(word)
    return out


@lru_cache(maxsize=4096)
def language_of(text: str, default: str = "pt") -> str:
    return detect_language(text, default)


def sentences(tokens: Sequence[Token]) -> list[Sequence[Token]]:
    """Tokens split at sentence boundaries; the boundary token ends its sentence (a "?" tells a question)."""
    # A word's text is never a boundary mark but can be a letter: the kind is tested only for those.
    ends = [index + 1 for index, token in enumerate(tokens) if token.text in BOUNDARY and token.kind == "punct"]
    ends.append(len(tokens))
    out: list[Sequence[Token]] = []
    start = 0
    for end in ends:
        sentence = tokens[start:end]
        start = end
        if sentence and (sentence[0].kind != "punct" or any(token.kind != "punct" for token in sentence)):
            out.append(sentence)
    return out
