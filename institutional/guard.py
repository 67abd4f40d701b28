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
from itertools import chain
from typing import Any

from institutional import textnorm
from institutional.amounts import (
    AmountSentences,
    amount_sentences,
    amount_text,
    amount_topics,
    amounts_in,
    canonical_key,
    digit_spans,
    item_vocabulary,
    priced_items,
    ungrounded_amounts,
)
from institutional.builtin import BUILTIN_BY_SLUG, FAMILY_SLUGS, replacement_text
from institutional.commitments import TokenMemo, find_commitments, joined_variants, tokens_of
from institutional.snapshot import SEVERITY_RANK, ConstraintRule, ReleaseSnapshot, fact_units

__all__ = ["amounts_in", "check_reply", "normalize_text", "normalize_words"]


class GuardAction(StrEnum):
    NONE = "none"
    REPLACE = "replace"
    HANDOFF = "handoff"


class GuardLayer(StrEnum):
    """Which check fired: the ledger and the admin tester name it."""

    DETECTOR = "detector"  # the commitment detector's parse
    PHRASE = "phrase"  # a forbidden phrase of the constraint
    PATTERN = "pattern"  # a regular expression of the constraint
    AMOUNT = "amount"  # an amount, percentage, instalment, duration or date not in the published content
    PRICE_ITEM = "price_item"  # a published price quoted for another item
    JUDGE = "judge"  # the LLM policy judge


ACTION_RANK = {GuardAction.NONE: 0, GuardAction.REPLACE: 1, GuardAction.HANDOFF: 2}

DEFAULT_REPLACEMENT = replacement_text(slug="", action="replace", language="pt")
DEFAULT_HANDOFF_TEXT = replacement_text(slug="", action="handoff", language="pt")

_REMOVED = textnorm.INVISIBLE
# Common leetspeak, applied to phrases and to the text alike (never to the text regexes see).
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"})
_NON_WORD = re.compile(r"[\W_]+")
# A letter next to a leet character inside a word ("c0ntr4to", "f3chado"): only then do the regexes
# also run on a leet-folded copy (a second pass costs time; prices like "R$ 199" do not trigger it).
# (The leet character first, the letter beside it looked at around it: the engine skips from one to the next.)
_LEET_IN_WORD = re.compile(r"[013457@$](?:(?<=[^\W\d_].)|(?=[^\W\d_]))")
# Parts (reply, each label, caption) are joined with a separator no phrase or `\s` can cross.
_PART_SEPARATOR = "\n\x00\n"


def _fold(text: str) -> str:
    """Accents, invisible characters, confusables and emoji removed, then casefolded."""
    return textnorm.fold(text)


def normalize_text(text: str) -> str:
    """Case, accents, zero-width characters and repeated whitespace folded away; punctuation kept.

    This is what constraint regular expressions run against.
    """
    return " ".join(_fold(text).split())


def _words(folded: str) -> str:
    return _NON_WORD.sub(" ", folded.translate(_LEET)).strip()


# `_words` for ASCII text in one translation: leet folded, every other non-word character a space.
_WORDS_ASCII = str.maketrans(
    {code: (mapped if (mapped := chr(code).translate(_LEET)).isalnum() else " ") for code in range(128)}
)


def _word_list(folded: str) -> list[str]:
    """`_words(folded).split()`, without the regex for ASCII text (most replies once folded)."""
    if folded.isascii():
        return folded.translate(_WORDS_ASCII).split()
    return _words(folded).split()


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


@dataclass(frozen=True, slots=True)
class Violation:
    constraint_slug: str
    constraint_id: int | None
    severity: str
    action: str
    matched: str
    rule: str
    layer: str = GuardLayer.PHRASE.value


@dataclass(frozen=True)
class GuardResult:
    allowed: bool
    violations: list[Violation] = field(default_factory=list)
    action: GuardAction = GuardAction.NONE
    replacement_text: str = ""
    release_number: int | None = None
    language: str = "pt"

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
    # All its words: the substring search runs only when every one of them is in the text.
    words: frozenset[str]


