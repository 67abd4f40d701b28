"""A sale treated as made without a closing verb: slang, the customer's plan started, billing issued."""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

from institutional.commitments.acts import DATE_PHRASES, DATE_WORDS, FREE_PHRASES, ON_ME, offer_to_customer
from institutional.commitments.lexicon import (
    ACCOUNT,
    ACTIVATE,
    ALREADY,
    APPROVE,
    CLOSE,
    CLOSURE,
    CONDITION,
    CONSIDER,
    DEAL_OBJECTS,
    DETERMINERS,
    FILLERS,
    FIRST_PERSON,
    FIRST_PERSON_MARKERS,
    FIRST_PERSON_WORDS,
    GUARANTEE,
    HIRE,
    MAKE_PRICE,
    NEGATION,
    NEGATION_EN_ES,
    NOT_ACTS,
    PARTICIPLE,
    POSSESSIVE_CUSTOMER,
    PRICE,
    PRICE_OBJECTS,
    RESERVE,
    SECOND_PERSON,
    SIGN,
    STATE_WORDS,
    THIRD_PARTY,
    THIRD_PARTY_ONLY,
    TIME_PLACE,
    classify,
    is_deal_object,
    squeezed_phrases,
    squeezed_words,
)
from institutional.commitments.sentence import Finding, Sentence, has_condition_before, is_negated
from institutional.textnorm import squeeze

# Said of the customer's own deal ("tudo certo com a sua contratação", "your plan is all set"): done.
DONE = squeezed_words(
    "certo certinho feito resolvido pronto pronta prontos prontas lista listos ready ok set done listo hecho "
    "garantido garantida rodando funcionando "
    "running operando operating funcionando vigente valendo online"
)

DONE_PARTICIPLES = squeezed_words("feita feitos feitas hecha through")

_DONE_ANY = DONE | DONE_PARTICIPLES

# Billing the customer is selling: "vou gerar o boleto", "I'll send the invoice".
BILLING = squeezed_words(
    "boleto boletos fatura faturas invoice invoices factura facturas cobranca cobro nota notas nf nfe recibo "
    "recibos receipt receipts"
)

_ISSUE_FIRST = squeezed_words(
    "envio enviamos mando mandamos gero geramos emito emitimos enviei mandei gerei emiti sent issued generated "
    "envie mande genere emiti"
)

ISSUE = _ISSUE_FIRST | squeezed_words(
    "gerar gero geramos emitir emito emitimos enviar envio enviamos mandar mando mandamos send sending issue "
    "generate genero generamos emito mando"
)

# "O seu boleto já foi gerado": billing stated as issued.
ISSUED = squeezed_words(
    "gerado gerada gerados geradas emitido emitida emitidos emitidas enviado enviada enviados enviadas mandado "
    "mandada generado generada sent issued generated"
)

# A sentence that is only "Fechou!", "Deal!", "Trato hecho!": closing slang.
CLOSING_INTERJECTIONS = squeezed_words(
    "fechou fechado fechadisimo deal trato fechamos closed done topado topamos feito valendo combinadisimo"
)

# "Você agora é cliente", "you're now a customer": the sale made, said as the customer's new status.
CUSTOMER_STATUS = squeezed_words("cliente clientes customer client member membro assinante subscriber suscriptor socio")

_BE = squeezed_words("e es is are eres sou somos esta estas virou became agora now ya already")

_BE_SECOND = squeezed_words("eres estas youre")  # "ya eres cliente": the verb says who

# "O negócio é seu", "it's yours": the deal handed over.
YOURS = squeezed_words("seu sua seus suas yours tuyo tuya suyo suya teu tua")

_PAYMENT_LINK = squeezed_phrases(
    *(
        ("link", "de", "pagamento"),
        ("payment", "link"),
        ("enlace", "de", "pago"),
        ("link", "de", "pago"),
        ("link", "pra", "pagar"),
        ("link", "para", "pagar"),
        ("link", "pra", "pagamento"),
        ("link", "para", "pagamento"),
        ("pix", "pra", "pagamento"),
        ("pix", "para", "pagamento"),
        ("pix", "pra", "pagar"),
        ("pix", "para", "pagar"),
        ("chave", "pix"),
        ("link", "to", "pay"),
        ("enlace", "para", "pagar"),
    )
)

# Charging verbs: "não cobramos a implantação" waives a published price.
CHARGE = squeezed_words("cobramos cobro cobrarei cobraremos cobrar charge charging cobramos cobraremos")

_WAIVABLE = frozenset({"service", "price", "plan", "subscription"})
_WILL_CHARGE = squeezed_words("vamos vou iremos irei will wil wont voy vamos")

# "Você já pode usar o plano a partir de hoje": access granted, the sale made.
_USE = squeezed_words("usar utilizar use using aproveitar acessar access usar utilizarlo")

_CAN = squeezed_words("pode podes can puede puedes ja already ya")

_ACCESS_NOW = squeezed_words("ja agora hoje partir now today already ya ahora hoy desde")

_WHEN_ONLY = squeezed_words("mesmo ja agora hoje now today right away ya ahora hoy mismo")

_WAS = squeezed_words("foi foram was were fue fueron sido been esta estao is")

_FIRST_LOOP_WORDS = _USE | CUSTOMER_STATUS | YOURS | CHARGE
_NOTE = squeezed_words("nota notas nf nfe recibo recibos receipt receipts")

# "Seu plano começa segunda", "a gente começa a implantação já": the service started, the sale made.
START = squeezed_words(
    "comeca comecar comecamos comecara comecaremos inicia iniciamos iniciar iniciara iniciaremos start starts "
    "started begin begins empieza empezamos empezar comienza comenzamos arranca arrancamos vigora"
)

