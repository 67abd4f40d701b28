"""Acts on a commercial object: first-person offers and promises, states of something done, deadlines."""

from __future__ import annotations

from collections.abc import Iterable

from institutional.commitments.lexicon import (
    ACTIVATE,
    ALREADY,
    APPROVE,
    BENEFICIARY_NOW,
    CANCEL,
    CLOSE,
    CLOSURE,
    CONDITION,
    CONFIRM,
    CONFIRMABLE,
    CONGRATULATE,
    CONSIDER,
    DEAL_OBJECTS,
    DISCOUNT,
    EXECUTABLE,
    EXECUTE,
    FILLERS,
    FIRST_PERSON,
    FIRST_PERSON_AUX,
    FIRST_PERSON_MARKERS,
    GRANT,
    GUARANTEE,
    HIRE,
    HOURS,
    MAKE_PRICE,
    NEGATION,
    NEGATION_EN_ES,
    NOT_ACTS,
    PARTICIPLE,
    PASSIVE_REQUIREMENT,
    POSSESSIVE_CUSTOMER,
    PRICE,
    PRICE_OBJECTS,
    RELATIVE,
    RESERVE,
    SECOND_PERSON,
    SET_ASIDE,
    SIGN,
    SLOTS,
    SPECIAL,
    STATE_WORDS,
    THIRD_PARTY,
    THIRD_PARTY_ONLY,
    TIME_PLACE,
    WAIVE,
    act_stem_length,
    classify,
    family_of,
    is_deal_object,
    squeezed_phrases,
    squeezed_words,
)
from institutional.commitments.sentence import (
    Finding,
    Sentence,
    has_condition_before,
    is_first_person,
    is_generic_plural,
    is_negated,
    left_of,
    nearest_role,
)

READY = squeezed_words(
    "vigor effect "
    "comeca comecara inicia iniciara starts start begins empieza comienza arranca vigora "
    "pronto pronta prontos prontas ready listo lista listos live funcionando working entrega entregue entregamos "
    "entregaremos delivered deliver entregado entregamos chega chegara arrive arrives llega llegara configurado "
    "instalado ativado activado sai saira sale online ar "
    "comecarmos comecamos iniciarmos iniciamos empezamos empecemos comenzamos entrego entregarei entregaremos "
    "entregue entregarlo entregamos"
)
MONTHS = squeezed_words(
    "janeiro fevereiro marco abril maio junho julho agosto setembro outubro novembro dezembro january february "
    "march april may june july august september october november december enero febrero abril mayo junio julio "
    "agosto septiembre octubre noviembre diciembre"
)
_UNTIL = squeezed_words("ate until till through hasta")
# "Palavra minha", "you have my word": a promise said as an idiom.
_PROMISE_IDIOMS = squeezed_phrases(
    ("palavra", "minha"), ("minha", "palavra"), ("my", "word"), ("mi", "palabra"), ("palabra", "mia")
)

DATE_WORDS = squeezed_words(
    "amanha tomorrow manana hoje today hoy segunda terca quarta quinta sexta sabado domingo monday tuesday "
    "wednesday thursday friday saturday sunday lunes martes miercoles jueves viernes"
)

DATE_PHRASES = squeezed_phrases(
    *(
        ("fim", "do", "mes"),
        ("fim", "da", "semana"),
        ("final", "do", "mes"),
        ("end", "of", "the", "month"),
        ("end", "of", "month"),
        ("fin", "de", "mes"),
        ("proxima", "semana"),
        ("semana", "que", "vem"),
        ("next", "week"),
        ("proxima", "semana"),
        ("este", "mes"),
        ("this", "week"),
        ("esta", "semana"),
        ("fim", "do", "dia"),
        ("final", "do", "dia"),
        ("end", "of", "the", "day"),
        ("end", "of", "day"),
        ("fin", "del", "dia"),
        ("final", "del", "dia"),
    )
)