@dataclass(frozen=True, slots=True)
class _CompiledPattern:
    original: str
    exact: re.Pattern[str]
    # One of these substrings occurs in every match: when none is in the text, no regex runs at all.
    # Each with whether it is made only of word characters (see `_Haystack`).
    literals: tuple[tuple[str, bool], ...]
    # Otherwise a regex matching a superset of `exact`, much faster; `exact` runs only where it matched.
    prefilter: re.Pattern[str]
    # Before the prefilter, for a pattern that starts with digits ("\\d{4}..."): how many digits in a row
    # every match starts with (the text's longest run of digits is known at once; None: no such start).
    digits: int | None = None


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
    return _CompiledPhrase(
        original=phrase, padded=f" {normalised} ", key_word=key_word, words=frozenset(normalised.split())
    )


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
    usable = (
        tuple((literal, _WORD_RUN.fullmatch(literal) is not None) for literal in sorted(literals))
        if literals and min(map(len, literals)) >= _MIN_LITERAL
        else ()
    )
    digits = None if usable else _digit_run(pattern)
    return _CompiledPattern(original=pattern, exact=exact, literals=usable, prefilter=prefilter, digits=digits)


_DIGIT_CLASSES = ([(_sre.CATEGORY, _sre.CATEGORY_DIGIT)], [(_sre.RANGE, (48, 57))])


def _digit_run(pattern: str) -> int | None:
    """How many digits every match of `pattern` starts with (two or more, at most 8), or None."""
    try:
        parsed = list(_sre_parser.parse(_strip_leading_anchors(normalize_pattern(pattern)), re.IGNORECASE))
    except (re.error, TypeError, ValueError, IndexError):
        return None
    if not parsed:
        return None
    op, value = parsed[0]
    if op not in (_sre.MAX_REPEAT, _sre.MIN_REPEAT, _sre.POSSESSIVE_REPEAT):
        return None
    low, _high, item = value
    if low < 2 or len(item) != 1 or item[0][0] is not _sre.IN or item[0][1] not in _DIGIT_CLASSES:
        return None
    return min(low, 8)


class _CompiledRelease:
    __slots__ = (
        "amount_topics",
        "by_slug",
        "constraints",
        "item_keys",
        "item_words",
        "known_amounts",
        "phrase_keys",
        "price_items",
        "text_literals",
        "unfiltered",
        "word_literals",
    )

    def __init__(self, release: ReleaseSnapshot) -> None:
        units = [amount_view(unit) for unit in fact_units(release, with_translations=True)]
        self.known_amounts = frozenset(canonical_key(key) for unit in units for key in amounts_in(unit))
        # What each published price prices: "money:199" -> {"plano essencial"}.
        self.item_words = item_vocabulary(list(release.profile.services))
        # The plans' own names ("Profissional" in "Plano Profissional"): the detector reads them as plans.
        self.item_keys = frozenset(key for key, title in self.item_words.items() if title.split()[0] in _PLAN_WORDS)
        self.amount_topics = amount_topics(units)
        self.price_items: dict[str, set[str]] = {}
        for unit in units:
            for line in unit.splitlines():
                for key, item in priced_items(line, self.item_words):
                    self.price_items.setdefault(key, set()).add(item)

        compiled = []
        for rule in release.constraints:
            phrases = tuple(item for item in map(_compile_phrase, rule.phrases) if item is not None)
            patterns = tuple(item for item in map(_compile_pattern, rule.patterns) if item is not None)
            action = GuardAction.HANDOFF if rule.action == GuardAction.HANDOFF else GuardAction.REPLACE
            compiled.append(_CompiledConstraint(rule=rule, action=action, phrases=phrases, patterns=patterns))
        self.constraints = tuple(compiled)
        # Each phrase's key word -> the constraints that hold it: one set intersection finds the few
        # constraints whose phrases may match, instead of a look at every phrase of every constraint.
        self.phrase_keys: dict[str, set[int]] = {}
        for position, constraint in enumerate(self.constraints):
            for phrase in constraint.phrases:
                self.phrase_keys.setdefault(phrase.key_word, set()).add(position)
        # Likewise each pattern literal -> the constraints whose pattern needs it, and the constraints with
        # a pattern no literal announces (their prefilter always runs): a reply is tested once per literal,
        # not once per pattern per constraint.
        owners: dict[tuple[str, bool], set[int]] = {}
        unfiltered: set[int] = set()
        for position, constraint in enumerate(self.constraints):
            for pattern in constraint.patterns:
                if not pattern.literals:
                    unfiltered.add(position)
                for literal in pattern.literals:
                    owners.setdefault(literal, set()).add(position)
        self.unfiltered = frozenset(unfiltered)
        self.word_literals = tuple((literal, frozenset(found)) for (literal, word), found in owners.items() if word)
        self.text_literals = tuple((literal, frozenset(found)) for (literal, word), found in owners.items() if not word)
        self.by_slug = {constraint.rule.slug: constraint for constraint in self.constraints}

    def is_published(self, key: str) -> bool:
        """Whether the content states this amount ("10 days" and "10 business days" are one deadline)."""
        return canonical_key(key) in self.known_amounts


