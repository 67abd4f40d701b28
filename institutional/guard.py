"""The output guard: a pure check of a candidate reply against a release's constraints."""

from __future__ import annotations

import re
import re._constants as _sre
import re._parser as _sre_parser
import threading
import unicodedata
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from institutional.snapshot import SEVERITY_RANK, ConstraintRule, ReleaseSnapshot, facts_text


class GuardAction(StrEnum):
    NONE = "none"
    REPLACE = "replace"
    HANDOFF = "handoff"


ACTION_RANK = {GuardAction.NONE: 0, GuardAction.REPLACE: 1, GuardAction.HANDOFF: 2}

DEFAULT_REPLACEMENT = (
    "Desculpe, não consigo ajudar com isso por aqui. Posso esclarecer outra dúvida sobre os nossos serviços?"
)
DEFAULT_HANDOFF_TEXT = (
    "Vou chamar uma pessoa da nossa equipe para continuar o seu atendimento. Só um instante, por favor."
)

# Removed before matching: combining accents (after NFKD) and characters that render as nothing but split
# words for a naive matcher (zero-width spaces and joiners, soft hyphen, word joiner, BOM...).
_REMOVED = re.compile(
    "[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"
    "\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b-\u200f\u2060-\u2064\ufeff]+"
)
# Common leetspeak, applied to phrases and to the text alike (never to the text regexes see).
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"})
_NON_WORD = re.compile(r"[\W_]+")
# A letter next to a leet character inside a word ("c0ntr4to", "f3chado"): only then do the regexes
# also run on a leet-folded copy (a second pass costs time; prices like "R$ 199" do not trigger it).
_LEET_IN_WORD = re.compile(r"[^\W\d_][013457@$]|[013457@$][^\W\d_]")
# Parts (reply, each label, caption) are joined with a separator no phrase or `\s` can cross.
_PART_SEPARATOR = "\n\x00\n"


def _fold(text: str) -> str:
    """Accents and invisible characters removed, then casefolded."""
    if text.isascii():
        return text.casefold()
    return _REMOVED.sub("", unicodedata.normalize("NFKD", text)).casefold()


def normalize_text(text: str) -> str:
    """Case, accents, zero-width characters and repeated whitespace folded away; punctuation kept.

    This is what constraint regular expressions run against.
    """
    return " ".join(_fold(text).split())


def _words(folded: str) -> str:
    return _NON_WORD.sub(" ", folded.translate(_LEET)).strip()


def normalize_words(text: str) -> str:
    """`normalize_text` plus leetspeak folded and punctuation turned into single spaces.

    This is what forbidden phrases are matched against, on whole words.
    """
    return _words(_fold(text))


def normalize_pattern(pattern: str) -> str:
    """Accents and invisible characters stripped from a regex so it matches the folded text."""
    return _REMOVED.sub("", unicodedata.normalize("NFKD", pattern))


def _casefold_pattern(pattern: str) -> str:
    """Literal letters casefolded; escapes (`\\S`, `\\W`, `\\B`...) kept as written."""
    out = []
    escaped = False
    for char in pattern:
        if escaped:
            out.append(char)
            escaped = False
        elif char == "\\":
            out.append(char)
            escaped = True
        else:
            out.append(char.casefold())
    return "".join(out)


def _strip_leading_anchors(pattern: str) -> str:
    """Drop leading `^`, `\\b` and lookbehinds: the rest matches a superset, and CPython's regex engine
    can then skip ahead to its literal prefix instead of trying every position."""
    while True:
        if pattern.startswith("\\b"):
            pattern = pattern[2:]
        elif pattern.startswith("^"):
            pattern = pattern[1:]
        elif pattern.startswith(("(?<!", "(?<=")):
            end = _closing_paren(pattern)
            if end < 0:
                return pattern
            pattern = pattern[end + 1 :]
        else:
            return pattern