def deadline_findings(sentence: Sentence) -> Iterable[Finding]:
    """Something ready, delivered or live by a named day: a deadline nobody published."""
    words = sentence.words
    if sentence.question:
        return
    negated = not NEGATION.isdisjoint(sentence.vocabulary)
    as_usual = _running_as_usual(sentence)
    if not negated and not as_usual and not READY.isdisjoint(sentence.vocabulary):
        index = sentence.phrase_at(DATE_PHRASES)
        if index >= 0:
            yield Finding(PRICE, "a deadline promised for a named period", sentence.evidence(index - 5, index + 3))
            return
    if not negated and not sentence.third_party and sentence.phrase_at(_PROMISE_IDIOMS) >= 0:
        yield Finding(PRICE, "a promise given as the speaker's word", sentence.evidence(0, 8))
        return
    if not MONTHS.isdisjoint(sentence.vocabulary):
        for index, word in enumerate(words):
            until = not _UNTIL.isdisjoint(words[max(0, index - 2) : index])
            if word in MONTHS and until and not is_negated(sentence, index, 8) and not sentence.third_party:
                yield Finding(PRICE, "a deadline promised for a named month", sentence.evidence(index - 5, index + 2))
                return
    if DATE_WORDS.isdisjoint(sentence.vocabulary):
        return
    for index, word in enumerate(words):
        if word not in DATE_WORDS:
            continue
        window = words[max(0, index - 6) : index + 8]
        if not any(w in READY for w in window) and not any(classify(w) == ("act", GUARANTEE) for w in window):
            continue
        if as_usual and all(w in _RUNNING for w in window if w in READY) and not _guarantee_in(window):
            continue  # "hoje estamos funcionando normalmente": how things run that day, nothing delivered
        by_that_day = index > 0 and words[index - 1] in _UNTIL  # "até sexta" names the deadline itself
        if is_negated(sentence, index, 8) or (has_condition_before(sentence, index) and not by_that_day):
            continue
        if any(w in THIRD_PARTY and w not in SECOND_PERSON for w in words[max(0, index - 6) : index]):
            continue
        yield Finding(PRICE, "a deadline promised for a named day", sentence.evidence(index - 5, index + 2))
        return


# Running (a business, a system) and running as usual: "funcionando normalmente", "working as usual".
_RUNNING = squeezed_words("funcionando working funcionamos funciona funcionan operando operating")
_AS_USUAL = squeezed_words(
    "normalmente normal normally normalidad normalidade usual habitual habitualmente costume costumbre regularmente"
)
# Will be, gets, goes: a state to come rather than one that holds.
_WILL_BE = squeezed_words(
    "sera serao estara estarao ficara ficarao fica ficam vai vao ira irao will ll gonna going estara estaran "
    "quedara quedaran va van"
)


def _running_as_usual(sentence: Sentence) -> bool:
    """Something running as usual ("hoje estamos funcionando normalmente", "sua empresa está funcionando
    normalmente hoje", "today we're working as usual"): how it runs that day, not a readiness promised by it.

    Not when it is the customer's and still to come ("seu assistente estará funcionando normalmente amanhã"):
    that promises the service ready by a day.
    """
    vocabulary = sentence.vocabulary
    if _RUNNING.isdisjoint(vocabulary) or _AS_USUAL.isdisjoint(vocabulary):
        return False
    return POSSESSIVE_CUSTOMER.isdisjoint(vocabulary) or _WILL_BE.isdisjoint(vocabulary)


def _guarantee_in(words: list[str]) -> bool:
    return any(classify(word) == ("act", GUARANTEE) for word in words)


