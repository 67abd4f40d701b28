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
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from institutional.amounts import AMOUNT_WORDS, NUMBER_NAMES
from institutional.textnorm import Token, fold, raw_tokens, repair, sentences, squeeze

CLOSURE = "closure"
PRICE = "price"
CREDENTIALS = "credentials"
ADVICE = "advice"


def _squeezed(words: str) -> frozenset[str]:
    return frozenset(squeeze(word) for word in words.split())


def _phrases(*phrases: tuple[str, ...]) -> tuple[tuple[str, ...], ...]:
    """Word sequences spelled as the folded, squeezed tokens are ("por nossa conta" -> "por nosa conta")."""
    return tuple(tuple(squeeze(word) for word in phrase) for phrase in phrases)


# --- Acts -------------------------------------------------------------------------------------------
CLOSE, SIGN, CONFIRM, APPROVE, ACTIVATE, RESERVE, GUARANTEE, WAIVE, DISCOUNT, GRANT, HIRE, EXECUTE, EXTEND = (
    "close sign confirm approve activate reserve guarantee waive discount grant hire execute extend".split()
)
_ACT_STEMS: dict[str, str] = {
    squeeze(stem): act
    for act, stems in {
        CLOSE: "fech conclu finaliz formaliz efetiv cerr cierr concret clos finalis seal acert",
        SIGN: "assin firm sign",
        CONFIRM: "confirm",
        APPROVE: "aprov aprob approv autoriz authoriz aceit accept acept",
        ACTIVATE: "ativ activ habilit liber enabl inscrev inscrib enrol subscrib suscrib matricul providen "
        "arrang gestion agiliz criad cread created upgrad",
        RESERVE: "reserv book lock congel bloque",
        GUARANTEE: "garant guarant asegur assegur ensur promet promis",
        WAIVE: "isent dispens abon perdo waiv exim exoner condon",
        DISCOUNT: "descont rebaj",
        GRANT: "conced aplic ofere ofrec ofrez offer consig conseg otorg grant baix reduz reduc",
        EXTEND: "estend prorrog extend amplia alarg",
        HIRE: "contrat",
        # Carrying out: "efetuei a sua matrícula", "processei o seu pedido" (only on a deal's own object).
        EXECUTE: "efetu realiz process execut tramit",
    }.items()
    for stem in stems.split()
}
# Whole words that are acts (short or irregular forms a stem cannot catch).
_ACT_WORDS: dict[str, str] = {
    squeeze(word): GRANT
    for word in (
        "dou damos darei daremos dei demos dar daria dando doy dare daremos give gives giving gave "
        "faco fazemos farei faremos fiz fizemos fazer hago hacemos hare haremos hacer apply honor honour "
        "match matched cut knock mantenho mantemos manterei manteremos mantengo mantenemos keep keeps"
    ).split()
}
_ACT_WORDS.update({squeeze(w): CLOSE for w in "done deal hecho trato".split()})
_ACT_WORDS.update({squeeze(w): GRANT for w in "deixo deixamos dejo dejamos".split()})
_ACT_WORDS.update({squeeze(w): ACTIVATE for w in "cadastrei cadastramos cadastrado cadastrada".split()})
_ACT_WORDS.update(
    {
        squeeze(w): RESERVE
        for w in "segurar seguramos segurarei seguraremos segurando seguro hold holding mantener".split()
    }
)
# Forms that are first person by themselves ("dou", "faço", "te doy").
_FIRST_PERSON_WORDS = _squeezed(
    "dou damos darei daremos dei demos daria faco fazemos farei faremos fiz fizemos doy dare hago hacemos hare "
    "haremos mantenho mantemos manterei manteremos mantengo mantenemos deixo deixamos dejo dejamos"
)
# Making or leaving a price ("faço pelo preço do Essencial", "te dejo el plan en..."): setting the price.
_MAKE_PRICE = _squeezed(
    "faco fazemos farei faremos fazer hago hacemos hare hacer make deixo deixamos dejo dejamos mantenho mantemos "
    "manterei manteremos mantengo mantenemos keep hold"
)
# State adjectives: "ativo", "active", "live" say something is in force, like a participle.
_STATE_WORDS = _squeezed("ativo ativa ativos ativas active activo activa live done hecho aceito aceita aceitos aceitas")
_ACT_WORDS.update({squeeze(w): ACTIVATE for w in "ativo ativa ativos ativas active activo activa live".split()})
# Nouns that share a stem with an act but are objects or innocent words ("assinatura" is a subscription).
_NOT_ACTS = _squeezed(
    "assinatura assinaturas fechadura fechaduras garantia garantias reserva reservas atividade atividades "
    "activity activities actividad descontos desconto descuento descuentos discount discounts confirmacao "
    "confirmation aprovacao approval contrato contratos contract contracts contratacao contratación "
    "contratacion contractor firma firmas signature signal signals sinal closet closely book books booking "
    "booklet oferta ofertas offers offer oferece oferecem oferecemos oferecer ofrece ofrecemos aplicativo "
    "aplicacion application aplicacao aceitavel acceptable aceptable liberdade liberty libre signo ativamente "
    "activamente efetivo "
    "efetivamente closer finalidade processo processos proceso procesos process processes realizacao realidade "
    "realmente real"
)
# Participles and states: already done (or in force) when nothing in the sentence says otherwise.
_PARTICIPLE = re.compile(r"(?:ad|id)[oa]s?$|ad[ií]sim[oa]s?$|[^e]ed$|ee?d$|(?:iv|tiv)[oa]s?$|^live$|^done$|^hecho$")
_FIRST_PERSON_ENDINGS = (
    "ei",
    "amos",
    "emos",
    "imos",
    "arei",
    "erei",
    "irei",
    "aremos",
    "eremos",
    "iremos",
    "are",
    "ere",
    "izo",
    "izamos",
    "izare",
    "i",  # "consegui", "garanti", "concluí" (the accent folded away)
)


# --- Objects and the nouns that compete with them -----------------------------------------------------
_OBJECTS: dict[str, str] = {}
for _kind, _words in {
    "contract": "contrato contratos contract contracts contratacao contratacion contratação",
    "deal": "negocio negocios acordo acordos acuerdo acuerdos deal deals trato agreement agreements",
    "proposal": "proposta propostas propuesta propuestas proposal proposals orcamento orcamentos presupuesto "
    "cotizacion cotacao quote quotation",
    "order": "pedido pedidos order orders orden ordenes compra compras purchase",
    "plan": "plano planos plan plans planes",
    "subscription": "assinatura assinaturas subscription subscriptions suscripcion suscripciones membership "
    "matricula matriculas adesao inscricao enrollment enrolment registration inscripcion cadastro vaga vagas "
    "slot slots spot cupo account",
    "service": "servico servicos service services servicio servicios implantacao implantacion setup "
    "instalacao acesso access acceso onboarding",
    "price": "preco precos valor valores price prices precio precios custo custos cost tarifa tarifas rate "
    "condicao condicoes condition conditions condiciones terms pagamento pagamentos payment payments pago "
    "pagos parcelamento parcela parcelas installment installments instalment instalments cuota cuotas "
    "mensalidade mensalidades juros interest intereses",
    "fee": "taxa taxas fee fees multa multas penalty cargo cargos comision comissao reembolso reembolsos refund "
    "refunds devolucao estorno cashback",
    "discount": "desconto descontos discount discounts descuento descuentos cupom cupons cupon coupon coupons "
    "abatimento bonificacao rebaja gratis gratuito gratuita gratuitos gratuitamente graca free regalo "
    "cortesia inclusa incluso incluida incluido included promocao promocoes promo promotion promotions "
    "promocion promociones liquidacao",
    "deadline": "prazo prazos deadline deadlines plazo plazos entrega entregas delivery periodo period trial prueba",
}.items():
    for _word in _words.split():
        _OBJECTS[squeeze(fold(_word))] = _kind