def amount_view(text: str, memo: TokenMemo | None = None) -> str:
    """`text` as the amount patterns read it: folded, repaired against evasion, number words restored."""
    return amount_text(list(memo[text] if memo is not None else tokens_of(text)))


_PLAN_WORDS = frozenset({"plano", "plan", "planes", "planos", "plans"})

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


def check_reply(
    *, release: ReleaseSnapshot, text: str, labels: Sequence[str] = (), language: str | None = None
) -> GuardResult:
    """Allowed, or blocked with the violated constraints (strictest first) and the action to take.

    `labels` are the button/list titles, descriptions, header, footer and captions: the customer reads them
    too. Each string is checked alone and all of them joined, so a commitment split between the body and a
    button is caught. `language` is the customer's ("pt", "en", "es"): the replacement is written in it
    (detected from the reply when not given).
    """
    parts = [part for part in (text, *labels) if part]
    folded = [_fold(part) for part in parts]
    pieces = [part.split() for part in folded]
    plain = _PART_SEPARATOR.join(map(" ".join, pieces))
    haystack = _Haystack(plain, runs="\x00".join(set(chain(*pieces))))
    plains = (haystack, haystack.leet()) if _LEET_IN_WORD.search(plain) else (haystack,)
    words = _Words(folded)
    # The words of the text a phrase is looked for in (the separator between parts is one of them), read
    # from the distinct pieces: a word never crosses a space.
    vocabulary = frozenset(chain(_word_list(haystack.runs), ("\x00",) if len(parts) > 1 else ()))
    reply_language = textnorm.language_of(" ".join(parts)[:600])
    language = language or reply_language

    violations: list[Violation] = []
    compiled_release = _compiled_for(release)
    by_slug = compiled_release.by_slug
    fired: set[str] = set()
    memo = TokenMemo(dict(zip(parts, folded, strict=True)))
    for finding in find_commitments(parts, language=reply_language, memo=memo, items=compiled_release.item_keys):
        slug = FAMILY_SLUGS[finding.family]
        if slug in fired:
            continue
        fired.add(slug)
        compiled = by_slug.get(slug)
        rule = compiled.rule if compiled is not None else BUILTIN_BY_SLUG[slug]
        violations.append(
            _violation(rule, _action(rule), f"detector: {finding.reason}", finding.evidence, GuardLayer.DETECTOR)
        )
    amounts: dict[str, str] | None = None
    views: list[AmountSentences] = []
    # The constraints whose phrase key word or pattern literal is in the reply: only they can hit.
    keyed = {
        position
        for key in compiled_release.phrase_keys.keys() & vocabulary
        for position in compiled_release.phrase_keys[key]
    }
    keyed.update(compiled_release.unfiltered)
    for haystack in plains:
        runs = haystack.runs
        for literal, owners in compiled_release.word_literals:
            if literal in runs:
                keyed.update(owners)
        for literal, owners in compiled_release.text_literals:
            if literal in haystack.text:
                keyed.update(owners)
    for position, compiled in enumerate(compiled_release.constraints):
        if compiled.rule.slug in fired:
            continue
        hit = _first_hit(compiled, plains, words, vocabulary) if position in keyed else None
        if hit is None and compiled.rule.amounts_in_context:
            if amounts is None:
                # Each string's amounts read once, sentence by sentence; every amount check shares them.
                views = [amount_sentences(amount_view(part, memo)) for part in (*parts, *joined_variants(parts))]
                amounts = {}
                for split in views:
                    for _sentence, found in split:
                        for amount in found:
                            amounts.setdefault(amount.key, amount.written)
            hit = _amount_hit(compiled_release, amounts, views)
        if hit is None:
            continue
        violations.append(_violation(compiled.rule, compiled.action, hit[0], hit[1], hit[2]))
    if not violations:
        return GuardResult(allowed=True, release_number=release.number, language=language)

    violations.sort(key=_violation_order)
    strictest = violations[0]
    action = GuardAction(strictest.action)
    return GuardResult(
        allowed=False,
        violations=violations,
        action=action,
        replacement_text=_replacement_for(release, strictest, action, language),
        release_number=release.number,
        language=language,
    )


