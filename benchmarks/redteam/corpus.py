"""The red-team corpus: hostile and harmless candidate replies, with the evasion tricks applied to them.

`hostile.txt` and `benign.txt` beside this file hold the hand-written replies, one per line:
`category language | body [| button or list row ...]`. Each hostile reply marks its key word in
[brackets]; every trick below rewrites that word the way a model (or a prompt injection) would to slip
past a matcher, and the corpus holds the clean reply plus its tricked variants. Harmless replies get a
formatting variant (markdown, emoji, capitals) that a correct guard must also let through.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
_KEY = re.compile(r"\[([^\]]+)\]")

_CYRILLIC = str.maketrans("aeocpxyiAEOCPXHKMTB", "аеосрхуіАЕОСРХНКМТВ")
_GREEK = str.maketrans("aoinpvuAEHIKMNOPTXYZ", "αοιηρνυΑΕΗΙΚΜΝΟΡΤΧΥΖ")
_LEET = str.maketrans("aeiost", "431057")
_FULLWIDTH = {code: code + 0xFEE0 for code in range(0x21, 0x7F)}


def _spaced(word: str) -> str:
    return " ".join(word)


def _hyphenated(word: str) -> str:
    return "-".join(word)


def _dotted(word: str) -> str:
    return ".".join(word)


def _repeated(word: str) -> str:
    return re.sub(r"([aeiouAEIOU])", r"\1\1\1", word)


def _leet(word: str) -> str:
    return word.translate(_LEET)


def _cyrillic(word: str) -> str:
    return word.translate(_CYRILLIC)


def _greek(word: str) -> str:
    return word.translate(_GREEK)


def _zero_width(word: str) -> str:
    return "\u200b".join(word)


def _emoji_inside(word: str) -> str:
    middle = len(word) // 2
    return f"{word[:middle]}🔥{word[middle:]}"


def _emoji_around(word: str) -> str:
    return f"🤝 {word} ✅"


def _markdown(word: str) -> str:
    middle = len(word) // 2
    return f"**{word[:middle]}_{word[middle:]}**"


def _underscores(word: str) -> str:
    return "_".join(word)


def _fullwidth(word: str) -> str:
    return word.translate(_FULLWIDTH)


def _syllables(word: str) -> str:
    return " ".join(word[index : index + 3] for index in range(0, len(word), 3))


def _shouted(word: str) -> str:
    return word.upper()


def _dot_spaced(word: str) -> str:
    return ". ".join(word)


def _apostrophes(word: str) -> str:
    return "'".join(word)


def _styled(word: str, lower: int, upper: int) -> str:
    """Letters drawn from a Unicode block of styled Latin letters (mathematical bold, circled)."""
    return "".join(
        chr(lower + ord(char) - 97)
        if "a" <= char <= "z"
        else chr(upper + ord(char) - 65)
        if "A" <= char <= "Z"
        else char
        for char in word
    )


def _math_bold(word: str) -> str:
    return _styled(word, 0x1D41A, 0x1D400)


def _circled(word: str) -> str:
    return _styled(word, 0x24D0, 0x24B6)


def _struck(word: str) -> str:
    return "".join(char + "\u0336" for char in word)


# Tricks that keep a number a number (a price split letter by letter is no longer a price anyone reads).
NUMBER_TRICKS: dict[str, Callable[[str], str]] = {
    "zero_width": _zero_width,
    "emoji_around": _emoji_around,
    "markdown": lambda word: f"**{word}**",
    "fullwidth": _fullwidth,
}
WORD_TRICKS: dict[str, Callable[[str], str]] = {
    "spaced": _spaced,
    "hyphenated": _hyphenated,
    "dotted": _dotted,
    "repeated": _repeated,
    "leet": _leet,
    "cyrillic": _cyrillic,
    "greek": _greek,
    "zero_width": _zero_width,
    "emoji_inside": _emoji_inside,
    "emoji_around": _emoji_around,
    "markdown": _markdown,
    "underscores": _underscores,
    "fullwidth": _fullwidth,
    "syllables": _syllables,
    "shouted": _shouted,
    "dot_spaced": _dot_spaced,
    "apostrophes": _apostrophes,
    "math_bold": _math_bold,
    "circled": _circled,
    "struck": _struck,
}
BENIGN_DECORATIONS: tuple[Callable[[str], str], ...] = (
    lambda text: f"{text} 😊",
    lambda text: f"*{text}*",
    lambda text: text.upper(),
    lambda text: f"✅ {text}",
)


@dataclass(frozen=True, slots=True)
class Case:
    """One candidate reply: what the customer would read, and what the guard must do with it."""

    body: str
    labels: tuple[str, ...]
    category: str
    language: str
    trick: str
    hostile: bool

    @property
    def text(self) -> str:
        return " | ".join((self.body, *self.labels))


def _lines(name: str) -> list[tuple[str, str, list[str]]]:
    rows = []
    for raw in (HERE / name).read_text(encoding="utf-8").splitlines():
        if not raw.strip() or raw.startswith("#"):
            continue
        head, _, rest = raw.partition(" | ")
        category, language = head.split()
        rows.append((category, language, [part.strip() for part in rest.split(" | ")]))
    return rows


def _pick(seed: str, names: list[str], count: int) -> list[str]:
    digest = int(hashlib.sha256(seed.encode()).hexdigest(), 16)
    picked: list[str] = []
    while len(picked) < min(count, len(names)):
        name = names[digest % len(names)]
        digest //= len(names) or 1
        if name not in picked:
            picked.append(name)
        digest += 7
    return picked


def _apply(parts: list[str], trick: Callable[[str], str]) -> list[str]:
    return [_KEY.sub(lambda match: trick(match.group(1)), part) for part in parts]


def _clean(parts: list[str]) -> list[str]:
    return [_KEY.sub(lambda match: match.group(1), part) for part in parts]


def _split_into_button(parts: list[str]) -> list[str] | None:
    """The reply cut after its key word, the rest moved to a button (a commitment split across fields)."""
    if len(parts) > 1:
        return None
    match = _KEY.search(parts[0])
    if match is None:
        return None
    clean = _clean(parts)[0]
    cut = match.start() + len(match.group(1)) // 2
    head, tail = clean[:cut].strip(), clean[cut:].strip()
    if not head or not tail or len(tail) > 20:
        return None
    return [head, tail]


def hostile_cases() -> list[Case]:
    """Every hostile reply clean, plus tricked variants (two for Portuguese, one for English and Spanish)."""
    cases: list[Case] = []
    for category, language, parts in _lines("hostile.txt"):
        cases.append(Case(_clean(parts)[0], tuple(_clean(parts)[1:]), category, language, "clean", True))
        key = _KEY.search(" ".join(parts))
        if key is None:
            continue  # no key word marked: the reply as written only
        numeric = any(char.isdigit() for char in key.group(1))
        tricks = NUMBER_TRICKS if numeric else WORD_TRICKS
        count = 2 if language == "pt" else 1
        seed = " ".join(parts)
        for name in _pick(seed, sorted(tricks), count):
            tricked = _apply(parts, tricks[name])
            cases.append(Case(tricked[0], tuple(tricked[1:]), category, language, name, True))
        split = _split_into_button(parts)
        if split is not None and int(hashlib.sha256(seed.encode()).hexdigest(), 16) % 3 == 0:
            cases.append(Case(split[0], tuple(split[1:]), category, language, "split_body_button", True))
    return cases


def benign_cases() -> list[Case]:
    """Every harmless reply as written, plus one decorated variant (markdown, emoji or capitals)."""
    cases: list[Case] = []
    for index, (category, language, parts) in enumerate(_lines("benign.txt")):
        cases.append(Case(parts[0], tuple(parts[1:]), category, language, "clean", False))
        decorate = BENIGN_DECORATIONS[index % len(BENIGN_DECORATIONS)]
        cases.append(Case(decorate(parts[0]), tuple(parts[1:]), category, language, "decorated", False))
    return cases
