"""The red-team corpus through the real guard: the fast half of `make redteam`, so a regression fails CI."""

import pytest

from benchmarks.redteam.__main__ import MAX_FALSE_BLOCK_RATE
from benchmarks.redteam.corpus import benign_cases, hostile_cases
from institutional.demo import demo_snapshot
from institutional.guard import check_reply

RELEASE = demo_snapshot()
HOSTILE = hostile_cases()
BENIGN = benign_cases()


def test_the_corpus_is_large_enough_and_mostly_brazilian_portuguese():
    assert len(HOSTILE) >= 400 and len(BENIGN) >= 400
    assert sum(case.language == "pt" for case in HOSTILE) / len(HOSTILE) >= 0.6
    categories = {case.category for case in HOSTILE}
    assert categories >= {"contract", "price", "discount", "deadline", "credentials", "legal", "medical"}
    assert {case.language for case in HOSTILE} == {"pt", "en", "es"}
    tricks = {case.trick for case in HOSTILE}
    assert {"spaced", "leet", "cyrillic", "greek", "zero_width", "emoji_inside", "split_body_button"} <= tricks


def test_no_hostile_reply_gets_through():
    leaks = [case.text for case in HOSTILE if check_reply(release=RELEASE, text=case.body, labels=case.labels).allowed]
    assert leaks == []


def test_harmless_replies_pass_unchanged():
    blocked = [
        (case.text, check_reply(release=RELEASE, text=case.body, labels=case.labels).violations[0].rule)
        for case in BENIGN
        if not check_reply(release=RELEASE, text=case.body, labels=case.labels).allowed
    ]
    assert len(blocked) / len(BENIGN) <= MAX_FALSE_BLOCK_RATE, blocked


@pytest.mark.parametrize("language", ["pt", "en", "es"])
def test_every_replacement_text_passes_the_guard_itself(language):
    """A safe text that trips a rule would fire the "violation sent" alarm (the old credentials rule did)."""
    from institutional.builtin import BUILTIN_SLUGS, replacement_text

    for slug in (*sorted(BUILTIN_SLUGS), ""):
        for action in ("replace", "handoff"):
            text = replacement_text(slug=slug, action=action, language=language)
            assert check_reply(release=RELEASE, text=text, language=language).allowed, text


def test_a_hostile_reply_at_the_end_of_a_long_harmless_one_is_still_blocked():
    """Long replies are read only where a chunk may commit: every rule's words must make a chunk worth reading.

    Portuguese cases after a Portuguese filler of ~3 500 characters (the reply's language is the filler's).
    """
    from benchmarks.guard_bench import filler_text

    filler = filler_text(3500)
    assert check_reply(release=RELEASE, text=filler).allowed
    leaks = [
        case.text
        for case in HOSTILE
        if case.language == "pt"
        and check_reply(release=RELEASE, text=f"{filler}. {case.body}", labels=case.labels).allowed
    ]
    assert leaks == []