JUDGE_SLUG = "policy-judge"
_JUDGE_RULE = ConstraintRule(
    slug=JUDGE_SLUG,
    title="Juiz de política",
    description="O juiz de política não confirmou que a mensagem respeita as regras.",
    severity="high",
    action="handoff",
)


def judged(*, release: ReleaseSnapshot, judge_output: dict[str, Any] | None, language: str) -> GuardResult:
    """What the policy judge's verdict means in enforce mode: allowed only on a clear "allow".

    It fails closed: no verdict (an error, a timeout, an open breaker) or "unsure" hands the conversation
    to a person; "block" applies the constraint it names, or hands over when the name is unknown.
    """
    if judge_output is not None and judge_output.get("verdict") == "allow":
        return GuardResult(allowed=True, release_number=release.number, language=language)
    rules = {rule.slug: rule for rule in release.constraints}
    named = rules.get(str((judge_output or {}).get("constraint", "")))
    if judge_output is None:
        rule, why = _JUDGE_RULE, "judge: no verdict (error, timeout or breaker open): fail closed"
    elif judge_output.get("verdict") == "block" and named is not None:
        rule, why = named, f"judge: {judge_output.get('reason', '')}"
    else:
        rule, why = _JUDGE_RULE, f"judge: {judge_output.get('verdict')}: {judge_output.get('reason', '')}"
    action = _action(rule)
    violation = _violation(rule, action, why[:300], str((judge_output or {}).get("reason", "")), GuardLayer.JUDGE)
    return GuardResult(
        allowed=False,
        violations=[violation],
        action=action,
        replacement_text=_replacement_for(release, violation, action, language),
        release_number=release.number,
        language=language,
    )


def _action(rule: ConstraintRule) -> GuardAction:
    return GuardAction.HANDOFF if rule.action == GuardAction.HANDOFF else GuardAction.REPLACE


def _violation(rule: ConstraintRule, action: GuardAction, why: str, matched: str, layer: GuardLayer) -> Violation:
    return Violation(
        constraint_slug=rule.slug,
        constraint_id=rule.id,
        severity=rule.severity,
        action=action.value,
        matched=matched[:120],
        rule=why,
        layer=layer.value,
    )