# Nouns that make a closure or confirmation innocent: hours, places, support tickets, the conversation.
_INNOCENT_NOUNS = _squeezed(
    "domingo domingos sabado sabados segunda segundas terca quarta quinta sexta feriado feriados fim fins "
    "noite noites madrugada horario horarios expediente loja lojas escritorio sede unidade agencia porta "
    "portas office offices store stores shop weekend weekends sunday sundays saturday saturdays monday "
    "friday holiday holidays night nights hours lunes martes miercoles jueves viernes festivo festivos "
    "noche tienda oficina local chamado chamados ticket tickets protocolo caso case conversa conversation "
    "conversacion atendimento atencion solicitacao request janela window nome name nombre "
    "email telefone phone dados data horario agenda reuniao meeting reunion ligacao call llamada "
    "sistema system app aplicativo site pagina page"
)
_TIME_PLACE = _squeezed(
    "domingo domingos sabado sabados feriado feriados fim fins noite noites madrugada horario expediente "
    "loja escritorio office store shop weekend weekends sunday sundays saturday saturdays holiday holidays "
    "night nights hours lunes domingo festivo festivos noche tienda oficina"
)
_HOURS = re.compile(r"^\d{1,2}h\d{0,2}$")

# --- Scope words ---------------------------------------------------------------------------------------
_NEGATION = _squeezed(
    "nao nunca jamais nem sem nenhum nenhuma ninguem not never without none nobody neither nor ni sin "
    "ningun ninguna nadie tampoco nada"
)
# "no" negates in English and Spanish; in Portuguese it is "in the" ("no contrato").
_NEGATION_EN_ES = _squeezed("no")
_CONDITION = _squeezed(
    "se caso quando apos depois once after when whenever if until unless before antes ate cuando si despues "
    "hasta tras mientras enquanto"
)
# Conditions of two words: "assim que", "uma vez assinado", "una vez firmado", "desde que".
_CONDITION_PAIRS = frozenset(
    (squeeze(a), squeeze(b)) for a, b in (("assim", "que"), ("uma", "vez"), ("una", "vez"), ("desde", "que"))
)
_DETERMINERS = _squeezed("o a os as seu sua seus suas the your el la los las su tu um uma un una te lhe le")
# "o seu caso", "in this case": "caso" after these is a noun, not "if".
_BEFORE_NOUN = _squeezed("o seu sua no neste nese nesse do this that your the el su cada")
# Words that make the following participle a requirement, not a fact: "precisa ser assinado", "to be signed".
_PASSIVE_REQUIREMENT = _squeezed("ser be being sido")
_THIRD_PARTY = _squeezed(
    "equipe time comercial vendedor vendedora vendedores consultor consultora consultores gerente atendente "
    "atendentes humano humana pessoa pessoas especialista especialistas setor departamento financeiro "
    "team sales salesperson rep representative representatives agent agents person people human manager "
    "staff colleague colleagues department equipo asesor asesora asesores agente agentes persona personas "
    "ejecutivo ejecutiva colega colegas departamento cliente clientes customer customers they eles elas "
    "ellos ellas voce voces you usted ustedes tu vc"
)
_RELATIVE = _squeezed("quem who quien que which que whom")
_SECOND_PERSON = _squeezed("voce voces vc you your usted ustedes tu te ti")
_THIRD_PARTY_ONLY = _THIRD_PARTY - _SECOND_PERSON
_POSSESSIVE_CUSTOMER = _squeezed("seu sua seus suas teu tua your yours su sus tu tus vosso vossa")
_FIRST_PERSON = _squeezed("eu i yo we nos nosotros nosotras gente me let lets")
# Auxiliaries that make the next act the speaker's own offer or promise.
_FIRST_PERSON_AUX = _squeezed(
    "posso podemos consigo conseguimos vou vamos irei iremos quero queremos deixa deixe acabei acabamos "
    "estou estamos tenho temos ja can will could shall would am are have has let lets gonna going "
    "puedo podemos voy vamos quiero queremos dejame acabo acabamos estoy estamos he hemos tengo tenemos ya "
    "just already already"
)
_FIRST_PERSON_MARKERS = _squeezed(
    "posso podemos consigo conseguimos consegui vou vamos irei iremos quero queremos acabei acabamos estou "
    "estamos tenho temos pude puedo voy quiero acabo estoy hemos tengo tenemos pude logre"
)
_BENEFICIARY_NOW = _squeezed(
    "voce pra para ti usted hoje agora ja mesmo today now right away immediately imediatamente hoy ahora ya already"
)
_FILLERS = _squeezed(
    "ta esta esto tudo pronto entao ok okay certo e so beleza show perfeito otimo combinado then its it is "
    "all set everything done todo listo pues entonces perfecto ya ja pode considerar considere consider "
    "aqui here aca o a the el la lo great perfect sim yes si isso that com with con sucesso success exito "
    "comemorar celebrar celebrate parabens"
)
_CONSIDER = _squeezed("considere considerar considera considerelo consider considerala considerado dalo")
_CONGRATULATE = _squeezed("parabens congratulations congrats felicidades felicitaciones welcome bemvindo bemvinda")
_SPECIAL = _squeezed(
    "especial especiais exclusivo exclusiva melhor menor special exclusive better best lower cheaper "
    "mejor menor diferenciado diferenciada promocional"
)
_SUBORDINATE_PURPOSE = _squeezed("para pra to para")


@lru_cache(maxsize=65536)
def classify(word: str) -> tuple[str, str] | None:
    """("act", act), ("object", kind), ("noun", "") or None for a squeezed folded word."""
    if word in _OBJECTS:
        return ("object", _OBJECTS[word])
    if word in _ACT_WORDS:
        return ("act", _ACT_WORDS[word])
    if word in _NOT_ACTS:
        return None
    for size in range(min(len(word), 8), 2, -1):
        act = _ACT_STEMS.get(word[:size])
        if act is not None:
            return ("act", act)
    if word in _INNOCENT_NOUNS:
        return ("noun", "")
    return None


_SCOPE_WORDS = (
    _NEGATION
    | _CONDITION
    | _THIRD_PARTY
    | _FIRST_PERSON
    | _FIRST_PERSON_AUX
    | _FILLERS
    | _CONSIDER
    | _CONGRATULATE
    | _SPECIAL
    | _SECOND_PERSON
    | _POSSESSIVE_CUSTOMER
)


# Endings a verb stem takes in the three languages (squeezed): what joined pieces may add to a stem.
_INFLECTIONS = _squeezed(
    "o a e os as es ar er ir ado ada ados adas ido ida idos idas ei ou eu iu amos emos imos aram eram iram "
    "arei aremos erei eremos irei iremos aria ariamos ando endo indo am em ou aste ou are ere ire aremos "
    "ed ing s es ion ions acao acoes amento amentos ativo iza izo izamos izado izada izar izare izaremos "
    "ate ated ating ation ee eed eing an en aron ieron o ó adisimo adisima alo ala ala-lo ado-lo"
)


def known_word(word: str) -> bool:
    """Whether the detector gives `word` a role: what letter-level repairs may produce.

    A stem counts with an inflection of at most a few letters, so joined pieces never run past a word.
    """
    if len(word) < 2:
        return False
    if word in _SCOPE_WORDS or word in _CREDENTIAL_WORDS or word in _OBJECTS or word in _ACT_WORDS:
        return True
    if word in _MEDICAL or word in _LEGAL or word in _PROFESSIONALS or word in _READY or word in _DATE_WORDS:
        return True
    if any(word == head or word in tails for head, tails in _CREDENTIAL_PHRASES):
        return True
    if word in _DONE or word in _BILLING or word in _ISSUE or word in _CLOSING_INTERJECTIONS:
        return True
    if word in _CHARGE or word in _CUSTOMER_STATUS or word in _YOURS or word in _PHRASE_WORDS:
        return True
    if word in _NEWER_RULE_WORDS:
        return True
    if word in AMOUNT_WORDS:
        return True
    role = classify(word)
    if role is None:
        return False
    return role[0] != "act" or word in _ACT_WORDS or word[_act_stem_length(word) :] in _INFLECTIONS | {""}


@dataclass(frozen=True, slots=True)
class Finding:
    """One commitment the detector found: which family it breaks and the parse that says so."""

    family: str  # CLOSURE, PRICE, CREDENTIALS or ADVICE
    reason: str  # the parse in words, for the ledger and the admin tester
    evidence: str  # the words of the sentence that fired


# Where a reply is cut into chunks before tokenising: after a sentence's end, at a line break.
_CHUNK = re.compile(r"(?<=[.!?;])\s+|\n+")
_LETTER_RUNS = re.compile(r"[a-z]+")
# A chunk with a digit or a leet sign, or with letters glued by signs ("f.e.c.h", "fe_cha_do"), is read in
# full whatever its words look like; so is one with letters spaced apart (three one-letter words in a row).
_DIGIT_OR_LEET = re.compile(r"[0-9@$]")
_GLUED = re.compile(r"[a-z][.\-_*~|/\\·•+][a-z]")