def act_findings(sentence: Sentence, *, is_label: bool = False) -> Iterable[Finding]:
    """Each act word read with its person, form, object and scope: the detector's main parse."""
    words = sentence.words
    for index, word in enumerate(words):
        if index in sentence.quoted:
            continue
        role = classify(word)
        if role is None:
            if word in CONGRATULATE:
                yield from _congratulation(sentence, index)
            continue
        if role == ("object", "discount") and index and words[index - 1] in _MODALS_EN:
            role = ("act", DISCOUNT)  # "I can discount the first month"
        if role[0] == "object" and role[1] in ("discount", "fee"):
            finding = offer_to_customer(sentence, index)
            if finding is not None:
                yield finding
            continue
        if role[0] != "act":
            continue
        act = role[1]
        if is_negated(sentence, index):
            continue
        if act == APPROVE and word.startswith(_ACCEPT) and not _PAYMENT_MEANS.isdisjoint(words[index + 1 : index + 6]):
            continue  # "aceitamos boleto, Pix e cartão": the ways to pay, not a proposal accepted
        if act == RESERVE and word.startswith(SET_ASIDE) and SLOTS.isdisjoint(words[max(0, index - 4) : index + 5]):
            continue  # "separei as informações do plano": set aside to read, not a slot reserved
        if word in _THIRD_PERSON_STATES and not THIRD_PARTY_ONLY.isdisjoint(left_of(sentence, index, 3)):
            continue  # "a equipe ativa o seu plano": the team's act (how it works), not a state
        if act == CANCEL:
            finding = _charge_cancelled(sentence, index, word)
            if finding is not None:
                yield finding
            continue
        nearest = nearest_role(sentence, index)
        kind = nearest[1] if nearest is not None and nearest[0] == "object" else ""
        innocent = nearest is not None and nearest[0] == "noun"
        if act == RESERVE and nearest is None and not SLOTS.isdisjoint(words[max(0, index - 4) : index + 5]):
            kind = "subscription"  # "separei um lugar pra você": a place kept for the customer
        stem_length = act_stem_length(word)
        participle = word in STATE_WORDS or (bool(PARTICIPLE.search(word)) and word not in NOT_ACTS)
        first = is_first_person(sentence, index, word, stem_length) or (
            is_label and not participle and act not in (HIRE, GRANT)
        )
        if first:
            finding = _first_person_finding(sentence, index, act, kind, innocent)
        elif participle:
            finding = _state_finding(sentence, index, act, kind, innocent, nearest)
        else:
            finding = None
        if finding is not None:
            yield finding


_ACCEPT = ("aceit", "acept")  # squeezed: "accept" reads "acept"
_PAYMENT_MEANS = squeezed_words(
    "boleto boletos pix cartao cartoes card cards credito debito credit debit tarjeta tarjetas transferencia "
    "transferencias transfer transfers ted doc dinheiro efectivo cash paypal cheque cheques deposito"
)

_FOR = squeezed_words("for pelo pela por at al")

_MODALS_EN = squeezed_words("can will could would shall ll to")

_PERIODS = squeezed_words("mes meses month months semana semanas week weeks mensalidade mensalidades ano year")

# Someone receiving: the customer addressed ("para você", "te", "for you") or the speaker paying ("on me").
_BENEFICIARY = squeezed_words("voce vc te lhe ti you usted tu")

ON_ME = squeezed_phrases(
    *(
        ("por", "minha", "conta"),
        ("por", "nossa", "conta"),
        ("por", "nuestra", "cuenta"),
        ("on", "me"),
        ("on", "us"),
        ("on", "the", "house"),
        ("por", "mi", "cuenta"),
        ("conta", "da", "casa"),
        ("cortesia", "da", "casa"),
        ("invita", "la", "casa"),
        ("la", "casa", "invita"),
    )
)

# "sem custo", "free of charge": a waiver written as a phrase.
FREE_PHRASES = squeezed_phrases(
    *(
        ("sem", "custo"),
        ("sem", "custos"),
        ("no", "cost"),
        ("free", "of", "charge"),
        ("sin", "costo"),
        ("sem", "pagar"),
        ("without", "paying"),
        ("sin", "pagar"),
    )
)

_PUBLISHED_FREE = squeezed_words("teste testar trial prueba probar experimentar")