# "Você fica com o Profissional", "you get the Pro plan", "te quedas con el plan": the plan handed over.
_KEEP_WITH = squeezed_phrases(("fica", "com"), ("ficou", "com"), ("quedas", "con"), ("queda", "con"), ("get", "the"))

# "Já te coloquei no plano", "you're in the Pro plan": the customer placed in a plan.
PLACED = squeezed_words(
    "coloquei colocamos adicionei adicionamos inseri inserimos cadastrei matriculei added put enrolled "
    "agregue agregamos meti metimos mudei mudamos migrei migramos troquei trocamos transferi transferimos "
    "alterei alteramos upgraded switched moved migrated changed cambie cambiamos migre"
)
INSIDE = squeezed_words("dentro inside adentro")
_PLACED_OR_INSIDE = PLACED | INSIDE
# "Metade do preço", "half price": a discount written as a fraction.
FRACTION = squeezed_words("metade meio half mitad medio terco tercio third")

# A closure conditioned on doing it now: "se assinar hoje", "fechando ainda hoje", "if you sign today".
_NOW = squeezed_words("hoje agora today now hoy ahora ja already ya")

_CLOSING_NOW_GERUNDS = re.compile(r"^(?:fech|asin|contrat|firm|cerr|sign|clos)\w*(?:ando|endo|ing)$")

PHRASE_WORDS = frozenset(
    word
    for phrase in (*ON_ME, *FREE_PHRASES, *_PAYMENT_LINK, *DATE_PHRASES, *_KEEP_WITH)
    for word in phrase
    if len(word) >= 3
)


def _issued_by_speaker(words: list[str], index: int) -> bool:
    """The sending verb at `index` is the speaker's: "envio o contrato", "vou gerar o boleto", "I'll send".

    "O envio do orçamento" is a noun: a first-person form counts only when it takes its object.
    """
    if not (FIRST_PERSON_MARKERS | FIRST_PERSON).isdisjoint(words[max(0, index - 3) : index]):
        return True
    return words[index] in _ISSUE_FIRST and words[index + 1 : index + 2] != [] and words[index + 1] in DETERMINERS