@lru_cache(maxsize=1)
def _trigger_words() -> frozenset[str]:
    """Words besides acts that can start a finding or an amount: credentials, advice, named days,
    congratulations, discounts and fees, numbers in words. A contract or a plan named without an act commits
    to nothing, so objects alone do not make a chunk worth reading."""
    words: set[str] = set()
    words.update(_CREDENTIAL_WORDS, _MEDICAL, _LEGAL, _DATE_WORDS, _CONGRATULATE, _FIRST_PERSON_WORDS)
    words.update(word for word, kind in _OBJECTS.items() if kind in ("discount", "fee"))
    words.update(head for head, _tails in _CREDENTIAL_PHRASES)
    words.update(squeeze(word) for word in NUMBER_NAMES if word not in _ARTICLE_NUMBERS)
    # Distinctive words of the other rules (common ones like "pronto" or "mês" would make every chunk worth
    # reading; a reply under 400 characters is always read in full anyway).
    words.update(_CLOSING_INTERJECTIONS, _CHARGE, _NEWER_RULE_WORDS - _COMMON_RULE_WORDS)
    words.update(squeeze(word) for word in "custo custos cost costo pagar paying house combinado comemorar".split())
    words.update(_DONE_PARTICIPLES)
    words.update(squeeze(word) for word in "link enlace fim final end fin proxima next vigor".split())
    return frozenset(words)


@lru_cache(maxsize=65536)
def _is_trigger(word: str) -> bool:
    word = squeeze(word)
    if word in _trigger_words():
        return True
    role = classify(word)
    return role is not None and role[0] == "act"


_ARTICLE_NUMBERS = frozenset({"um", "uma", "un", "una", "uno", "one"})


@lru_cache(maxsize=1)
def _trigger_pairs() -> tuple[tuple[frozenset[str], frozenset[str]], ...]:
    """Common words that matter only together (defined by the rules further down)."""
    return (
        *_TRIGGER_PAIRS,
        (_ISSUE, _squeezed("contrato contract contrato proposta proposal propuesta")),
        (_YOURS, _squeezed("negocio deal trato acordo acuerdo")),
    )


_TRIGGER_PAIRS = (
    (
        _squeezed("boleto boletos fatura faturas invoice invoices factura facturas cobranca cobro"),
        _squeezed(
            "gerar gero geramos emitir emito emitimos enviar envio enviamos mandar mando mandamos send issue generate"
        ),
    ),
    (_squeezed("cliente clientes customer client member membro assinante subscriber"), _squeezed("voce you usted tu")),
    (_squeezed("conta cuenta"), _squeezed("minha nossa nuestra mi")),
    (_squeezed("us me"), _squeezed("on")),
)
# "um mês", "one week": an article read as a number only before a unit.
_ARTICLE_AMOUNT = re.compile(
    r"\b(?:um|uma|un|una|uno|one|a|an)\s+(?:dias?|semanas?|mes|meses|horas?|days?|weeks?|months?|hours?|anos?"
    r"|years?|minutos?|minutes?|vez|parcela|cuota)\b"
)


def _worth_reading(chunk: str) -> bool:
    """Whether a chunk of folded text may hold a finding or an amount: a cheap test that skips the rest.

    Repeated letters need no test of their own: a trigger word is recognised squeezed.
    """
    if _DIGIT_OR_LEET.search(chunk) or _GLUED.search(chunk) or _ARTICLE_AMOUNT.search(chunk):
        return True
    singles = short = fragments = 0
    letters = _LETTER_RUNS.findall(chunk)
    for word in letters:
        if _is_trigger(word):
            return True
        singles = singles + 1 if len(word) == 1 else 0
        if singles >= 3:
            return True
        # Syllables apart ("fec har", "ati vad o"): two short pieces in a row that are not common words.
        if len(word) <= 3:
            short += 1
            fragments += word not in _SHORT_WORDS
            if short >= 2 and fragments:
                return True
        else:
            short = fragments = 0
    # Common words that matter only together: billing and a sending verb, a customer status and "you",
    # "conta" after "nossa" ("por nossa conta").
    present = frozenset(squeeze(word) for word in letters)
    return any(not first.isdisjoint(present) and not second.isdisjoint(present) for first, second in _trigger_pairs())


# Short words of everyday PT, EN and ES: a chunk made of these is not written in syllables apart.
_SHORT_WORDS = frozenset(
    "a o e os as um de do da dos das em no na nos nas por pra pro com sem que se me te eu ja so vc vcs nao "
    "mas mais ate seu sua meu teu tua ele ela voc sim ou ao aos la ai vai ver tem ter faz sao foi vez dia mes "
    "ano hoje boa bom oi ola ok the to of and in is it you we i an at on or by be do if my me us our for are "
    "can not all yes no so get one two day el los las en y es un una con lo tu su mi al del hay muy hoy ya "
    "pero dia r us".split()
)
_CHUNK_END = Token("punct", "\n", "\n")


def tokens_of(text: str, folded: str | None = None) -> tuple[Token, ...]:
    """The folded, repaired tokens of `text` (what the rules and the amount patterns read).

    Only the chunks that may hold a finding or an amount are tokenised; the others cannot matter.
    """
    folded = fold(text) if folded is None else folded
    if len(folded) < 400:
        return tuple(repair(raw_tokens(folded), known_word, _known_digit_word))
    tokens: list[Token] = []
    for chunk in _CHUNK.split(folded):
        if chunk and _worth_reading(chunk):
            tokens.extend(repair(raw_tokens(chunk), known_word, _known_digit_word))
            tokens.append(_CHUNK_END)
    return tuple(tokens)


def _known_digit_word(word: str) -> bool:
    """A number read as a word only when that word commits: an act, "set", "done" (never "isso" for 150)."""
    role = classify(word)
    return (role is not None and role[0] == "act") or word in _DONE or word in _CLOSING_INTERJECTIONS


class TokenMemo(dict[str, tuple[Token, ...]]):
    """Tokens of the strings one check reads, each tokenised once (the detector and the amounts share them).

    `folded` may hold texts the caller already folded.
    """

    def __init__(self, folded: dict[str, str] | None = None) -> None:
        super().__init__()
        self.folded = folded or {}

    def __missing__(self, text: str) -> tuple[Token, ...]:
        tokens = tokens_of(text, self.folded.get(text))
        self[text] = tokens
        return tokens


def parse(text: str, memo: TokenMemo | None = None) -> list[list[Token]]:
    """The folded, repaired sentences of `text`."""
    return sentences(memo[text] if memo is not None else tokens_of(text))


_JOIN_TAIL = 300


def joined_variants(texts: Sequence[str]) -> list[str]:
    """The strings a customer reads as one: the end of the body followed by the labels, with a space and
    without one (a word cut in two between the body and a button: "forma" + "lizado")."""
    pieces = [text for text in texts if text and text.strip()]
    if len(pieces) < 2:
        return []
    tail = pieces[0][-_JOIN_TAIL:]
    return [" ".join([tail, *pieces[1:]]), "".join([tail, *pieces[1:]])]


def find_commitments(texts: Sequence[str], *, language: str = "pt", memo: TokenMemo | None = None) -> list[Finding]:
    """Every commitment in the customer-visible strings: the body first, then labels (each alone and joined).

    A label is something the customer taps: an act on its own there ("Fechar contrato", "Confirm order") is
    the assistant offering to do it.
    """
    findings: list[Finding] = []
    seen: set[tuple[str, str]] = set()
    pieces = [(text, position > 0) for position, text in enumerate(texts) if text and text.strip()]
    pieces.extend((joined, False) for joined in joined_variants(texts))
    for candidate, is_label in pieces:
        for sentence in parse(candidate, memo):
            for finding in _sentence_findings(sentence, language, is_label=is_label):
                key = (finding.family, finding.evidence)
                if key not in seen:
                    seen.add(key)
                    findings.append(finding)
    return findings