def offer_to_customer(sentence: Sentence, index: int, own_negation: int | None = None) -> Finding | None:
    """A discount, a free month or a waived fee addressed to the customer: an offer, whoever makes it.

    `own_negation` is where a phrase that negates by itself starts ("sem custo"): not a negation of it.
    """
    words = sentence.words
    before = words[:index] if own_negation is None else words[:own_negation]
    spanish_or_english = sentence.language in ("en", "es")
    if sentence.question or any(w in NEGATION or (spanish_or_english and w in NEGATION_EN_ES) for w in before):
        return None
    if any(word in THIRD_PARTY and word not in SECOND_PERSON for word in words):
        return None  # "a equipe comercial pode avaliar um desconto para você"
    if any(word in _PUBLISHED_FREE for word in words):
        return None  # the published free trial
    if any(word in CONDITION for word in words[max(0, index - 6) : index]):
        return None
    addressed = any(word in _BENEFICIARY for word in words)
    on_me = sentence.phrase_at(ON_ME) >= 0
    speaker = any(word in FIRST_PERSON or word in FIRST_PERSON_MARKERS for word in words)
    if addressed or on_me or speaker:
        return Finding(
            PRICE, "a discount or a free item offered to the customer", sentence.evidence(index - 4, index + 4)
        )
    return None


def _first_person_finding(sentence: Sentence, index: int, act: str, kind: str, innocent: bool) -> Finding | None:
    words = sentence.words
    evidence = sentence.evidence(index - 3, index + 4)
    paid = not PAYMENT_WORDS.isdisjoint(sentence.vocabulary)
    if act in _ON_PAYMENT and paid and not kind and not innocent and not sentence.question:
        # "Pode fazer o Pix que eu já ativo", "send the payment and I'll activate it": the sale made on payment.
        return Finding(CLOSURE, f"first-person {act} promised on payment", evidence)
    if has_condition_before(sentence, index) and not kind:
        return None
    if act in (WAIVE, DISCOUNT) and not innocent:
        return Finding(PRICE, f"first-person {act} (offer or promise by the company)", evidence)
    if kind == "discount" or (kind == "fee" and act in (GRANT, WAIVE, APPROVE, ACTIVATE, GUARANTEE)):
        return Finding(PRICE, f"first-person {act} of a {kind}", evidence)
    sets_price = act in (GUARANTEE, APPROVE, RESERVE) or words[index] in MAKE_PRICE
    if kind in ("price", "deadline") and (sets_price or any(w in SPECIAL for w in words)):
        return Finding(PRICE, f"first-person {act} on a {kind}", evidence)
    if words[index] in MAKE_PRICE and any(word.startswith("#") for word in words[index + 1 : index + 6]):
        return Finding(PRICE, "first-person price set by the speaker (a bare number)", evidence)
    if act == GRANT and any(
        words[position] in _FOR and classify(word) == ("object", "price")
        for position, word in enumerate(words[index + 1 : index + 9], start=index)
        if position + 1 < len(words)
        for word in words[position + 1 : position + 4]
    ):
        return Finding(PRICE, "first-person grant for a price the speaker names", evidence)
    if act == GRANT and not _PERIODS.isdisjoint(words[index + 1 : index + 5]):
        return Finding(PRICE, "first-person grant of a period of service (a free month)", evidence)
    if act == GUARANTEE:
        if kind or _has_time_or_amount(words):
            return Finding(family_of(kind) if kind else PRICE, "first-person guarantee or promise", evidence)
        return None
    if act in (GRANT,):
        return None
    if act == CONFIRM and kind not in CONFIRMABLE:
        return None
    if act == EXECUTE and kind not in EXECUTABLE:
        return None
    if kind in DEAL_OBJECTS or kind in PRICE_OBJECTS:
        if is_generic_plural(sentence, index):
            return None  # "fechamos contratos pelo site": how the company works, not this customer's deal
        return Finding(family_of(kind), f"first-person {act} of the {kind}", evidence)
    if innocent or act in (HIRE, ACTIVATE, RESERVE):
        return None
    others = [w for w in words if w not in FILLERS and classify(w) is None and w not in FIRST_PERSON_AUX]
    now = any(w in BENEFICIARY_NOW for w in words) and not any(w in TIME_PLACE for w in words)
    if act in (CLOSE, SIGN) and (now or not others):
        return Finding(CLOSURE, f"first-person {act} with no object (closing the sale)", evidence)
    return None