def _closing_paren(pattern: str) -> int:
    """Index of the parenthesis closing the group that opens the pattern, or -1."""
    depth = 0
    escaped = False
    class_start = -1
    for index, char in enumerate(pattern):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif class_start >= 0:
            # Inside [...]: parentheses are literal; a "]" right after "[" or "[^" is literal too.
            if char == "]" and index > class_start + 1 and pattern[class_start + 1 : index] != "^":
                class_start = -1
        elif char == "[":
            class_start = index
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return index
    return -1


def _leading_literal(items: Iterable[tuple[Any, Any]]) -> str:
    run = []
    for op, value in items:
        if op is not _sre.LITERAL:
            break
        run.append(chr(value))
    return "".join(run)


def _literal_candidates(items: Iterable[tuple[Any, Any]]) -> list[frozenset[str]]:
    """Sets of strings, each set such that every match of `items` contains one of its strings."""
    candidates: list[frozenset[str]] = []
    run: list[str] = []
    for op, value in items:
        if op is _sre.LITERAL:
            run.append(chr(value))
            continue
        if op is _sre.BRANCH:
            alternatives = value[1]
            leads = [_leading_literal(alternative) for alternative in alternatives]
            if run and all(leads):
                candidates.append(frozenset("".join(run) + lead for lead in leads))
            per_branch = [_best_literals(alternative) for alternative in alternatives]
            if all(per_branch):
                candidates.append(frozenset().union(*per_branch))
        elif op is _sre.SUBPATTERN:
            candidates.extend(_literal_candidates(value[-1]))
        elif op is _sre.ATOMIC_GROUP:
            candidates.extend(_literal_candidates(value))
        elif op in (_sre.MAX_REPEAT, _sre.MIN_REPEAT, _sre.POSSESSIVE_REPEAT) and value[0] >= 1:
            candidates.extend(_literal_candidates(value[2]))
        if run:
            candidates.append(frozenset(("".join(run),)))
            run = []
    if run:
        candidates.append(frozenset(("".join(run),)))
    return candidates


def _best_literals(items: Iterable[tuple[Any, Any]]) -> frozenset[str]:
    candidates = _literal_candidates(items)
    if not candidates:
        return frozenset()
    return max(candidates, key=lambda found: (min(map(len, found)), -len(found)))


def required_literals(pattern: str) -> frozenset[str]:
    """Casefolded strings of which every match of `pattern` (case-insensitive) contains at least one.

    Empty when none can be told (only character classes, or a parse this walker does not know). The guard
    checks these with plain substring tests and runs the regex only where one occurs.
    """
    try:
        parsed = _sre_parser.parse(pattern, re.IGNORECASE)
    except (re.error, TypeError, ValueError, IndexError):
        return frozenset()
    return frozenset(literal.casefold() for literal in _best_literals(parsed))


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """The regex exactly as the guard runs it (raises `re.error` when invalid)."""
    return re.compile(normalize_pattern(pattern), re.IGNORECASE)


# Money, percentages and deadlines as they appear in folded (accent-free, lower-case) text. Two regexes,
# each with a cheap prefix for the engine to scan for ("r$", a digit), are several times faster than one.
_MONEY = re.compile(r"r\$\s*(?P<number>\d{1,3}(?:\.\d{3})+(?:,\d{1,2})?|\d+(?:,\d{1,2})?)")
_QUANTITY = re.compile(
    r"(?<![\w.,])(?P<number>\d+(?:[.,]\d+)*)\s*"
    r"(?P<unit>%|por\s*cento\b|percent\b|reais\b|dias?\s+uteis\b|business\s+days?\b|dias?\b|days?\b"
    r"|horas?\b|hours?\b|semanas?\b|weeks?\b|meses\b|mes\b|months?\b)"
)
_UNITS = {
    "dia": "day",
    "dias": "day",
    "day": "day",
    "days": "day",
    "hora": "hour",
    "horas": "hour",
    "hour": "hour",
    "hours": "hour",
    "semana": "week",
    "semanas": "week",
    "week": "week",
    "weeks": "week",
    "mes": "month",
    "meses": "month",
    "month": "month",
    "months": "month",
}