# --- The rules -------------------------------------------------------------------------------------------
@dataclass(slots=True)
class _Sentence:
    words: list[str]
    raw: list[str]  # each word as written (folded, before squeezing): what the evidence shows
    # Index into `words` of the first word after the last comma/quote before each word (negation scope).
    segment_start: list[int]
    question: bool
    language: str
    quoted: set[int]
    vocabulary: frozenset[str] = frozenset()

    def evidence(self, start: int, end: int) -> str:
        return " ".join(self.raw[max(start, 0) : end])

    def phrase_at(self, phrases: Iterable[tuple[str, ...]]) -> int:
        """Where the first of `phrases` occurs (-1 when none does): a word test before any slicing."""
        words = self.words
        for phrase in phrases:
            if phrase[0] not in self.vocabulary or not self.vocabulary.issuperset(phrase):
                continue
            size = len(phrase)
            for index, word in enumerate(words):
                if word == phrase[0] and tuple(words[index : index + size]) == phrase:
                    return index
        return -1

    @property
    def third_party(self) -> bool:
        """Someone other than the speaker or the customer is in the sentence (the team, a salesperson)."""
        return not _THIRD_PARTY_ONLY.isdisjoint(self.vocabulary)


def _prepare(tokens: list[Token], language: str) -> _Sentence:
    words: list[str] = []
    raw: list[str] = []
    segment_start: list[int] = []
    quoted: set[int] = set()
    start = 0
    in_quote = False
    question = False
    for token in tokens:
        if token.kind == "punct":
            if token.text in "?¿":
                question = True
            if token.text in '"“”«»':
                in_quote = not in_quote
            if token.text in ',()"“”«»':
                start = len(words)
            continue
        if token.kind == "word":
            if in_quote:
                quoted.add(len(words))
            words.append(token.text)
        else:
            words.append("#" + token.text)  # numbers and money: never a word of any list
        raw.append(token.raw or token.text)
        segment_start.append(start)
    return _Sentence(
        words=words,
        raw=raw,
        segment_start=segment_start,
        question=question,
        language=language,
        quoted=quoted,
        vocabulary=frozenset(words),
    )


def _left(sentence: _Sentence, index: int, size: int) -> list[str]:
    start = max(sentence.segment_start[index], index - size)
    return sentence.words[start:index]


def _negated(sentence: _Sentence, index: int, size: int = 5) -> bool:
    for word in _left(sentence, index, size):
        if word in _NEGATION or (word in _NEGATION_EN_ES and sentence.language in ("en", "es")):
            return True
    return False


def _nearest(sentence: _Sentence, index: int, size: int = 6) -> tuple[str, str, int] | None:
    """The nearest object or innocent noun around `index`: (role, kind, position)."""
    best: tuple[float, tuple[str, str, int]] | None = None
    for position in range(max(0, index - size), min(len(sentence.words), index + size + 1)):
        if position == index:
            continue
        word = sentence.words[position]
        if _HOURS.match(word.lstrip("#")):
            role: tuple[str, str] | None = ("noun", "")
        else:
            found = classify(word)
            role = found if found is not None and found[0] in ("object", "noun") else None
            if role is not None and role[0] == "object" and sentence.language == "es" and word == "fecha":
                role = ("object", "deadline")
            if (
                role == ("noun", "")
                and word in _END
                and sentence.words[position + 1 : position + 3] != ["de", "semana"]
            ):
                role = None  # "até o fim do mês" is a date; "fim de semana" is when the office is closed
            if role is None and word in _ACCOUNT and position and sentence.words[position - 1] in _POSSESSIVE_CUSTOMER:
                role = ("object", "subscription")  # "sua conta foi criada" (not "me conta", "a conta de luz")
        if role is None:
            continue
        distance = abs(position - index) + (0.5 if position > index else 0)
        if best is None or distance < best[0]:
            best = (distance, (role[0], role[1], position))
    return best[1] if best else None


_ACCOUNT = _squeezed("conta cuenta")
_END = _squeezed("fim fins end fin final")
_DEAL_OBJECTS = frozenset({"contract", "deal", "proposal", "order", "subscription", "plan", "service"})
_PRICE_OBJECTS = frozenset({"price", "fee", "discount", "deadline"})
_EXECUTABLE = frozenset({"contract", "deal", "proposal", "order", "subscription"})
_CONFIRMABLE = frozenset({"contract", "deal", "proposal", "order", "subscription", "service", "discount", "deadline"})


def _family(kind: str) -> str:
    return PRICE if kind in _PRICE_OBJECTS else CLOSURE


def _first_person(sentence: _Sentence, index: int, word: str, act_stem_len: int) -> bool:
    """The act at `index` is the speaker's own: a first-person ending, pronoun or auxiliary before it."""
    suffix = word[act_stem_len:]
    language = sentence.language
    if word in _FIRST_PERSON_WORDS:
        return True
    if language != "en" and (suffix in _FIRST_PERSON_ENDINGS or (suffix == "o" and word not in _NOT_ACTS)):
        return True
    if language == "es" and suffix == "e":
        return True  # "firmé", "cerré" (the accent folded away)
    left = _left(sentence, index, 4)
    for offset, previous in enumerate(reversed(left)):
        if previous in _THIRD_PARTY and previous not in _SECOND_PERSON:
            return False
        if previous in _FIRST_PERSON_MARKERS or previous in _FIRST_PERSON:
            if previous == "me" and language != "en":
                continue  # "me" is the customer in "me confirma" (PT/ES)
            if previous == "he" and language == "en":
                continue
            return True
        if language == "en" and previous in ("can", "will", "wil", "shall", "could", "would", "have", "am", "are"):
            before = left[: len(left) - offset - 1]
            return bool(before) and before[-1] in ("i", "we")
        if previous in ("te", "lhe", "le", "you", "ti"):
            # "te garanto", "te dou", "I can give you": the customer as the one receiving; with a first-person
            # word earlier in the sentence ("vou abrir uma exceção e te dar"), the speaker is the giver.
            if offset == 0 and not (_FIRST_PERSON_MARKERS | _FIRST_PERSON).isdisjoint(sentence.words[:index]):
                return True
            continue
        if previous in _SECOND_PERSON:
            return False
    return False


def _act_stem_length(word: str) -> int:
    for size in range(min(len(word), 8), 2, -1):
        if word[:size] in _ACT_STEMS:
            return size
    return len(word)


_READY = _squeezed(
    "vigor effect "
    "comeca comecara inicia iniciara starts start begins empieza comienza arranca vigora "
    "pronto pronta prontos prontas ready listo lista listos live funcionando working entrega entregue entregamos "
    "entregaremos delivered deliver entregado entregamos chega chegara arrive arrives llega llegara configurado "
    "instalado ativado activado"
)
_DATE_WORDS = _squeezed(
    "amanha tomorrow manana hoje today hoy segunda terca quarta quinta sexta sabado domingo monday tuesday "
    "wednesday thursday friday saturday sunday lunes martes miercoles jueves viernes"
)


_DATE_PHRASES = _phrases(
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
    )
)


def _deadline_findings(sentence: _Sentence) -> Iterable[Finding]:
    """Something ready, delivered or live by a named day: a deadline nobody published."""
    words = sentence.words
    if sentence.question:
        return
    negated = any(w in _NEGATION for w in words)
    if not negated and not _READY.isdisjoint(sentence.vocabulary):
        index = sentence.phrase_at(_DATE_PHRASES)
        if index >= 0:
            yield Finding(PRICE, "a deadline promised for a named period", sentence.evidence(index - 5, index + 3))
            return
    if _DATE_WORDS.isdisjoint(words):
        return
    for index, word in enumerate(words):
        if word not in _DATE_WORDS:
            continue
        window = words[max(0, index - 6) : index + 4]
        if not any(w in _READY for w in window) and not any(classify(w) == ("act", GUARANTEE) for w in window):
            continue
        if _negated(sentence, index, 8) or _condition_before(sentence, index):
            continue
        if any(w in _THIRD_PARTY and w not in _SECOND_PERSON for w in words[max(0, index - 6) : index]):
            continue
        yield Finding(PRICE, "a deadline promised for a named day", sentence.evidence(index - 5, index + 2))
        return