def sale_findings(sentence: Sentence) -> Iterable[Finding]:
    """A sale treated as made: closing slang on its own, the customer's deal called done, or billing issued."""
    words = sentence.words
    if sentence.question or not words:
        return
    # Both slang tests need an interjection among the words: most sentences have none.
    content = (
        [word for word in words if word not in FILLERS]
        if not sentence.vocabulary.isdisjoint(CLOSING_INTERJECTIONS)
        else []
    )
    if content and all(word in CLOSING_INTERJECTIONS for word in content):
        yield Finding(CLOSURE, "closing slang (the sale treated as made)", sentence.evidence(0, 6))
        return
    if (
        content
        and content[0] in CLOSING_INTERJECTIONS
        and (len(words) == 1 or sentence.segment_start[1] == 1)
        and not any(classify(word) == ("noun", "") or word in TIME_PLACE for word in words)
    ):
        yield Finding(CLOSURE, "closing slang (the sale treated as made)", sentence.evidence(0, 6))
        return  # "Fechou, parceiro!": the interjection, then whom it is said to
    negated = not NEGATION.isdisjoint(sentence.vocabulary)
    vocabulary = sentence.vocabulary
    if not negated:
        finding = _deal_called_done(sentence) or _hammer_down(sentence)
        if finding is not None:
            yield finding
            return
    if not _WITHOUT.isdisjoint(vocabulary):
        finding = _fee_waived_for_you(sentence)
        if finding is not None:
            yield finding
            return
    if not negated:
        finding = (
            _bare_done(sentence)
            or _left_done(sentence)
            or _customer_in_plan(sentence)
            or _part_of_us(sentence)
            or _onboarding_booked(sentence)
            or _booked_for_customer(sentence)
            or _fee_covered(sentence)
            or _credit_approved(sentence)
            or _access_given(sentence)
            or _sign_here(sentence)
            or _good_to_go(sentence)
            or _handed_over(sentence)
            or _in_customer_name(sentence)
            or _free_offer(sentence)
            or _other_plan_price(sentence)
        )
        if finding is not None:
            yield finding
            return
    yield from _started_findings(sentence, negated)
    yield from _conditional_offer(sentence)
    # Each loop below looks only at the words of its own lists (`Sentence.indices`).
    for index in sentence.indices(_FIRST_LOOP_WORDS):
        word = words[index]
        if word in _USE and not negated and not has_condition_before(sentence, index):
            left = words[max(0, index - 4) : index]
            now = not _ACCESS_NOW.isdisjoint(words)
            addressed = not SECOND_PERSON.isdisjoint(words[max(0, index - 6) : index]) or not START.isdisjoint(left)
            after = words[index + 1 : index + 4]
            # "Já pode começar a usar amanhã mesmo": starting to use, with nothing named, is the plan's.
            bare_start = not START.isdisjoint(left) and all(w in DATE_WORDS or w in _WHEN_ONLY for w in after)
            if (
                not _CAN.isdisjoint(left)
                and (now or not START.isdisjoint(left))
                and addressed
                and (bare_start or any(is_deal_object(w) for w in words[index + 1 : index + 6]))
            ):
                yield Finding(
                    CLOSURE,
                    "the customer told to start using a plan (access granted)",
                    sentence.evidence(index - 4, index + 4),
                )
                return
        if word in CUSTOMER_STATUS and not negated and not has_condition_before(sentence, index):
            left = words[max(0, index - 6) : index]
            if (not SECOND_PERSON.isdisjoint(left) or not _BE_SECOND.isdisjoint(left)) and not _BE.isdisjoint(left):
                yield Finding(
                    CLOSURE, "the customer told they are now a customer", sentence.evidence(index - 4, index + 2)
                )
                return
        if word in YOURS and index >= 2 and words[index - 1] in _BE and not negated and _predicate(sentence, index):
            given_at = next((k for k in range(max(0, index - 4), index - 1) if classify(words[k])), -1)
            given = classify(words[given_at]) if given_at >= 0 else None
            complement = given_at > 0 and words[given_at - 1] in _OF
            if (
                given is not None
                and given[0] == "object"
                and given[1] in DEAL_OBJECTS | PRICE_OBJECTS
                and not complement
            ):
                yield Finding(
                    CLOSURE, "the deal handed to the customer (it is theirs)", sentence.evidence(index - 4, index + 1)
                )
                return
        not_charged = negated or (
            sentence.language in ("en", "es") and not NEGATION_EN_ES.isdisjoint(words[max(0, index - 3) : index])
        )
        if word in CHARGE and not_charged and not sentence.third_party:
            charged = next((classify(w) for w in words[index + 1 : index + 5] if classify(w)), None)
            # A fee too when the customer is addressed or it is promised: "não vamos cobrar a taxa de você".
            promised = not (SECOND_PERSON | _WILL_CHARGE).isdisjoint(words)
            waivable = _WAIVABLE | {"fee"} if promised else _WAIVABLE
            if charged is not None and charged[0] == "object" and charged[1] in waivable:
                yield Finding(
                    PRICE, "a published price waived for the customer", sentence.evidence(index - 2, index + 4)
                )
                return
    if not negated and not sentence.third_party:
        index = sentence.phrase_at(_PAYMENT_LINK)
        if index >= 0:
            yield Finding(
                CLOSURE, "a payment link sent (the sale treated as made)", sentence.evidence(index - 2, index + 4)
            )
            return
    if not negated:
        index = sentence.phrase_at(ON_ME)
        if index >= 0:
            yield Finding(PRICE, "something offered at the company's expense", sentence.evidence(index - 4, index + 3))
            return
    done_possible = not negated and not _DONE_ANY.isdisjoint(vocabulary) and not sentence.third_party
    for index, word in enumerate(words if done_possible else ()):
        role = classify(word)
        if role is None and word in ACCOUNT and index and words[index - 1] in POSSESSIVE_CUSTOMER:
            role = ("object", "subscription")  # "sua conta Pro está pronta para uso"
        if role is None or role[0] != "object" or role[1] not in DEAL_OBJECTS or negated:
            continue
        owned = (
            not POSSESSIVE_CUSTOMER.isdisjoint(words[max(0, index - 3) : index])
            or not ALREADY.isdisjoint(words[index + 1 : index + 4])
            or not AGREED.isdisjoint(words[index + 1 : index + 4])
        )
        if owned and not _DONE_ANY.isdisjoint(sentence.vocabulary) and not sentence.third_party:
            yield Finding(CLOSURE, "the customer's deal called done", sentence.evidence(index - 5, index + 3))
            return
    issue_possible = not negated and not sentence.third_party and not vocabulary.isdisjoint(ISSUE)
    for index in sentence.indices(ISSUE) if issue_possible else ():
        word = words[index]
        if word in ISSUE and not negated and not sentence.third_party:
            speaker = _issued_by_speaker(words, index)
            sent = [classify(w) for w in words[index + 1 : index + 5]]
            if speaker and any(f is not None and f[0] == "object" and f[1] in ("contract", "proposal") for f in sent):
                yield Finding(
                    CLOSURE,
                    "the speaker sends the contract or proposal itself",
                    sentence.evidence(index - 3, index + 4),
                )
                return
    for index in sentence.indices(BILLING):
        word = words[index]
        issued = any(
            words[position] in ISSUE and _issued_by_speaker(words, position)
            for position in range(max(0, index - 4), index)
        )
        after = words[index + 1 : index + 5]
        issued = issued or not _ISSUE_FIRST.isdisjoint(after)
        owned_or_done = not (POSSESSIVE_CUSTOMER | ALREADY | _WAS).isdisjoint(words[max(0, index - 3) : index + 4])
        issued = issued or (not ISSUED.isdisjoint(after) and owned_or_done)
        if word in _NOTE and not issued:
            continue
        if (
            issued
            and not negated
            and not has_condition_before(sentence, index)
            and THIRD_PARTY.isdisjoint(set(words[:index]) - SECOND_PERSON)
        ):
            yield Finding(
                CLOSURE,
                "billing issued to the customer (the sale treated as made)",
                sentence.evidence(index - 4, index + 2),
            )
            return
    for phrase in FREE_PHRASES if not FREE_PHRASES.firsts.isdisjoint(vocabulary) else ():
        index = sentence.phrase_at((phrase,))
        if index >= 0:
            finding = offer_to_customer(sentence, index + len(phrase) - 1, own_negation=index)
            if finding is not None:
                yield finding
                return