# Acts the speaker may promise on payment with nothing named ("é só pagar que eu libero").
_ON_PAYMENT = frozenset({ACTIVATE, RESERVE, CLOSE, SIGN, APPROVE})
PAYMENT_WORDS = squeezed_words(
    "pix pagar paga pague pagou pagamento pagamentos comprovante transferencia transferir transfira deposito "
    "boleto pay pays paid paying payment payments transfer pago pagos pagas pagues pagaste"
)

# State adjectives that are also a third person's verb: "a equipe ativa o plano".
_THIRD_PERSON_STATES = squeezed_words("ativa activa")

# Charges whose cancelling waives them, besides fees: interest, a monthly payment, an instalment.
_CHARGES = squeezed_words(
    "juros interest intereses mensalidade mensalidades parcela parcelas cuota cuotas tarifa tarifas"
)


def _charge_cancelled(sentence: Sentence, index: int, word: str) -> Finding | None:
    """ "A multa foi cancelada", "cancelei a taxa", "the penalty was dropped": a fee or charge waived.

    Cancelling anything else (an order, a meeting) is not a promise; nor is cancelling a fee under a condition,
    as a requirement ("pode ser cancelada"), or done by someone else ("cancelada pela equipe").
    """
    words = sentence.words
    if sentence.question or has_condition_before(sentence, index):
        return None
    if any(previous in PASSIVE_REQUIREMENT for previous in left_of(sentence, index, 3)):
        return None
    participle = bool(PARTICIPLE.search(word)) and word not in NOT_ACTS
    if not participle and not is_first_person(sentence, index, word, act_stem_length(word)):
        return None
    right = words[index + 1 : index + 4]
    if right[:1] and right[0] in _AGENT and not THIRD_PARTY_ONLY.isdisjoint(right):
        return None
    nearest = nearest_role(sentence, index)
    if nearest is None or nearest[0] != "object":
        return None
    if nearest[1] == "fee" or words[nearest[2]] in _CHARGES:
        return Finding(
            PRICE, "a fee or charge cancelled (waived for the customer)", sentence.evidence(index - 4, index + 3)
        )
    return None


_AGENT = squeezed_words("pela pelo by por")

_AGENT_BEFORE_STATE = squeezed_words("pela pelo by por com with con")
_GENERIC_BE = squeezed_words("e is es sao are son")
_ADVERB_ENDINGS = ("mente", "ly")

_FUTURE_VERBS = squeezed_words("fica ficara sera vai passa segue will goes queda quedara va estara")