def _sentence_findings(tokens: list[Token], language: str, *, is_label: bool = False) -> Iterable[Finding]:
    sentence = _prepare(tokens, language)
    words = sentence.words
    yield from _credential_findings(sentence)
    yield from _advice_findings(sentence)
    yield from _deadline_findings(sentence)
    yield from _sale_findings(sentence)
    for index, word in enumerate(words):
        if index in sentence.quoted:
            continue
        role = classify(word)
        if role is None:
            if word in _CONGRATULATE:
                yield from _congratulation(sentence, index)
            continue
        if role == ("object", "discount") and index and words[index - 1] in _MODALS_EN:
            role = ("act", DISCOUNT)  # "I can discount the first month"
        if role[0] == "object" and role[1] in ("discount", "fee"):
            finding = _offer_to_customer(sentence, index)
            if finding is not None:
                yield finding
            continue
        if role[0] != "act":
            continue
        act = role[1]
        if _negated(sentence, index):
            continue
        nearest = _nearest(sentence, index)
        kind = nearest[1] if nearest is not None and nearest[0] == "object" else ""
        innocent = nearest is not None and nearest[0] == "noun"
        stem_length = _act_stem_length(word)
        participle = word in _STATE_WORDS or (bool(_PARTICIPLE.search(word)) and word not in _NOT_ACTS)
        first = _first_person(sentence, index, word, stem_length) or (
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


_FOR = _squeezed("for pelo pela por at al")
_MODALS_EN = _squeezed("can will could would shall ll to")
_PERIODS = _squeezed("mes meses month months semana semanas week weeks mensalidade mensalidades ano year")


# Someone receiving: the customer addressed ("para você", "te", "for you") or the speaker paying ("on me").
_BENEFICIARY = _squeezed("voce vc te lhe ti you usted tu")
_ON_ME = _phrases(
    *(
        ("por", "minha", "conta"),
        ("por", "nossa", "conta"),
        ("por", "nuestra", "cuenta"),
        ("on", "me"),
        ("on", "us"),
        ("on", "the", "house"),
        ("por", "mi", "cuenta"),
    )
)
# "sem custo", "free of charge": a waiver written as a phrase.
_FREE_PHRASES = _phrases(
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
_PUBLISHED_FREE = _squeezed("teste testar trial prueba probar experimentar")


def _offer_to_customer(sentence: _Sentence, index: int, own_negation: int | None = None) -> Finding | None:
    """A discount, a free month or a waived fee addressed to the customer: an offer, whoever makes it.

    `own_negation` is where a phrase that negates by itself starts ("sem custo"): not a negation of it.
    """
    words = sentence.words
    before = words[:index] if own_negation is None else words[:own_negation]
    spanish_or_english = sentence.language in ("en", "es")
    if sentence.question or any(w in _NEGATION or (spanish_or_english and w in _NEGATION_EN_ES) for w in before):
        return None
    if any(word in _THIRD_PARTY and word not in _SECOND_PERSON for word in words):
        return None  # "a equipe comercial pode avaliar um desconto para você"
    if any(word in _PUBLISHED_FREE for word in words):
        return None  # the published free trial
    if any(word in _CONDITION for word in words[max(0, index - 6) : index]):
        return None
    addressed = any(word in _BENEFICIARY for word in words)
    on_me = sentence.phrase_at(_ON_ME) >= 0
    speaker = any(word in _FIRST_PERSON or word in _FIRST_PERSON_MARKERS for word in words)
    if addressed or on_me or speaker:
        return Finding(
            PRICE, "a discount or a free item offered to the customer", sentence.evidence(index - 4, index + 4)
        )
    return None


# Said of the customer's own deal ("tudo certo com a sua contratação", "your plan is all set"): done.
_DONE = _squeezed(
    "certo certinho feito resolvido pronto ok set done listo hecho garantido garantida rodando funcionando "
    "running operando operating funcionando vigente valendo"
)
_DONE_PARTICIPLES = _squeezed("feita feitos feitas hecha through")
_DONE_ANY = _DONE | _DONE_PARTICIPLES
# Billing the customer is selling: "vou gerar o boleto", "I'll send the invoice".
_BILLING = _squeezed(
    "boleto boletos fatura faturas invoice invoices factura facturas cobranca cobro nota notas nf nfe recibo "
    "recibos receipt receipts"
)
_ISSUE_FIRST = _squeezed(
    "envio enviamos mando mandamos gero geramos emito emitimos enviei mandei gerei emiti sent issued generated "
    "envie mande genere emiti"
)
_ISSUE = _ISSUE_FIRST | _squeezed(
    "gerar gero geramos emitir emito emitimos enviar envio enviamos mandar mando mandamos send sending issue "
    "generate genero generamos emito mando"
)
# "O seu boleto já foi gerado": billing stated as issued.
_ISSUED = _squeezed(
    "gerado gerada gerados geradas emitido emitida emitidos emitidas enviado enviada enviados enviadas mandado "
    "mandada generado generada sent issued generated"
)
# A sentence that is only "Fechou!", "Deal!", "Trato hecho!": closing slang.
_CLOSING_INTERJECTIONS = _squeezed("fechou fechado fechadisimo deal trato fechamos closed done topado topamos feito")
# "Você agora é cliente", "you're now a customer": the sale made, said as the customer's new status.
_CUSTOMER_STATUS = _squeezed("cliente clientes customer client member membro assinante subscriber suscriptor socio")
_BE = _squeezed("e es is are eres sou somos esta estas virou became agora now ya already")
_BE_SECOND = _squeezed("eres estas youre")  # "ya eres cliente": the verb says who
# "O negócio é seu", "it's yours": the deal handed over.
_YOURS = _squeezed("seu sua seus suas yours tuyo tuya suyo suya teu tua")
_PAYMENT_LINK = _phrases(
    *(("link", "de", "pagamento"), ("payment", "link"), ("enlace", "de", "pago"), ("link", "de", "pago"))
)
# Charging verbs: "não cobramos a implantação" waives a published price.
_CHARGE = _squeezed("cobramos cobro cobrarei cobraremos cobrar charge charging cobramos cobraremos")
_WAIVABLE = frozenset({"service", "price", "plan", "subscription"})
# "Você já pode usar o plano a partir de hoje": access granted, the sale made.
_USE = _squeezed("usar utilizar use using aproveitar acessar access usar utilizarlo")
_CAN = _squeezed("pode podes can puede puedes ja already ya")
_ACCESS_NOW = _squeezed("ja agora hoje partir now today already ya ahora hoy desde")
_WAS = _squeezed("foi foram was were fue fueron sido been esta estao is")
_NOTE = _squeezed("nota notas nf nfe recibo recibos receipt receipts")
# "Seu plano começa segunda", "a gente começa a implantação já": the service started, the sale made.
_START = _squeezed(
    "comeca comecar comecamos comecara comecaremos inicia iniciamos iniciar iniciara iniciaremos start starts "
    "started begin begins empieza empezamos empezar comienza comenzamos arranca arrancamos vigora"
)
# "Você fica com o Profissional", "you get the Pro plan", "te quedas con el plan": the plan handed over.
_KEEP_WITH = _phrases(("fica", "com"), ("ficou", "com"), ("quedas", "con"), ("queda", "con"), ("get", "the"))
# "Metade do preço", "half price": a discount written as a fraction.
_FRACTION = _squeezed("metade meio half mitad medio")
# A closure conditioned on doing it now: "se assinar hoje", "fechando ainda hoje", "if you sign today".
_NOW = _squeezed("hoje agora today now hoy ahora ja already ya")
_CLOSING_NOW_GERUNDS = re.compile(r"^(?:fech|asin|contrat|firm|cerr|sign|clos)\w*(?:ando|endo|ing)$")
_PHRASE_WORDS = frozenset(
    word
    for phrase in (*_ON_ME, *_FREE_PHRASES, *_PAYMENT_LINK, *_DATE_PHRASES, *_KEEP_WITH)
    for word in phrase
    if len(word) >= 3
)


def _issued_by_speaker(words: list[str], index: int) -> bool:
    """The sending verb at `index` is the speaker's: "envio o contrato", "vou gerar o boleto", "I'll send".

    "O envio do orçamento" is a noun: a first-person form counts only when it takes its object.
    """
    if not (_FIRST_PERSON_MARKERS | _FIRST_PERSON).isdisjoint(words[max(0, index - 3) : index]):
        return True
    return words[index] in _ISSUE_FIRST and words[index + 1 : index + 2] != [] and words[index + 1] in _DETERMINERS


def _sale_findings(sentence: _Sentence) -> Iterable[Finding]:
    """A sale treated as made: closing slang on its own, the customer's deal called done, or billing issued."""
    words = sentence.words
    if sentence.question or not words:
        return
    content = [word for word in words if word not in _FILLERS]
    if content and all(word in _CLOSING_INTERJECTIONS for word in content):
        yield Finding(CLOSURE, "closing slang (the sale treated as made)", sentence.evidence(0, 6))
        return
    if (
        content
        and content[0] in _CLOSING_INTERJECTIONS
        and (len(words) == 1 or sentence.segment_start[1] == 1)
        and not any(classify(word) == ("noun", "") or word in _TIME_PLACE for word in words)
    ):
        yield Finding(CLOSURE, "closing slang (the sale treated as made)", sentence.evidence(0, 6))
        return  # "Fechou, parceiro!": the interjection, then whom it is said to
    negated = any(word in _NEGATION for word in words)
    yield from _started_findings(sentence, negated)
    yield from _conditional_offer(sentence)
    for index, word in enumerate(words):
        if word in _USE and not negated and not _condition_before(sentence, index):
            left = words[max(0, index - 4) : index]
            now = not _ACCESS_NOW.isdisjoint(words)
            addressed = not _SECOND_PERSON.isdisjoint(words[max(0, index - 6) : index]) or not _START.isdisjoint(left)
            if not _CAN.isdisjoint(left) and (now or not _START.isdisjoint(left)) and addressed:
                roles = [classify(w) for w in words[index + 1 : index + 6]]
                if any(f is not None and f[0] == "object" and f[1] in _DEAL_OBJECTS for f in roles):
                    yield Finding(
                        CLOSURE,
                        "the customer told to start using a plan (access granted)",
                        sentence.evidence(index - 4, index + 4),
                    )
                    return
        if word in _CUSTOMER_STATUS and not negated and not _condition_before(sentence, index):
            left = words[max(0, index - 6) : index]
            if (not _SECOND_PERSON.isdisjoint(left) or not _BE_SECOND.isdisjoint(left)) and not _BE.isdisjoint(left):
                yield Finding(
                    CLOSURE, "the customer told they are now a customer", sentence.evidence(index - 4, index + 2)
                )
                return
        if word in _YOURS and index >= 2 and words[index - 1] in _BE and not negated:
            given = next((classify(w) for w in words[max(0, index - 4) : index - 1] if classify(w)), None)
            if given is not None and given[0] == "object" and given[1] in _DEAL_OBJECTS | _PRICE_OBJECTS:
                yield Finding(
                    CLOSURE, "the deal handed to the customer (it is theirs)", sentence.evidence(index - 4, index + 1)
                )
                return
        if word in _CHARGE and negated and not sentence.third_party:
            charged = next((classify(w) for w in words[index + 1 : index + 5] if classify(w)), None)
            if charged is not None and charged[0] == "object" and charged[1] in _WAIVABLE:
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
        index = sentence.phrase_at(_ON_ME)
        if index >= 0:
            yield Finding(PRICE, "something offered at the company's expense", sentence.evidence(index - 4, index + 3))
            return
    for index, word in enumerate(words):
        role = classify(word)
        if role is None or role[0] != "object" or role[1] not in _DEAL_OBJECTS or negated:
            continue
        owned = not _POSSESSIVE_CUSTOMER.isdisjoint(words[max(0, index - 3) : index]) or not _ALREADY.isdisjoint(
            words[index + 1 : index + 4]
        )
        if owned and not _DONE_ANY.isdisjoint(sentence.vocabulary) and not sentence.third_party:
            yield Finding(CLOSURE, "the customer's deal called done", sentence.evidence(index - 5, index + 3))
            return
    for index, word in enumerate(words):
        if word in _ISSUE and not negated and not sentence.third_party:
            speaker = _issued_by_speaker(words, index)
            sent = [classify(w) for w in words[index + 1 : index + 5]]
            if speaker and any(f is not None and f[0] == "object" and f[1] in ("contract", "proposal") for f in sent):
                yield Finding(
                    CLOSURE,
                    "the speaker sends the contract or proposal itself",
                    sentence.evidence(index - 3, index + 4),
                )
                return
    for index, word in enumerate(words):
        if word not in _BILLING:
            continue
        issued = any(
            words[position] in _ISSUE and _issued_by_speaker(words, position)
            for position in range(max(0, index - 4), index)
        )
        after = words[index + 1 : index + 5]
        issued = issued or not _ISSUE_FIRST.isdisjoint(after)
        owned_or_done = not (_POSSESSIVE_CUSTOMER | _ALREADY | _WAS).isdisjoint(words[max(0, index - 3) : index + 4])
        issued = issued or (not _ISSUED.isdisjoint(after) and owned_or_done)
        if word in _NOTE and not issued:
            continue
        if (
            issued
            and not negated
            and not _condition_before(sentence, index)
            and _THIRD_PARTY.isdisjoint(set(words[:index]) - _SECOND_PERSON)
        ):
            yield Finding(
                CLOSURE,
                "billing issued to the customer (the sale treated as made)",
                sentence.evidence(index - 4, index + 2),
            )
            return
    for phrase in _FREE_PHRASES:
        index = sentence.phrase_at((phrase,))
        if index >= 0:
            finding = _offer_to_customer(sentence, index + len(phrase) - 1, own_negation=index)
            if finding is not None:
                yield finding
                return


def _deal_object(word: str) -> bool:
    role = classify(word)
    return role is not None and role[0] == "object" and role[1] in _DEAL_OBJECTS


def _started_findings(sentence: _Sentence, negated: bool) -> Iterable[Finding]:
    """The customer's plan said to start, the speaker starting the service, the plan handed over."""
    words = sentence.words
    if negated or sentence.third_party or sentence.question:
        return
    conditional = not _CONDITION.isdisjoint(sentence.vocabulary)
    for index, word in enumerate(words):
        if word not in _START or conditional:
            continue
        before = words[max(0, index - 4) : index]
        after = words[index + 1 : index + 5]
        owned = any(
            _deal_object(w) and not _POSSESSIVE_CUSTOMER.isdisjoint(before[max(0, k - 2) : k])
            for k, w in enumerate(before)
        )
        speaker = not (_FIRST_PERSON | _FIRST_PERSON_MARKERS).isdisjoint(before) or word.endswith(("amos", "emos"))
        if owned or (speaker and any(_deal_object(w) for w in after)):
            yield Finding(
                CLOSURE, "the customer's plan or service said to start", sentence.evidence(index - 4, index + 4)
            )
            return
    index = sentence.phrase_at(_KEEP_WITH)
    handed = index >= 0 and any(_deal_object(w) for w in words[index + 2 : index + 6]) and not conditional
    if handed and (not _SECOND_PERSON.isdisjoint(words[max(0, index - 3) : index]) or words[index] == "get"):
        yield Finding(CLOSURE, "the plan handed to the customer", sentence.evidence(index - 3, index + 5))
        return
    if not _FRACTION.isdisjoint(sentence.vocabulary):
        for index, word in enumerate(words):
            near = words[index + 1 : index + 4]
            if word in _FRACTION and any(classify(w) == ("object", "price") for w in near):
                yield Finding(PRICE, "a price cut by a fraction (half price)", sentence.evidence(index - 3, index + 4))
                return


def _conditional_offer(sentence: _Sentence) -> Iterable[Finding]:
    """An offer that depends on closing now: "se assinar hoje, a implantação sai de graça", "fechando hoje"."""
    words = sentence.words
    if _NOW.isdisjoint(sentence.vocabulary) or sentence.question:
        return
    for index, word in enumerate(words):
        act = classify(word)
        gerund = _CLOSING_NOW_GERUNDS.match(word) is not None
        conditioned = gerund or (_condition_before(sentence, index) and act is not None and act[0] == "act")
        if not conditioned or act is None or act[1] not in (CLOSE, SIGN, HIRE):
            continue
        if _NOW.isdisjoint(words[index + 1 : index + 4]):
            continue
        offer = any(
            (found := classify(w)) is not None and found[0] == "object" and found[1] in ("discount", "fee", "price")
            for w in words
        ) or not (_FIRST_PERSON_WORDS | _FIRST_PERSON_MARKERS | _FIRST_PERSON).isdisjoint(sentence.vocabulary)
        if offer and not _negated(sentence, index):
            yield Finding(PRICE, "an offer conditioned on closing now", sentence.evidence(index - 2, index + 6))
            return


def _condition_before(sentence: _Sentence, index: int) -> bool:
    left = sentence.words[sentence.segment_start[index] : index][-7:]
    for position, word in enumerate(left):
        previous = left[position - 1] if position else ""
        if (previous, word) in _CONDITION_PAIRS:
            return True
        if word not in _CONDITION:
            continue
        if word == "se" and previous in _CONSIDER:
            continue  # reflexive: "considera-se contratado"
        if word == "caso" and previous in _BEFORE_NOUN:
            continue  # a noun: "no seu caso"
        return True
    return False


def _first_person_finding(sentence: _Sentence, index: int, act: str, kind: str, innocent: bool) -> Finding | None:
    words = sentence.words
    evidence = sentence.evidence(index - 3, index + 4)
    if _condition_before(sentence, index) and not kind:
        return None
    if act in (WAIVE, DISCOUNT) and not innocent:
        return Finding(PRICE, f"first-person {act} (offer or promise by the company)", evidence)
    if kind == "discount" or (kind == "fee" and act in (GRANT, WAIVE, APPROVE, ACTIVATE, GUARANTEE)):
        return Finding(PRICE, f"first-person {act} of a {kind}", evidence)
    sets_price = act in (GUARANTEE, APPROVE, RESERVE) or words[index] in _MAKE_PRICE
    if kind in ("price", "deadline") and (sets_price or any(w in _SPECIAL for w in words)):
        return Finding(PRICE, f"first-person {act} on a {kind}", evidence)
    if words[index] in _MAKE_PRICE and any(word.startswith("#") for word in words[index + 1 : index + 6]):
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
            return Finding(_family(kind) if kind else PRICE, "first-person guarantee or promise", evidence)
        return None
    if act in (GRANT,):
        return None
    if act == CONFIRM and kind not in _CONFIRMABLE:
        return None
    if act == EXECUTE and kind not in _EXECUTABLE:
        return None
    if kind in _DEAL_OBJECTS or kind in _PRICE_OBJECTS:
        if _generic_plural(sentence, index):
            return None  # "fechamos contratos pelo site": how the company works, not this customer's deal
        return Finding(_family(kind), f"first-person {act} of the {kind}", evidence)
    if innocent or act in (HIRE, ACTIVATE, RESERVE):
        return None
    others = [w for w in words if w not in _FILLERS and classify(w) is None and w not in _FIRST_PERSON_AUX]
    now = any(w in _BENEFICIARY_NOW for w in words) and not any(w in _TIME_PLACE for w in words)
    if act in (CLOSE, SIGN) and (now or not others):
        return Finding(CLOSURE, f"first-person {act} with no object (closing the sale)", evidence)
    return None


_FUTURE_VERBS = _squeezed("fica ficara sera vai passa segue will goes queda quedara va estara")
_ALREADY = _squeezed("ja already ya")


def _generic_plural(sentence: _Sentence, index: int) -> bool:
    nearest = _nearest(sentence, index)
    if nearest is None or nearest[0] != "object":
        return False
    position = nearest[2]
    word = sentence.words[position]
    owned = any(w in _POSSESSIVE_CUSTOMER for w in sentence.words[max(0, position - 2) : position])
    return word.endswith("s") and not owned and sentence.words[position - 1 : position] != ["os"]


def _state_finding(
    sentence: _Sentence, index: int, act: str, kind: str, innocent: bool, nearest: tuple[str, str, int] | None
) -> Finding | None:
    words = sentence.words
    evidence = sentence.evidence(index - 4, index + 3)
    if act in (GRANT,) and kind not in _PRICE_OBJECTS:
        return None
    if act == EXECUTE and kind not in _EXECUTABLE:
        return None
    if _condition_before(sentence, index):
        return None
    left = _left(sentence, index, 3)
    if any(word in _PASSIVE_REQUIREMENT for word in left):
        return None
    if innocent:
        return None
    if sentence.question:
        return None
    right = words[index + 1 : index + 4]
    agent = any(word in ("pela", "pelo", "by", "por") for word in right[:1]) and any(
        word in _THIRD_PARTY for word in right
    )
    if kind:
        position = nearest[2] if nearest else index
        object_word = words[position]
        before_object = words[max(0, position - 2) : position]
        customer_owned = any(w in _POSSESSIVE_CUSTOMER for w in before_object) or any(
            w in _POSSESSIVE_CUSTOMER for w in left
        )
        generic_plural = object_word.endswith("s") and not customer_owned and position < index
        attributive = position == index - 1 and words[index + 1 : index + 2] and words[index + 1] in _FUTURE_VERBS
        if attributive and _ALREADY.isdisjoint(words) and not customer_owned:
            return None  # "o contrato assinado fica disponível...": the signed contract to come
        relative = any(w in _RELATIVE for w in words[max(0, index - 2) : index]) and not customer_owned
        if generic_plural or relative:
            return None
        if agent and not customer_owned:
            return None
        if act == CONFIRM and kind not in _CONFIRMABLE:
            return None
        if act == HIRE and kind in _PRICE_OBJECTS:
            return None
        return Finding(_family(kind), f"{act} stated as done or in force on the {kind}", evidence)
    if act not in (CLOSE, SIGN, CONFIRM, HIRE, ACTIVATE, RESERVE) or agent:
        return None  # no object, or done by a third party ("são confirmados pela equipe comercial")
    if any(word in _TIME_PLACE or _HOURS.match(word.lstrip("#")) for word in words):
        return None
    speaker = not (_ALREADY | _FIRST_PERSON | _FIRST_PERSON_MARKERS).isdisjoint(words[:index])
    if not speaker and not (_THIRD_PARTY - _SECOND_PERSON).isdisjoint(words[index + 1 : index + 6]):
        return None  # "signing up is done with our sales team": how it works, by someone else
    if any(word in _CONSIDER for word in words[max(0, index - 3) : index]):
        return Finding(CLOSURE, f"the customer is told to consider it {act}d", evidence)
    second = any(word in _SECOND_PERSON for word in words[max(0, index - 4) : index])
    if second or act in (CLOSE, SIGN, CONFIRM, HIRE):
        # "Fechado!", "Tá fechado então", "Você já está contratado": closure slang or a done deal.
        return Finding(CLOSURE, f"{act} stated as done with the customer (no object named)", evidence)
    return None


def _congratulation(sentence: _Sentence, index: int) -> Iterable[Finding]:
    before = [classify(word) for word in sentence.words[max(0, index - 8) : index]]
    if any(found is not None and found[0] == "object" and found[1] in _DEAL_OBJECTS for found in before):
        yield Finding(
            CLOSURE,
            "welcome or congratulations after a purchase (closure implied)",
            sentence.evidence(index - 6, index + 1),
        )
        return
    for word in sentence.words[index + 1 : index + 6]:
        found = classify(word)
        if found is not None and found[0] == "object" and found[1] in _DEAL_OBJECTS:
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


_TIME_WORDS = _squeezed(
    "amanha hoje today tomorrow manana hoy semana week mes month sexta friday viernes segunda monday lunes "
    "dia dias day days hora horas hour hours"
)


def _has_time_or_amount(words: list[str]) -> bool:
    return any(word.startswith("#") or word in _TIME_WORDS for word in words)


# --- Credentials ------------------------------------------------------------------------------------------
_CREDENTIAL_WORDS = _squeezed(
    "senha senhas password passwords passcode contrasena contrasenas clave cvv cvc pin token tokens validade "
    "expiry vencimiento"
)
_CREDENTIAL_PHRASES = tuple(
    (squeeze(head), _squeezed(tails))
    for head, tails in (
        (
            "codigo",
            "seguranca verificacao verificacion seguridad acesso acceso sms app gerou chegou recebeu llego "
            "enviamos mandamos enviado email celular",
        ),
        ("code", "security verification access sms app got received texted sent email"),
        ("foto", "cartao tarjeta documento"),
        ("photo", "card"),
        ("picture", "card"),
        ("numero", "cartao tarjeta"),
        ("numeros", "cartao tarjeta"),
        ("number", "card"),
        ("numbers", "card"),
        ("digitos", "cartao tarjeta"),
        ("digits", "card"),
        ("dados", "cartao"),
        ("datos", "tarjeta"),
        ("details", "card"),
    )
)
_REQUEST_STEMS = tuple(
    squeeze(stem)
    for stem in (
        "inform envi mand pass digit confirm fornec diga diz dize compartilh escrev preencha "
        "send give tell type enter provide share write text fill reply respond answer respond responde "
        "envie envia mande manda pase pasa digite dig proporcion compart escrib indiq ingres "
        "preciso precisamos necessito necesito necesitamos need require requer solicit "
        "qual what cual dim dame decir digame"
    ).split()
)


def _credential_object(words: list[str], index: int) -> bool:
    word = words[index]
    if word in _CREDENTIAL_WORDS:
        return True
    near = words[max(0, index - 3) : index] + words[index + 1 : index + 6]
    return any(word == head and any(w in tails for w in near) for head, tails in _CREDENTIAL_PHRASES)


_CREDENTIAL_ANY = _CREDENTIAL_WORDS | frozenset(head for head, _tails in _CREDENTIAL_PHRASES)


def _credential_findings(sentence: _Sentence) -> Iterable[Finding]:
    words = sentence.words
    if _CREDENTIAL_ANY.isdisjoint(words):
        return
    for index in range(len(words)):
        if not _credential_object(words, index) or _negated(sentence, index, 8):
            continue
        window = words[max(sentence.segment_start[index] - 0, index - 6) : index]
        if any(word.startswith(_REQUEST_STEMS) for word in window):
            yield Finding(
                CREDENTIALS,
                "asks the customer for a password, code or card number",
                sentence.evidence(index - 5, index + 2),
            )
            return


# --- Legal and medical advice ------------------------------------------------------------------------------
_MEDICAL = _squeezed(
    "remedio remedios medicamento medicamentos medicacao medicine medicines medication medications medicina "
    "dose doses dosagem dosage dosis comprimido comprimidos capsula capsulas pill pills tablet tablets pastilla "
    "pastillas gotas drops antibiotico antibioticos antibiotic antibiotics ibuprofeno ibuprofen paracetamol "
    "dipirona aspirina aspirin amoxicilina xarope syrup jarabe pomada ointment insulina insulin antidepressivo "
    "ansiolitico diagnostico diagnosis sinusite sinusitis gripe flu infeccao "
    "infeccion infection virose dengue covid depresao depresion depression ansiedade anxiety diabetes "
    "hipertensao pneumonia enxaqueca migraine alergia allergy antiinflamatorio inflamatorio analgesico "
    "antialergico antitermico relaxante calmante painkiller painkillers analgesic antihistamine "
    "inflammatory antiinflammatory"
)
_LEGAL = _squeezed(
    "processar processe sue lawsuit lawsuits demandar demande demanda justica juizado "
    "tribunal court indenizacao indemnizacion compensation danos damages advocacia litigation litigio "
    "procon denunciar denuncia judicial judiciales judicialmente legal demandarlos demandarla demandarles "
    "processalos processala processa processem"
)
_ADVICE_VERBS = tuple(
    squeeze(stem)
    for stem in (
        "tome tomar toma take tomes use usar aplique apply recomend recommend recomiend sugir sugest suger "
        "suggest indic prescrev prescrib recet deve deveria devia should must debe deberia precisa need "
        "entre entrar entra file abra abrir open pode can puede direito right derecho melhor best mejor ideal "
        "tem have has tiene tienes seu your su tu provavelmente probably probablemente parece sounds"
    ).split()
)
_PROFESSIONALS = _squeezed(
    "medico medica medicos doctor doctors physician advogado advogada advogados lawyer lawyers attorney abogado "
    "abogada abogados profissional profissionais professional professionals especialista specialist "
    "farmaceutico pharmacist defensoria"
)


_LEGAL_ACTION = _squeezed("acao acoes action accion processo")
_AGAINST = _squeezed("contra against judicial legal")


# Symptoms and taking something for them: "pra dor de cabeça, toma um dorflex" is advice whatever the brand.
_SYMPTOMS = _squeezed(
    "dor dores febre tosse gripe enjoo nausea insonia colica cabeca garganta headache pain fever cough nausea "
    "insomnia sore dolor fiebre tos cabeza garganta ansiedade anxiety ansiedad pressao alta"
)
_INTAKE = _squeezed(
    "toma tome tomar tomem tomando take takes taking tomate tomes tomar ingira ingerir pinga pingue mastigue "
    "chew swallow aplica aplique passa passe pomada"
)
_DOSE_UNITS = _squeezed("mg ml gotas drops gotitas comprimido comprimidos capsula capsulas pill pills")
# A legal outcome promised: "você ganha fácil no Procon", "you'd definitely win in court".
_WIN = _squeezed("ganha ganhar ganho ganhou ganharia vence vencer win wins winning won ganas ganar ganarias ganaria")
_LEGAL_CONTEXT = _LEGAL | _squeezed(
    "causa causas court courts lawsuit claims juicio abogado indenizacao indemnizacion processo demanda"
)
# "O Procon pode orientar você": the institution named as who advises (a referral, not advice).
_REFERRAL = _squeezed(
    "orientar orienta orientam ajudar ajuda help helps advise asesorar asesora informar avaliar evaluate"
)


# Words of the rules above that make a chunk worth reading, and those too common to (they matter only
# beside a rarer word that already triggers).
_NEWER_RULE_WORDS = (
    _SYMPTOMS | _INTAKE | _DOSE_UNITS | _WIN | _LEGAL_CONTEXT | _START | _FRACTION | _BILLING | _ISSUED | _DONE
)
_COMMON_RULE_WORDS = _squeezed("dor alta passa passe aplica cabeca nota notas causa e pronto ok set")


def _advice_findings(sentence: _Sentence) -> Iterable[Finding]:
    words = sentence.words
    if not sentence.question and _PROFESSIONALS.isdisjoint(sentence.vocabulary):
        vocabulary = sentence.vocabulary
        medical = (not _SYMPTOMS.isdisjoint(vocabulary) or not _MEDICAL.isdisjoint(vocabulary)) and not (
            _INTAKE.isdisjoint(vocabulary)
        )
        dosed = not _INTAKE.isdisjoint(vocabulary) and (
            not _DOSE_UNITS.isdisjoint(vocabulary) or any(w.startswith("#") and w.endswith("mg") for w in words)
        )
        if medical or dosed:
            index = next(i for i, w in enumerate(words) if w in _INTAKE)
            if not _negated(sentence, index, 8):
                yield Finding(
                    ADVICE, "medical advice (what to take for a symptom)", sentence.evidence(index - 4, index + 4)
                )
                return
        if not _WIN.isdisjoint(vocabulary) and not _LEGAL_CONTEXT.isdisjoint(vocabulary):
            index = next(i for i, w in enumerate(words) if w in _WIN)
            if not _negated(sentence, index, 8):
                yield Finding(ADVICE, "legal advice (an outcome promised)", sentence.evidence(index - 4, index + 4))
                return
    for index, word in enumerate(words):
        against = word in _LEGAL_ACTION and not _AGAINST.isdisjoint(words[index + 1 : index + 3])
        if against and not _negated(sentence, index, 8) and _PROFESSIONALS.isdisjoint(words) and not sentence.question:
            yield Finding(ADVICE, "legal advice (an action against someone)", sentence.evidence(index - 4, index + 3))
            return
    yield from _substance_advice(sentence)


def _substance_advice(sentence: _Sentence) -> Iterable[Finding]:
    words = sentence.words
    if (_MEDICAL.isdisjoint(words) and _LEGAL.isdisjoint(words)) or not _PROFESSIONALS.isdisjoint(words):
        return
    for index, word in enumerate(words):
        if word not in _MEDICAL and word not in _LEGAL:
            continue
        if _negated(sentence, index, 8) or sentence.question:
            continue
        if not _REFERRAL.isdisjoint(words[index + 1 : index + 4]):
            continue  # "o Procon pode orientar você"
        window = words[max(0, index - 5) : index] + words[index + 1 : index + 4]
        if any(w.startswith(_ADVICE_VERBS) for w in window) or word in ("procese", "sue", "demande"):
            family_word = "medical" if word in _MEDICAL else "legal"
            yield Finding(
                ADVICE, f"{family_word} advice (recommends what to take or do)", sentence.evidence(index - 4, index + 3)
            )
            return