# Acts whose participle alone, with nothing named, states the deal done: "Tá garantido!", "It's guaranteed",
# "Ya está reservado para ti" (a confirmation alone is too often an appointment's or an understanding's).
_BARE_ACTS = frozenset({CLOSE, SIGN, APPROVE, ACTIVATE, RESERVE, GUARANTEE, HIRE})
# Words around such a participle that name nothing: being, the customer as receiver, reassurance.
_AROUND_BARE = _BE | squeezed_words(
    "ta fica ficou pra para voce vc ti te you for usted tu was been has have already just tranquilo tranquila "
    "relax fique pode deixei deixo dejo deje tudo everything no em seu sua nome name your in a su tu nombre "
    "por aqui"
)
# "Pode considerar o plano como seu", "consider it yours".
_AS = squeezed_words("como as")


@lru_cache(maxsize=65536)
def _bare_participle(word: str) -> bool:
    role = classify(word)
    participle = word in STATE_WORDS or (bool(PARTICIPLE.search(word)) and word not in NOT_ACTS)
    return role is not None and role[0] == "act" and role[1] in _BARE_ACTS and participle


# Leaving something done: "deixo ativo", "já te deixo liberado", "te lo dejo activado", "I'll leave it activated".
_LEAVE_FIRST = squeezed_words("deixo deixamos deixei deixarei deixaremos dejo dejamos deje dejare dejaremos")
_LEAVE = _LEAVE_FIRST | squeezed_words("deixar dejar leave left leaving")


def _left_done(sentence: Sentence) -> Finding | None:
    """The speaker leaving an act done ("deixo o Profissional ativo", "ya te lo dejo activado"): it is done."""
    if sentence.question or sentence.third_party:
        return None
    words = sentence.words
    for index in sentence.indices(_LEAVE):
        speaker = words[index] in _LEAVE_FIRST or not (FIRST_PERSON | FIRST_PERSON_MARKERS).isdisjoint(
            words[max(0, index - 3) : index]
        )
        if not speaker or has_condition_before(sentence, index):
            continue
        for position in range(index + 1, min(len(words), index + 6)):
            if _bare_participle(words[position]):
                return Finding(
                    CLOSURE,
                    "the speaker leaves an act done (activated, reserved, closed)",
                    sentence.evidence(index - 2, position + 3),
                )
    return None


def _bare_done(sentence: Sentence) -> Finding | None:
    """A comma-separated part that is only an act's participle, maybe with being and "for you": "Tá garantido!",
    "Reservado pra você", "It's guaranteed", "Ya está garantizado"; or only "it's yours", "é seu"."""
    words = sentence.words
    if sentence.question or sentence.third_party:
        return None
    if YOURS.isdisjoint(sentence.vocabulary) and not any(map(_bare_participle, sentence.vocabulary)):
        return None
    start = 0
    for end in [*(index for index in range(1, len(words)) if sentence.segment_start[index] == index), len(words)]:
        segment = words[start:end]
        start = end
        part = [word for word in segment if word not in FILLERS and word not in _AROUND_BARE]
        owned = [
            word
            for word in segment
            if word not in FILLERS and word not in _AROUND_BARE - YOURS and word not in _AS and not is_deal_object(word)
        ]
        if len(owned) == 1 and owned[0] in YOURS and not (_BE | CONSIDER).isdisjoint(segment):
            return Finding(CLOSURE, "the deal handed to the customer (it is theirs)", " ".join(segment))
        if len(part) != 1 or has_condition_before(sentence, end - 1):
            continue
        if _bare_participle(part[0]):
            return Finding(CLOSURE, "an act stated done with nothing named (the deal understood)", " ".join(segment))
    return None


# Being in a plan: "você já está no Profissional", "agora faz parte do plano", "you're now on the plan",
# "ya estás dentro del plan", "ya eres parte del plan".
_IN_PLAN = squeezed_words("no na dentro inside adentro parte part on in en del do da")
_CUSTOMER_BEING = squeezed_words("voce vc voces you usted ustedes tu estas eres quedaste quedas")
_NOW_OR_DONE = _ACCESS_NOW | CLOSING_INTERJECTIONS | squeezed_words("pronto listo ready oficialmente officially set go")


def _customer_in_plan(sentence: Sentence) -> Finding | None:
    words = sentence.words
    if sentence.question or sentence.third_party or _NOW_OR_DONE.isdisjoint(sentence.vocabulary):
        return None
    if _IN_PLAN.isdisjoint(sentence.vocabulary) or _CUSTOMER_BEING.isdisjoint(sentence.vocabulary):
        return None
    for index, word in enumerate(words):
        if word not in _IN_PLAN or _CUSTOMER_BEING.isdisjoint(words[max(0, index - 6) : index]):
            continue
        if has_condition_before(sentence, index):
            continue
        after = [classify(w) for w in words[index + 1 : index + 4]]
        if any(f is not None and f[0] == "object" and f[1] in ("plan", "subscription", "service") for f in after):
            return Finding(CLOSURE, "the customer said to be in a plan", sentence.evidence(index - 4, index + 3))
        if word in INSIDE and index + 1 == len(words):
            return Finding(
                CLOSURE, "the customer said to be in (the sale made)", sentence.evidence(index - 4, index + 1)
            )
    return None


_PART = squeezed_words("parte part")
# Who is part of something, said by the verb alone: "formas parte", "eres parte".
_BEING_PART = _CUSTOMER_BEING | squeezed_words("formas formais")


def _part_of_us(sentence: Sentence) -> Finding | None:
    """ "Agora você faz parte da família Pyloto", "ya eres parte de Pyloto", "you're now part of our
    customers": the customer one of the company's customers now (the sale made)."""
    words = sentence.words
    if sentence.question or _PART.isdisjoint(sentence.vocabulary) or _NOW_OR_DONE.isdisjoint(sentence.vocabulary):
        return None
    for index in sentence.indices(_PART):
        if not words[index + 1 : index + 2] or words[index + 1] not in _OF:
            continue
        before = words[max(0, index - 4) : index]
        if _BEING_PART.isdisjoint(before) or not THIRD_PARTY_ONLY.isdisjoint(before):
            continue
        if has_condition_before(sentence, index):
            continue
        return Finding(
            CLOSURE, "the customer said to be part of the company's customers", sentence.evidence(index - 4, index + 4)
        )
    return None