def _money_value(text: str) -> str:
    whole, _, cents = text.replace(".", "").partition(",")
    whole = whole.lstrip("0") or "0"
    cents = (cents + "00")[:2]
    # "R$ 199", "R$ 199,00" and "199 reais" are the same price.
    return whole if cents == "00" else f"{whole}.{cents}"


def amounts_in(text: str) -> dict[str, str]:
    """Canonical amount -> how it was written, for every price, percentage and deadline in folded text."""
    found: dict[str, str] = {}
    if not any(char.isdigit() for char in text):
        return found
    for match in _MONEY.finditer(text):
        found.setdefault(f"money:{_money_value(match.group('number'))}", match.group(0))
    for match in _QUANTITY.finditer(text):
        number, unit = match.group("number"), " ".join(match.group("unit").split())
        number = (number.lstrip("0") or "0") if number.isdigit() else number
        if unit == "reais":
            key = f"money:{_money_value(number)}"
        elif unit in ("%", "por cento", "porcento", "percent"):
            key = f"percent:{number.replace(',', '.')}"
        elif unit.endswith(("uteis", "business days", "business day")):
            key = f"time:{number}:business_day"
        else:
            key = f"time:{number}:{_UNITS[unit]}"
        found.setdefault(key, match.group(0))
    return found


@dataclass(frozen=True, slots=True)
class Violation:
    constraint_slug: str
    constraint_id: int | None
    severity: str
    action: str
    matched: str
    rule: str


@dataclass(frozen=True)
class GuardResult:
    allowed: bool
    violations: list[Violation] = field(default_factory=list)
    action: GuardAction = GuardAction.NONE
    replacement_text: str = ""
    release_number: int | None = None

    @property
    def strictest(self) -> Violation | None:
        return self.violations[0] if self.violations else None


@dataclass(frozen=True, slots=True)
class _CompiledPhrase:
    original: str
    # Padded with a space on each side: a plain substring test is then a whole-word test.
    padded: str
    # Its longest word: when that word is absent from the text, the substring search is skipped.
    key_word: str


@dataclass(frozen=True, slots=True)
class _CompiledPattern:
    original: str
    exact: re.Pattern[str]
    # One of these substrings occurs in every match: when none is in the text, no regex runs at all.
    literals: tuple[str, ...]
    # Otherwise a regex matching a superset of `exact`, much faster; `exact` runs only where it matched.
    prefilter: re.Pattern[str]


@dataclass(frozen=True, slots=True)
class _CompiledConstraint:
    rule: ConstraintRule
    action: GuardAction
    phrases: tuple[_CompiledPhrase, ...]
    patterns: tuple[_CompiledPattern, ...]


def _compile_phrase(phrase: str) -> _CompiledPhrase | None:
    normalised = normalize_words(phrase)
    if not normalised:
        return None
    key_word = max(normalised.split(), key=len)
    return _CompiledPhrase(original=phrase, padded=f" {normalised} ", key_word=key_word)


_MIN_LITERAL = 2


def _compile_pattern(pattern: str) -> _CompiledPattern | None:
    try:
        exact = compile_pattern(pattern)
    except re.error:
        # The admin refuses invalid patterns; a snapshot written by hand may still hold one.
        return None
    try:
        prefilter = re.compile(_casefold_pattern(_strip_leading_anchors(normalize_pattern(pattern))))
    except re.error:
        prefilter = exact
    literals = required_literals(normalize_pattern(pattern))
    # Too short a literal is in almost every text: the regex prefilter does better then.
    usable = tuple(sorted(literals)) if literals and min(map(len, literals)) >= _MIN_LITERAL else ()
    return _CompiledPattern(original=pattern, exact=exact, literals=usable, prefilter=prefilter)


class _CompiledRelease:
    __slots__ = ("constraints", "known_amounts")

    def __init__(self, release: ReleaseSnapshot) -> None:
        self.known_amounts = frozenset(amounts_in(normalize_text(facts_text(release))))
        compiled = []
        for rule in release.constraints:
            phrases = tuple(item for item in map(_compile_phrase, rule.phrases) if item is not None)
            patterns = tuple(item for item in map(_compile_pattern, rule.patterns) if item is not None)
            action = GuardAction.HANDOFF if rule.action == GuardAction.HANDOFF else GuardAction.REPLACE
            compiled.append(_CompiledConstraint(rule=rule, action=action, phrases=phrases, patterns=patterns))
        self.constraints = tuple(compiled)


