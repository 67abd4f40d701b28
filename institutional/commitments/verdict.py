"""Every commitment in the customer-visible strings of a reply: each string alone and all joined."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from institutional.commitments.acts import PAYMENT_WORDS, act_findings, deadline_findings
from institutional.commitments.advice import advice_findings, credential_findings
from institutional.commitments.lexicon import CONFIRM, CONGRATULATE, classify, squeezed_words
from institutional.commitments.reading import TokenMemo, joined_variants, parse
from institutional.commitments.sales import CUSTOMER_STATUS, INSIDE, START, sale_findings
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
    if any(finding.bare_confirmation for finding in findings) and not _deal_in_view(texts, language, memo, items):
        findings = [finding for finding in findings if not finding.bare_confirmation]
    return findings


# Besides objects, amounts and other acts: paying, welcoming, concluding ("tá confirmado então"), becoming a
# customer or getting in, starting.
_DEAL_WORDS = PAYMENT_WORDS | CONGRATULATE | CUSTOMER_STATUS | INSIDE | START | squeezed_words("entao then entonces")
# Handing the customer over to a person: "transferir" then names no payment.
_HANDOFF = squeezed_words("transferir transfiro transfiero transfer transferring transferindo transfira transferencia")
_HANDOFF_TO = squeezed_words(
    "atendente atendentes agent agents asesor asesora asesores equipe equipo team consultor consultora humano "
    "human pessoa person especialista specialist setor departamento department colega"
)
# A reply this long is not read in full (see `reading.tokens_of`): its deal may lie in a chunk not read.
_READ_IN_FULL = 400


def _deal_in_view(texts: Sequence[str], language: str, memo: TokenMemo | None, items: frozenset[str]) -> bool:
    """Whether the reply gives a bare confirmation something to bind: an object (a plan, an order, a price),
    an amount, another act, a payment, a welcome. "Confirmado!" or "Confirmado, obrigado!" acknowledge;
    "Confirmado! Seu pedido já está na fila" or "Confirmado. Pode fazer o Pix" close a sale.

    The guard reads the reply, not the customer's message it answers: with nothing of a deal in the reply, a
    confirmation there is read as an acknowledgement (and no state a person must reach follows from it).
    """
    if sum(len(text) for text in texts) >= _READ_IN_FULL:
        return True
    for text in texts:
        if not text or not text.strip():
            continue
        for tokens in parse(text, memo):
            sentence = prepare(tokens, language, items)
            handoff = not _HANDOFF_TO.isdisjoint(sentence.vocabulary)
            for word in sentence.words:
                if handoff and word in _HANDOFF:
                    continue  # "vou transferir você para um atendente": a handoff, not a payment
                if word.startswith("#") or word in _DEAL_WORDS:
                    return True
                role = classify(word)
                if role is not None and (role[0] == "object" or (role[0] == "act" and role[1] != CONFIRM)):
                    return True
    return False


def _sentence_findings(
    tokens: Sequence[Token], language: str, *, is_label: bool = False, items: frozenset[str] = frozenset()
) -> Iterable[Finding]:
    sentence = prepare(tokens, language, items)
    yield from credential_findings(sentence)
    yield from advice_findings(sentence)
    yield from deadline_findings(sentence)
    yield from sale_findings(sentence)
    yield from act_findings(sentence, is_label=is_label)