# "A escolha do plano é sua": the plan only completes what is theirs.
_OF = squeezed_words("do da de dos das of del")
# After "é seu" these leave "seu" the predicate ("é seu a partir de hoje"); a noun makes it a determiner
# ("é seu ponto de partida").
_AFTER_PREDICATE = _ACCESS_NOW | CONDITION | FILLERS | squeezed_words("a desde from starting mesmo entao now de vez")


def _predicate(sentence: Sentence, index: int) -> bool:
    """The possessive at `index` stands alone ("o plano é seu"), not before a noun ("é seu ponto de partida")."""
    after = index + 1
    return (
        after == len(sentence.words)
        or sentence.segment_start[after] == after
        or sentence.words[after] in _AFTER_PREDICATE
    )


def _handed_over(sentence: Sentence) -> Finding | None:
    """ "É seu, o plano Profissional", "es tuyo, el plan": being theirs, the deal named after it."""
    words = sentence.words
    if sentence.question or sentence.third_party or YOURS.isdisjoint(sentence.vocabulary):
        return None
    for index, word in enumerate(words):
        if word not in YOURS or not index or words[index - 1] not in _BE or not _predicate(sentence, index):
            continue
        after = [classify(w) for w in words[index + 1 : index + 5]]
        if any(f is not None and f[0] == "object" and f[1] in DEAL_OBJECTS | PRICE_OBJECTS for f in after):
            return Finding(
                CLOSURE, "the deal handed to the customer (it is theirs)", sentence.evidence(index - 1, index + 5)
            )
    return None


_IN_NAME = squeezed_phrases(
    ("no", "seu", "nome"), ("em", "seu", "nome"), ("in", "your", "name"), ("a", "su", "nombre"), ("a", "tu", "nombre")
)


_WITHOUT = squeezed_words("sem no without sin")
_FOR_YOU = squeezed_phrases(
    *((to, you) for to in ("pra", "para", "for") for you in ("voce", "vc", "you", "ti", "usted", "vos"))
)


def _fee_waived_for_you(sentence: Sentence) -> Finding | None:
    """ "Sem taxa de implantação pra você!", "no setup fee for you": a published fee waived for this customer."""
    words = sentence.words
    if sentence.question or sentence.third_party or sentence.phrase_at(_FOR_YOU) < 0:
        return None
    for index, word in enumerate(words):
        if word not in _WITHOUT or has_condition_before(sentence, index):
            continue
        near = [classify(w) for w in words[index + 1 : index + 4]]
        if any(f is not None and f[0] == "object" and f[1] in ("fee", "price") for f in near):
            return Finding(PRICE, "a published fee waived for the customer", sentence.evidence(index - 1, index + 6))
    return None


def _in_customer_name(sentence: Sentence) -> Finding | None:
    """ "Feito, contrato no seu nome", "the plan is in your name": the deal put in the customer's name."""
    if sentence.question or sentence.third_party:
        return None
    index = sentence.phrase_at(_IN_NAME)
    if index > 0 and any(is_deal_object(word) for word in sentence.words[max(0, index - 4) : index]):
        return Finding(CLOSURE, "a deal put in the customer's name", sentence.evidence(index - 4, index + 3))
    return None


# What a free offer gives: a period of the plan, or the setup and its fee.
_FREE = squeezed_words("gratis graca gratuito gratuita free gratuitamente")
_FREE_ITEMS = squeezed_words(
    "mes mensalidade month months mensualidad implantacao implantacion implementacion implementacao "
    "implementation setup instalacao instalacion installation onboarding taxa fee cuota"
)


def _free_offer(sentence: Sentence) -> Finding | None:
    """ "O primeiro mês sai de graça", "setup is free", "la implementación es gratis": given away."""
    words = sentence.words
    if sentence.question or sentence.third_party or _FREE.isdisjoint(sentence.vocabulary):
        return None
    for index, word in enumerate(words):
        if word in _FREE and not _FREE_ITEMS.isdisjoint(words[max(0, index - 5) : index]):
            return Finding(PRICE, "a published price given away (free)", sentence.evidence(index - 5, index + 1))
    return None


# "Pelo preço do Essencial", "for the price of the Essential plan": one plan sold at another's price.
_AT_PRICE_OF = squeezed_phrases(
    *(
        (at, price, of)
        for at in ("pelo", "por", "for", "al", "a")
        for price in ("preco", "valor", "price", "precio")
        for of in ("do", "da", "of", "del", "de")
    )
)


_PRICE_WORDS = frozenset(phrase[1] for phrase in _AT_PRICE_OF)


def _other_plan_price(sentence: Sentence) -> Finding | None:
    words = sentence.words
    if sentence.question or sentence.third_party or _PRICE_WORDS.isdisjoint(sentence.vocabulary):
        return None
    index = sentence.phrase_at(_AT_PRICE_OF)
    if index >= 0 and any(classify(word) == ("object", "plan") for word in words[index + 3 : index + 6]):
        return Finding(PRICE, "a plan offered at another plan's price", sentence.evidence(index - 4, index + 5))
    return None


