"""Every commitment in the customer-visible strings of a reply: each string alone and all joined."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from institutional.commitments.acts import act_findings, deadline_findings
from institutional.commitments.advice import advice_findings, credential_findings
from institutional.commitments.reading import TokenMemo, joined_variants, parse
from institutional.commitments.sales import sale_findings
from institutional.commitments.sentence import Finding, prepare
from institutional.textnorm import Token


def find_commitments(
    texts: Sequence[str], *, language: str = "pt", memo: TokenMemo | None = None, items: frozenset[str] = frozenset()
) -> list[Finding]:
    """Every commitment in the customer-visible strings: the body first, then labels (each alone and joined).

    `items`: the keys of the release's priced items (its plan names), read as plans after an article.

    A label is something the customer taps: an act on its own there ("Fechar contrato", "Confirm order") is
    the assistant offering to do it.
    """
    findings: list[Finding] = []
    seen: set[tuple[str, str]] = set()
    pieces = [(text, position > 0) for position, text in enumerate(texts) if text and text.strip()]
    pieces.extend((joined, False) for joined in joined_variants(texts))
    for candidate, is_label in pieces:
        for sentence in parse(candidate, memo):
            for finding in _sentence_findings(sentence, language, is_label=is_label, items=items):
                key = (finding.family, finding.evidence)
                if key not in seen:
                    seen.add(key)
                    findings.append(finding)
    return findings


def _sentence_findings(
    tokens: Sequence[Token], language: str, *, is_label: bool = False, items: frozenset[str] = frozenset()
) -> Iterable[Finding]:
    sentence = prepare(tokens, language, items)
    yield from credential_findings(sentence)
    yield from advice_findings(sentence)
    yield from deadline_findings(sentence)
    yield from sale_findings(sentence)
    yield from act_findings(sentence, is_label=is_label)