def _amount_hit(
    compiled_release: _CompiledRelease, amounts: dict[str, str], views: list[AmountSentences]
) -> tuple[str, str, GuardLayer] | None:
    for key, written in amounts.items():
        if not compiled_release.is_published(key):
            return ("amount not in the published content", written, GuardLayer.AMOUNT)
    for split in views:
        for amount in ungrounded_amounts("", compiled_release.amount_topics, split=split):
            return ("amount published for something else", amount.written, GuardLayer.PRICE_ITEM)
    if not compiled_release.price_items or not any(key.startswith("money:") for key in amounts):
        return None
    for split in views:
        for key, item in priced_items("", compiled_release.item_words, split=split):
            published_for = compiled_release.price_items.get(key)
            if published_for and item not in published_for:
                written = amounts.get(key, key)
                return (
                    f"price published for {', '.join(sorted(published_for))}, quoted for {item}",
                    written,
                    GuardLayer.PRICE_ITEM,
                )
    return None


_WORD_RUN = re.compile(r"\w+")


class _Haystack:
    """A folded text the regexes run on, with its distinct whitespace-separated pieces joined.

    A literal made only of word characters can only occur inside one run of them, hence inside one
    whitespace-separated piece: testing it against the distinct pieces gives the same answer as against
    the whole text, on a string many times shorter (a reply repeats its words).
    """

    __slots__ = ("_digit_run", "runs", "text")

    def __init__(self, text: str, runs: str) -> None:
        self.text = text
        # The distinct whitespace-separated pieces of `text`, joined by NUL.
        self.runs = runs
        self._digit_run: int | None = None

    @property
    def digit_run(self) -> int:
        """The length of the text's longest run of digits."""
        if self._digit_run is None:
            self._digit_run = max((end - start for start, end in digit_spans(self.text)), default=0)
        return self._digit_run

    def leet(self) -> _Haystack:
        """The text leet-folded; its pieces are this text's pieces leet-folded (no sign maps to a space)."""
        return _Haystack(self.text.translate(_LEET), runs=self.runs.translate(_LEET))


class _Words:
    """The words of every part, each part's padded with spaces and the parts apart: what phrases are looked
    for in (built only when a phrase's words are all in the reply's vocabulary)."""

    __slots__ = ("_folded", "_text")

    def __init__(self, folded: list[str]) -> None:
        self._folded = folded
        self._text: str | None = None

    @property
    def text(self) -> str:
        if self._text is None:
            self._text = " " + " \x00 ".join(" ".join(_word_list(part)) for part in self._folded) + " "
        return self._text


def _first_hit(
    compiled: _CompiledConstraint, plains: tuple[_Haystack, ...], words: _Words, vocabulary: frozenset[str]
) -> tuple[str, str, GuardLayer] | None:
    for phrase in compiled.phrases:
        if phrase.key_word in vocabulary and phrase.words <= vocabulary and phrase.padded in words.text:
            return (f"phrase:{phrase.original}", phrase.padded.strip(), GuardLayer.PHRASE)
    for pattern in compiled.patterns:
        for haystack in plains:
            plain = haystack.text
            if pattern.literals:
                if not any(
                    literal in (haystack.runs if word_only else plain) for literal, word_only in pattern.literals
                ):
                    continue
            elif (pattern.digits is not None and haystack.digit_run < pattern.digits) or (
                pattern.prefilter.search(plain) is None
            ):
                continue
            match = pattern.exact.search(plain)
            if match is not None:
                return (f"pattern:{pattern.original}", match.group(0)[:120], GuardLayer.PATTERN)
    return None


def _replacement_for(release: ReleaseSnapshot, strictest: Violation, action: GuardAction, language: str) -> str:
    """The constraint's own safe text in Portuguese; in English or Spanish the built-in text in that language."""
    if language == "pt":
        for rule in release.constraints:
            if rule.slug == strictest.constraint_slug and rule.safe_replacement.strip():
                return rule.safe_replacement.strip()
    return replacement_text(slug=strictest.constraint_slug, action=action.value, language=language)