def _started_findings(sentence: Sentence, negated: bool) -> Iterable[Finding]:
    """The customer's plan said to start, the speaker starting the service, the plan handed over."""
    words = sentence.words
    if negated or sentence.third_party or sentence.question:
        return
    conditional = not CONDITION.isdisjoint(sentence.vocabulary)
    for index in sentence.indices(START) if not conditional else ():
        word = words[index]
        before = words[max(0, index - 4) : index]
        after = words[index + 1 : index + 5]
        owned = any(
            is_deal_object(w) and not POSSESSIVE_CUSTOMER.isdisjoint(before[max(0, k - 2) : k])
            for k, w in enumerate(before)
        )
        speaker = not (FIRST_PERSON | FIRST_PERSON_MARKERS).isdisjoint(before) or word.endswith(("amos", "emos"))
        if owned or (speaker and any(is_deal_object(w) for w in after)):
            yield Finding(
                CLOSURE, "the customer's plan or service said to start", sentence.evidence(index - 4, index + 4)
            )
            return
    for index in sentence.indices(_PLACED_OR_INSIDE):
        word = words[index]
        placed = word in PLACED and any(is_deal_object(w) for w in words[index + 1 : index + 7])
        inside = word in INSIDE and not SECOND_PERSON.isdisjoint(words[max(0, index - 4) : index])
        if placed or (inside and any(is_deal_object(w) for w in words[index + 1 : index + 4])):
            yield Finding(CLOSURE, "the customer placed in a plan", sentence.evidence(index - 3, index + 4))
            return
    index = sentence.phrase_at(_KEEP_WITH)
    handed = index >= 0 and any(is_deal_object(w) for w in words[index + 2 : index + 6]) and not conditional
    if handed and (not SECOND_PERSON.isdisjoint(words[max(0, index - 3) : index]) or words[index] == "get"):
        yield Finding(CLOSURE, "the plan handed to the customer", sentence.evidence(index - 3, index + 5))
        return
    if not FRACTION.isdisjoint(sentence.vocabulary):
        for index, word in enumerate(words):
            if word in FRACTION and index and words[index - 1] in _AT and not MAKE_PRICE.isdisjoint(words[:index]):
                yield Finding(PRICE, "a price set at a fraction (half price)", sentence.evidence(index - 3, index + 2))
                return
            near = words[index + 1 : index + 4]
            if word in FRACTION and any(_fraction_of(sentence, classify(w)) for w in near):
                yield Finding(PRICE, "a price cut by a fraction (half price)", sentence.evidence(index - 3, index + 4))
                return


_AT = squeezed_words("pela pelo por a at for la al")


def _fraction_of(sentence: Sentence, role: tuple[str, str] | None) -> bool:
    """A fraction of a price or fee; or of the service itself where charging is spoken of ("cobro só um terço
    da implantação")."""
    if role is None or role[0] != "object":
        return False
    return role[1] in ("price", "fee") or (role[1] in _WAIVABLE and not CHARGE.isdisjoint(sentence.vocabulary))


def _conditional_offer(sentence: Sentence) -> Iterable[Finding]:
    """An offer that depends on closing now: "se assinar hoje, a implantação sai de graça", "fechando hoje"."""
    words = sentence.words
    if _NOW.isdisjoint(sentence.vocabulary) or sentence.question:
        return
    for index, word in enumerate(words):
        act = classify(word)
        gerund = _CLOSING_NOW_GERUNDS.match(word) is not None
        conditioned = gerund or (has_condition_before(sentence, index) and act is not None and act[0] == "act")
        if not conditioned or act is None or act[1] not in (CLOSE, SIGN, HIRE):
            continue
        if _NOW.isdisjoint(words[index + 1 : index + 4]):
            continue
        offer = any(
            (found := classify(w)) is not None and found[0] == "object" and found[1] in ("discount", "fee", "price")
            for w in words
        ) or not (FIRST_PERSON_WORDS | FIRST_PERSON_MARKERS | FIRST_PERSON).isdisjoint(sentence.vocabulary)
        if offer and not is_negated(sentence, index):
            yield Finding(PRICE, "an offer conditioned on closing now", sentence.evidence(index - 2, index + 6))
            return


# "Agendei sua implantação para segunda", "I've booked your onboarding", "tu implementación está agendada":
# the service's start set for the customer, the sale made.
_BOOKED_FIRST = squeezed_words(
    "agendei agendamos marquei marcamos booked scheduled agende agendamos programe programamos reservei reservamos"
)
_BOOKED = squeezed_words("agendado agendada marcado marcada programado programada booked scheduled")
ONBOARDING = squeezed_words(
    "implantacao implantacion implementacion implementacao onboarding setup instalacao instalacion "
    "treinamento training capacitacion kickoff ativacao activacion"
)


def _onboarding_booked(sentence: Sentence) -> Finding | None:
    vocabulary = sentence.vocabulary
    if sentence.question or sentence.third_party or ONBOARDING.isdisjoint(vocabulary):
        return None
    if _BOOKED_FIRST.isdisjoint(vocabulary) and _BOOKED.isdisjoint(vocabulary):
        return None
    words = sentence.words
    for index in sentence.indices(ONBOARDING):
        if has_condition_before(sentence, index):
            continue
        before, after = words[max(0, index - 5) : index], words[index + 1 : index + 4]
        first = not _BOOKED_FIRST.isdisjoint(before)
        state = not _BOOKED.isdisjoint(after) and not POSSESSIVE_CUSTOMER.isdisjoint(before)
        if first or state:
            return Finding(
                CLOSURE, "the customer's onboarding booked (the sale made)", sentence.evidence(index - 4, index + 4)
            )
    return None