_COMPILED_MAX = 16
_compiled: OrderedDict[str, _CompiledRelease] = OrderedDict()
_compiled_lock = threading.Lock()


def _compiled_for(release: ReleaseSnapshot) -> _CompiledRelease:
    key = release.content_hash or f"number:{release.number}"
    with _compiled_lock:
        found = _compiled.get(key)
        if found is not None:
            _compiled.move_to_end(key)
            return found
    built = _CompiledRelease(release)
    with _compiled_lock:
        _compiled[key] = built
        while len(_compiled) > _COMPILED_MAX:
            _compiled.popitem(last=False)
    return built


def _violation_order(violation: Violation) -> tuple[int, int]:
    return (-ACTION_RANK[GuardAction(violation.action)], -SEVERITY_RANK.get(violation.severity, 0))


def check_reply(*, release: ReleaseSnapshot, text: str, labels: Sequence[str] = ()) -> GuardResult:
    """Allowed, or blocked with the violated constraints (strictest first) and the action to take.

    `labels` are the button/list titles, descriptions and media captions: the customer reads them too.
    """
    folded = [_fold(part) for part in (text, *labels) if part]
    plain = _PART_SEPARATOR.join(" ".join(part.split()) for part in folded)
    plains = (plain, plain.translate(_LEET)) if _LEET_IN_WORD.search(plain) else (plain,)
    words = " " + " \x00 ".join(_words(part) for part in folded) + " "
    vocabulary = frozenset(words.split())

    violations: list[Violation] = []
    compiled_release = _compiled_for(release)
    unknown_amounts: list[str] | None = None
    for compiled in compiled_release.constraints:
        hit = _first_hit(compiled, plains, words, vocabulary)
        if hit is None and compiled.rule.amounts_in_context:
            if unknown_amounts is None:
                unknown_amounts = [
                    written for key, written in amounts_in(plain).items() if key not in compiled_release.known_amounts
                ]
            if unknown_amounts:
                hit = ("amount not in the published content", unknown_amounts[0])
        if hit is None:
            continue
        rule = compiled.rule
        violations.append(
            Violation(
                constraint_slug=rule.slug,
                constraint_id=rule.id,
                severity=rule.severity,
                action=compiled.action.value,
                matched=hit[1],
                rule=hit[0],
            )
        )
    if not violations:
        return GuardResult(allowed=True, release_number=release.number)

    violations.sort(key=_violation_order)
    strictest = violations[0]
    action = GuardAction(strictest.action)
    return GuardResult(
        allowed=False,
        violations=violations,
        action=action,
        replacement_text=_replacement_for(release, strictest, action),
        release_number=release.number,
    )


def _first_hit(
    compiled: _CompiledConstraint, plains: tuple[str, ...], words: str, vocabulary: frozenset[str]
) -> tuple[str, str] | None:
    for phrase in compiled.phrases:
        if phrase.key_word in vocabulary and phrase.padded in words:
            return (f"phrase:{phrase.original}", phrase.padded.strip())
    for pattern in compiled.patterns:
        for plain in plains:
            if pattern.literals:
                if not any(literal in plain for literal in pattern.literals):
                    continue
            elif pattern.prefilter.search(plain) is None:
                continue
            match = pattern.exact.search(plain)
            if match is not None:
                return (f"pattern:{pattern.original}", match.group(0)[:120])
    return None


def _replacement_for(release: ReleaseSnapshot, strictest: Violation, action: GuardAction) -> str:
    for rule in release.constraints:
        if rule.slug == strictest.constraint_slug and rule.safe_replacement.strip():
            return rule.safe_replacement.strip()
    return DEFAULT_HANDOFF_TEXT if action == GuardAction.HANDOFF else DEFAULT_REPLACEMENT