def _state_finding(
    sentence: Sentence, index: int, act: str, kind: str, innocent: bool, nearest: tuple[str, str, int] | None
) -> Finding | None:
    words = sentence.words
    evidence = sentence.evidence(index - 4, index + 3)
    if act in (GRANT,) and kind not in PRICE_OBJECTS:
        return None
    if act == EXECUTE and kind not in EXECUTABLE:
        return None
    if has_condition_before(sentence, index):
        return None
    left = left_of(sentence, index, 3)
    if any(word in PASSIVE_REQUIREMENT for word in left):
        return None
    if innocent:
        return None
    if sentence.question:
        return None
    # "Assinado pela equipe", "é assinado digitalmente com a equipe comercial": done by someone else.
    after = 1 if words[index + 1 : index + 2] and words[index + 1].endswith(_ADVERB_ENDINGS) else 0
    right = words[index + 1 + after : index + 4 + after]
    # ("Com a equipe" only in the present, how it is done: "foi assinado com a equipe" says it is done.)
    agents = _AGENT_BEFORE_STATE if words[index - 1 : index] and words[index - 1] in _GENERIC_BE else _AGENT
    agent = any(word in agents for word in right[:1]) and any(word in THIRD_PARTY for word in right)
    if kind:
        position = nearest[2] if nearest else index
        object_word = words[position]
        before_object = words[max(0, position - 2) : position]
        customer_owned = any(w in POSSESSIVE_CUSTOMER for w in before_object) or any(
            w in POSSESSIVE_CUSTOMER for w in left
        )
        generic_plural = object_word.endswith("s") and not customer_owned and position < index
        attributive = position == index - 1 and words[index + 1 : index + 2] and words[index + 1] in _FUTURE_VERBS
        if attributive and ALREADY.isdisjoint(words) and not customer_owned:
            return None  # "o contrato assinado fica disponível...": the signed contract to come
        relative = any(w in RELATIVE for w in words[max(0, index - 2) : index]) and not customer_owned
        if generic_plural or relative:
            return None
        if agent and not customer_owned:
            return None
        if act == CONFIRM and kind not in CONFIRMABLE:
            return None
        if act == HIRE and kind in PRICE_OBJECTS:
            return None
        return Finding(family_of(kind), f"{act} stated as done or in force on the {kind}", evidence)
    if act not in (CLOSE, SIGN, CONFIRM, HIRE, ACTIVATE, RESERVE) or agent:
        return None  # no object, or done by a third party ("são confirmados pela equipe comercial")
    if any(word in TIME_PLACE or HOURS.match(word.lstrip("#")) for word in words):
        return None
    speaker = not (ALREADY | FIRST_PERSON | FIRST_PERSON_MARKERS).isdisjoint(words[:index])
    if not speaker and not (THIRD_PARTY - SECOND_PERSON).isdisjoint(words[index + 1 : index + 6]):
        return None  # "signing up is done with our sales team": how it works, by someone else
    if any(word in CONSIDER for word in words[max(0, index - 3) : index]):
        return Finding(CLOSURE, f"the customer is told to consider it {act}d", evidence)
    second = any(word in SECOND_PERSON for word in words[max(0, index - 4) : index])
    if second or act in (CLOSE, SIGN, CONFIRM, HIRE):
        # "Fechado!", "Tá fechado então", "Você já está contratado": closure slang or a done deal.
        return Finding(
            CLOSURE,
            f"{act} stated as done with the customer (no object named)",
            evidence,
            bare_confirmation=act == CONFIRM,
        )
    return None


def _congratulation(sentence: Sentence, index: int) -> Iterable[Finding]:
    if any(is_deal_object(word) for word in sentence.words[max(0, index - 8) : index]):
        yield Finding(
            CLOSURE,
            "welcome or congratulations after a purchase (closure implied)",
            sentence.evidence(index - 6, index + 1),
        )
        return
    for word in sentence.words[index + 1 : index + 6]:
        found = classify(word)
        if is_deal_object(word):
            yield Finding(
                CLOSURE,
                "congratulations or welcome on a purchase (closure implied)",
                sentence.evidence(index, index + 6),
            )
            return
        if found is not None and found == ("act", HIRE):
            yield Finding(CLOSURE, "congratulations on hiring (closure implied)", sentence.evidence(index, index + 6))
            return
        if word in ("aboard", "bordo"):
            yield Finding(CLOSURE, "welcome aboard (closure implied)", sentence.evidence(index, index + 6))
            return


_TIME_WORDS = squeezed_words(
    "amanha hoje today tomorrow manana hoy semana week mes month sexta friday viernes segunda monday lunes "
    "dia dias day days hora horas hour hours"
)


def _has_time_or_amount(words: list[str]) -> bool:
    return any(word.startswith("#") or word in _TIME_WORDS for word in words)