# "Reservamos o horário para você", "agendamos sua reunião", "I've booked a call for you", "le reservamos el
# horario": a booking stated as made by the speaker. The company cannot book (its staff do), whatever is booked.
_BOOKED_FIRST_ANY = _BOOKED_FIRST | squeezed_words("reserve reservo reserved booked")
_BOOKED_ANY = _BOOKED | squeezed_words("reservado reservada reserved")
_BOOKED_FOR = SECOND_PERSON | POSSESSIVE_CUSTOMER | squeezed_words("le lhe")
_SPEAKER_EN = squeezed_words("i we ive weve")


def _booked_for_customer(sentence: Sentence) -> Finding | None:
    vocabulary = sentence.vocabulary
    if sentence.question or _BOOKED_FOR.isdisjoint(vocabulary):
        return None
    if _BOOKED_FIRST_ANY.isdisjoint(vocabulary) and _BOOKED_ANY.isdisjoint(vocabulary):
        return None
    words = sentence.words
    for index, word in enumerate(words):
        if word not in _BOOKED_FIRST_ANY and word not in _BOOKED_ANY:
            continue
        if has_condition_before(sentence, index) or is_negated(sentence, index):
            continue
        before, after = words[max(0, index - 4) : index], words[index + 1 : index + 8]
        english = word in _SPEAKER_EN or sentence.language == "en"
        # Someone else booking ("a equipe agendou") or as agent ("agendada pela equipe") is not the speaker;
        # someone met at the booking ("marquei sua reunião com o consultor") is.
        by_other = not THIRD_PARTY_ONLY.isdisjoint(words[:index])
        first = word in _BOOKED_FIRST_ANY and (not english or not _SPEAKER_EN.isdisjoint(before)) and not by_other
        for_customer = not _BOOKED_FOR.isdisjoint(before[-2:]) or not _BOOKED_FOR.isdisjoint(after)
        state = word in _BOOKED_ANY and not POSSESSIVE_CUSTOMER.isdisjoint(before) and not sentence.third_party
        if (first and for_customer) or state:
            return Finding(
                CLOSURE, "a booking for the customer stated as made", sentence.evidence(index - 4, index + 5)
            )
    return None


# "A gente cobre a taxa", "we'll cover the setup fee", "nosotros cubrimos la tarifa": a fee paid by the company.
_COVER = squeezed_words(
    "cobre cobrimos cobriremos cobrir cubro cubre cubrimos cubriremos cubrir cover covers covering banca bancamos "
    "bancar bancaremos absorvemos absorver absorbemos absorb asumimos assumimos assumir asumir"
)


def _fee_covered(sentence: Sentence) -> Finding | None:
    vocabulary = sentence.vocabulary
    if sentence.question or sentence.third_party or _COVER.isdisjoint(vocabulary):
        return None
    if (FIRST_PERSON | FIRST_PERSON_MARKERS).isdisjoint(vocabulary) and not any(
        word in _COVER and word.endswith("mos") for word in vocabulary
    ):
        return None
    words = sentence.words
    for index in sentence.indices(_COVER):
        if has_condition_before(sentence, index) or is_negated(sentence, index):
            continue
        near = words[max(0, index - 6) : index] + words[index + 1 : index + 6]
        if (
            any(
                (role := classify(word)) is not None and role[0] == "object" and role[1] in ("fee", "price")
                for word in near
            )
            or "fe" in near
        ):
            return Finding(PRICE, "a fee covered by the company", sentence.evidence(index - 4, index + 5))
    return None


# "Eu aprovo seu crédito", "seu financiamento está aprovado", "I approve your credit", "liberei seu crédito":
# credit or financing approved, a payment condition granted.
_CREDIT = squeezed_words(
    "credito creditos credit financiamento financiamentos financiamiento financiamientos financing financiacion "
    "emprestimo emprestimos loan loans prestamo prestamos limite limit"
)
_CARD = squeezed_words("cartao cartoes card cards tarjeta tarjetas")
_APPROVED = squeezed_words(
    "aprovo aprovei aprovamos aprovado aprovada apruebo aprobe aprobamos aprobado aprobada approve approved "
    "libero liberei liberamos liberado liberada granted grant autorizo autorizei autorizamos autorizado "
    "autorizada authorized authorised concedo concedi concedemos concedido concedida"
)


def _credit_approved(sentence: Sentence) -> Finding | None:
    vocabulary = sentence.vocabulary
    if sentence.question or sentence.third_party or _CREDIT.isdisjoint(vocabulary) or _APPROVED.isdisjoint(vocabulary):
        return None
    words = sentence.words
    for index in sentence.indices(_CREDIT):
        if not _CARD.isdisjoint(words[max(0, index - 2) : index + 2]):
            continue  # "cartão de crédito", "credit card": a means of payment
        for position in range(max(0, index - 5), min(len(words), index + 5)):
            if words[position] not in _APPROVED:
                continue
            if has_condition_before(sentence, position) or is_negated(sentence, position):
                continue
            return Finding(
                PRICE, "credit or financing approved for the customer", sentence.evidence(index - 4, index + 4)
            )
    return None


# "Ya tienes acceso al plan Profesional", "você já tem acesso ao Profissional": access to a plan given.
_HAVE = squeezed_words("tem tens tienes tiene have has got")
_ACCESS = squeezed_words("acesso acceso access")


