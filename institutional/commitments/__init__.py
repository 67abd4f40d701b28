"""The commitment detector: speech acts that bind the company, recognised in PT-BR, English and Spanish.

A reply breaks a constraint when someone who can bind the company (I, we, the company) commits to an
act on a commercial object: offers, promises, confirms or states as already done that a contract is
closed, a price or discount granted, a fee waived, a deadline guaranteed. The detector reads each
sentence of the folded text (see `institutional.textnorm`) as words with roles:

- *acts* (close, sign, confirm, approve, activate, reserve, guarantee, promise, waive, discount, grant)
  in some *form*: a participle or state ("fechado", "signed", "activo"), a first-person verb ("fechei",
  "garantimos", "te doy"), or a verb after a first-person auxiliary ("posso fechar", "let me close",
  "voy a cerrar");
- *objects* (contract, deal, proposal, order, plan, subscription, service, price, fee, discount,
  payment condition, deadline) and the innocent nouns that compete with them (a store that is closed on
  Sundays, a ticket that was closed);
- *scope*: negation ("ainda não está fechado"), questions to the customer, conditions and time clauses
  ("once the contract is signed"), third parties and relative clauses ("quem fecha contratos é a nossa
  equipe comercial"), generic plurals, passives with an agent, and quoted labels.

Each finding names the constraint family it breaks (closure, price, credentials, advice) and the parse
that fired, so the admin tester can show why.

The package reads in layers: `lexicon` (the shared vocabulary and each word's role), `sentence` (a
sentence with its scope), the rules (`acts`, `sales`, `advice`), `reading` (text to tokens, long replies
read only where they may commit) and `verdict` (every finding of a reply's strings).
"""

from institutional.commitments.lexicon import ADVICE, CLOSURE, CREDENTIALS, PRICE, classify
from institutional.commitments.reading import TokenMemo, joined_variants, known_word, parse, tokens_of
from institutional.commitments.sentence import Finding
from institutional.commitments.verdict import find_commitments

__all__ = [
    "ADVICE",
    "CLOSURE",
    "CREDENTIALS",
    "PRICE",
    "Finding",
    "TokenMemo",
    "classify",
    "find_commitments",
    "joined_variants",
    "known_word",
    "parse",
    "tokens_of",
]