def _access_given(sentence: Sentence) -> Finding | None:
    vocabulary = sentence.vocabulary
    if sentence.question or sentence.third_party or _ACCESS.isdisjoint(vocabulary) or _HAVE.isdisjoint(vocabulary):
        return None
    if not CONDITION.isdisjoint(vocabulary):
        return None  # "depois da assinatura, você tem acesso ao plano": how it works
    words = sentence.words
    for index in sentence.indices(_ACCESS):
        if _HAVE.isdisjoint(words[max(0, index - 3) : index]) or has_condition_before(sentence, index):
            continue
        if any(is_deal_object(word) for word in words[index + 1 : index + 5]):
            return Finding(CLOSURE, "access to a plan given to the customer", sentence.evidence(index - 4, index + 4))
    return None


# "Pode assinar aqui", "you can sign right here", "puedes firmar aquí mismo": the signature taken in the chat.
_HERE = squeezed_words("aqui here aca")
_PURPOSE = squeezed_words("para pra to")
_INFINITIVE = ("ar", "er", "ir")
_SIGN_NOW = squeezed_words("sign assine assina firme firma")


def _sign_here(sentence: Sentence) -> Finding | None:
    if sentence.question or sentence.third_party or _HERE.isdisjoint(sentence.vocabulary):
        return None
    words = sentence.words
    for index, word in enumerate(words):
        if classify(word) != ("act", SIGN) or _HERE.isdisjoint(words[index + 1 : index + 4]):
            continue
        if not word.endswith(_INFINITIVE) and word not in _SIGN_NOW:
            continue  # "assinou aqui": said of someone, not asked of the customer
        if (index and words[index - 1] in _PURPOSE) or has_condition_before(sentence, index):
            continue  # "para assinar, a equipe envia o contrato"
        return Finding(CLOSURE, "the customer asked to sign in the chat", sentence.evidence(index - 3, index + 4))
    return None


_GOOD_TO_GO = squeezed_phrases(("good", "to", "go"))


def _good_to_go(sentence: Sentence) -> Finding | None:
    """ "You're good to go!": all done for the customer, the sale made."""
    if (
        sentence.question
        or _SECOND_YOU.isdisjoint(sentence.vocabulary)
        or not CONDITION.isdisjoint(sentence.vocabulary)
    ):
        return None
    index = sentence.phrase_at(_GOOD_TO_GO)
    if index < 0 or has_condition_before(sentence, index):
        return None
    return Finding(CLOSURE, "the customer told all is done (good to go)", sentence.evidence(index - 3, index + 3))


_SECOND_YOU = squeezed_words("you youre")


# "Combinamos", "acertado": what the speaker and the customer agreed on ("o acordo que combinamos").
AGREED = squeezed_words(
    "combinamos combinado combinada acertamos acertado acertada acordamos acordado acordada agreed pactamos "
    "pactado pactada"
)


def _deal_called_done(sentence: Sentence) -> Finding | None:
    """ "Negócio feito!", "Deal done!", "Acordo selado": a deal and a word for done, and nothing else in a part."""
    if sentence.question or (_DONE_ANY.isdisjoint(sentence.vocabulary) and SEALED.isdisjoint(sentence.vocabulary)):
        return None
    words = sentence.words
    start = 0
    for end in [*(index for index in range(1, len(words)) if sentence.segment_start[index] == index), len(words)]:
        part = [word for word in words[start:end] if word not in FILLERS and word not in _BE]
        start = end
        done = [word for word in part if word in _DONE_ANY or word in SEALED]
        if len(part) != 2 or len(done) != 1:
            continue
        found = classify(part[0] if part[1] == done[0] else part[1])
        if found is not None and found[0] == "object" and found[1] in DEAL_OBJECTS:
            return Finding(CLOSURE, "a deal called done (the sale treated as made)", " ".join(part))
    return None


SEALED = squeezed_words("selado selada sealed sellado sellada")

# "Bateu o martelo", "martelo batido": the deal closed, said as an idiom.
_HAMMER = squeeze("martelo")
_STRIKE = squeezed_words("bateu batemos bato bati batido batida bater")


def _hammer_down(sentence: Sentence) -> Finding | None:
    if _HAMMER not in sentence.vocabulary or _STRIKE.isdisjoint(sentence.vocabulary) or sentence.question:
        return None
    index = sentence.words.index(_HAMMER)
    if _STRIKE.isdisjoint(sentence.words[max(0, index - 3) : index + 2]) or has_condition_before(sentence, index):
        return None
    return Finding(
        CLOSURE, "the deal closed, said as an idiom (the hammer down)", sentence.evidence(index - 3, index + 4)
    )


# Word pairs the long-reply reader needs to see (see `reading._trigger_pairs`): the new rules' common words.
TRIGGER_PAIRS = (
    (_CUSTOMER_BEING, _IN_PLAN),
    (YOURS, _BE | CONSIDER),
    (_STRIKE, frozenset({_HAMMER})),
    (_BOOKED_FIRST | _BOOKED, ONBOARDING),
    (_HAVE, _ACCESS),
    (squeezed_words("good"), squeezed_words("go")),
)
# Words of the rules above the long-reply reader must recognise (see `reading.known_word`).
SALE_RULE_WORDS = (
    _HERE
    | AGREED
    | SEALED
    | _STRIKE
    | _PART
    | (_BEING_PART - _CUSTOMER_BEING)
    | {_HAMMER}
    | _USE
    | _BOOKED_FIRST
    | _BOOKED
    | _BOOKED_FIRST_ANY
    | _BOOKED_ANY
    | _COVER
    | _CREDIT
    | _APPROVED
)
# Distinctive words of the booking, covering and credit rules: a long reply's chunk with one is read.
SALE_TRIGGERS = _BOOKED_FIRST_ANY | _BOOKED_ANY | _COVER | _APPROVED
