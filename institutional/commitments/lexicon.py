"""The detector's shared vocabulary in PT-BR, English and Spanish: acts, objects, scope words, and their roles."""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

from institutional.textnorm import fold, squeeze

CLOSURE = "closure"

PRICE = "price"

CREDENTIALS = "credentials"

ADVICE = "advice"


def squeezed_words(words: str) -> frozenset[str]:
    return frozenset(squeeze(word) for word in words.split())


class Phrases(tuple[tuple[str, ...], ...]):
    """Word sequences, with the set of their first words: a sentence with none of them holds none."""

    firsts: frozenset[str]

    def __new__(cls, phrases: Iterable[tuple[str, ...]]) -> Phrases:
        made = super().__new__(cls, phrases)
        made.firsts = frozenset(phrase[0] for phrase in made)
        return made


def squeezed_phrases(*phrases: tuple[str, ...]) -> Phrases:
    """Word sequences spelled as the folded, squeezed tokens are ("por nossa conta" -> "por nosa conta")."""
    return Phrases(tuple(squeeze(word) for word in phrase) for phrase in phrases)


# --- Acts -------------------------------------------------------------------------------------------
CLOSE, SIGN, CONFIRM, APPROVE, ACTIVATE, RESERVE, GUARANTEE, WAIVE, DISCOUNT, GRANT, HIRE, EXECUTE, EXTEND = (
    "close sign confirm approve activate reserve guarantee waive discount grant hire execute extend".split()
)
# Cancelling: a commitment only on a fee or a charge ("a multa foi cancelada" waives it; an order cancelled
# or a meeting called off is not a promise).
CANCEL = "cancel"

_ACT_STEMS: dict[str, str] = {
    squeeze(stem): act
    for act, stems in {
        CLOSE: "fech conclu finaliz formaliz efetiv cerr cierr concret clos finalis seal acert oficializ",
        SIGN: "assin firm sign",
        CONFIRM: "confirm",
        APPROVE: "aprov aprob approv autoriz authoriz aceit accept acept",
        ACTIVATE: "ativ activ habilit liber enabl unlock desbloque inscrev inscrib enrol subscrib suscrib matricul "
        "providenc "
        "arrang gestion agiliz criad cread created upgrad",
        RESERVE: "reserv book lock congel bloque trav guard separ",
        GUARANTEE: "garant guarant asegur assegur ensur promet promis",
        WAIVE: "isent dispens abon perdo waiv exim exoner condon retir remov elimin",
        CANCEL: "cancel anul annul drop zera",
        DISCOUNT: "descont rebaj",
        GRANT: "conced aplic ofere ofrec ofrez offer consig conseg otorg grant baix reduz reduc",
        EXTEND: "estend prorrog extend amplia alarg renov renew renuev",
        HIRE: "contrat",
        # Carrying out: "efetuei a sua matrícula", "processei o seu pedido" (only on a deal's own object).
        EXECUTE: "efetu realiz process execut tramit",
    }.items()
    for stem in stems.split()
}

_LONGEST_STEM = max(map(len, _ACT_STEMS))
# Whole words that are acts (short or irregular forms a stem cannot catch).
ACT_WORDS: dict[str, str] = {
    squeeze(word): GRANT
    for word in (
        "dou damos darei daremos dei demos dar daria dando doy dare daremos give gives giving gave "
        "faco fazemos farei faremos fiz fizemos fazer hago hacemos hare haremos hacer apply honor honour "
        "match matched cut knock mantenho mantemos manterei manteremos mantengo mantenemos keep keeps"
    ).split()
}

ACT_WORDS.update({squeeze(w): CLOSE for w in "done deal hecho trato".split()})
# Going ahead with a deal ("vamos seguir com a contratação"): an act only on a deal's own object, like hiring.
ACT_WORDS.update(
    {
        squeeze(w): HIRE
        for w in "seguir seguimos sigo prosseguir prosseguimos prossigo avancar avancamos proceed proceeding "
        "seguimos avanzar avanzamos continuamos".split()
    }
)

ACT_WORDS.update({squeeze(w): GRANT for w in "deixo deixamos dejo dejamos".split()})

ACT_WORDS.update({squeeze(w): ACTIVATE for w in "cadastrei cadastramos cadastrado cadastrada".split()})

ACT_WORDS.update(
    {
        squeeze(w): RESERVE
        for w in (
            "segurar seguramos segurarei seguraremos segurando seguro hold holding held aside saved mantener"
        ).split()
    }
)

# Setting aside ("separei", "set aside", "te separé"): a reservation only of a slot (a "vaga", a spot), not of
# information set aside for the customer to read.
SET_ASIDE = tuple(squeeze(stem) for stem in ("separ", "aside", "saved"))
SLOTS = squeezed_words("vaga vagas slot slots spot spots cupo cupos lugar lugares turma turmas")

# Forms that are first person by themselves ("dou", "faço", "te doy").
FIRST_PERSON_WORDS = squeezed_words(
    "dou damos darei daremos dei demos daria faco fazemos farei faremos fiz fizemos doy dare hago hacemos hare "
    "haremos mantenho mantemos manterei manteremos mantengo mantenemos deixo deixamos dejo dejamos"
)

# Making or leaving a price ("faço pelo preço do Essencial", "te dejo el plan en..."): setting the price.
MAKE_PRICE = squeezed_words(
    "faco fazemos farei faremos fazer hago hacemos hare hacer make deixo deixamos dejo dejamos mantenho mantemos "
    "manterei manteremos mantengo mantenemos keep hold"
)

# State adjectives: "ativo", "active", "live" say something is in force, like a participle.
STATE_WORDS = squeezed_words(
    "ativo ativa ativos ativas active activo activa live done hecho aceito aceita aceitos aceitas"
)

ACT_WORDS.update({squeeze(w): ACTIVATE for w in "ativo ativa ativos ativas active activo activa live".split()})

# Nouns that share a stem with an act but are objects or innocent words ("assinatura" is a subscription).
NOT_ACTS = squeezed_words(
    "assinatura assinaturas fechadura fechaduras garantia garantias reserva reservas atividade atividades "
    "activity activities actividad descontos desconto descuento descuentos discount discounts confirmacao "
    "confirmation aprovacao approval contrato contratos contract contracts contratacao contratación "
    "contratacion contractor firma firmas signature signal signals sinal closet closely book books booking "
    "booklet oferta ofertas offers offer oferece oferecem oferecemos oferecer ofrece ofrecemos aplicativo "
    "aplicacion application aplicacao aceitavel acceptable aceptable liberdade liberty libre signo ativamente "
    "activamente efetivo "
    "efetivamente closer finalidade processo processos proceso procesos process processes realizacao realidade "
    "realmente real renovacao renovacoes renewal renewals renovacion renovaciones cancelamento cancelamentos "
    "cancellation cancellations cancelacion cancelaciones anulacion anulacao separacao separacion separately "
    "separadamente dropdown"
)

# Participles and states: already done (or in force) when nothing in the sentence says otherwise.
PARTICIPLE = re.compile(r"(?:ad|id)[oa]s?$|ad[ií]sim[oa]s?$|[^e]ed$|ee?d$|(?:iv|tiv)[oa]s?$|^live$|^done$|^hecho$")

FIRST_PERSON_ENDINGS = (
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
OBJECTS: dict[str, str] = {}

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
    "implementacion implementacao implementation "
    "instalacao acesso access acceso onboarding",
    "price": "preco precos valor valores price prices precio precios custo custos cost tarifa tarifas rate "
    "condicao condicoes condition conditions condiciones terms pagamento pagamentos payment payments pago "
    "pagos parcelamento parcela parcelas installment installments instalment instalments cuota cuotas "
    "mensalidade mensalidades juros interest intereses",
    "fee": "taxa taxas fee fees multa multas penalty penalties penalidade penalidades penalidad penalizacion "
    "recargo recargos cargo cargos comision comissao reembolso reembolsos refund "
    "refunds devolucao estorno cashback",
    "discount": "desconto descontos discount discounts descuento descuentos cupom cupons cupon coupon coupons "
    "abatimento bonificacao rebaja gratis gratuito gratuita gratuitos gratuitamente graca free regalo "
    "cortesia inclusa incluso incluida incluido included promocao promocoes promo promotion promotions "
    "promocion promociones liquidacao",
    "deadline": "prazo prazos deadline deadlines plazo plazos entrega entregas delivery periodo period trial prueba",
}.items():
    for _word in _words.split():
        OBJECTS[squeeze(fold(_word))] = _kind

# Nouns that make a closure or confirmation innocent: hours, places, support tickets, the conversation.
_INNOCENT_NOUNS = squeezed_words(
    "domingo domingos sabado sabados segunda segundas terca quarta quinta sexta feriado feriados fim fins "
    "noite noites madrugada horario horarios expediente loja lojas escritorio sede unidade agencia porta "
    "portas office offices store stores shop weekend weekends sunday sundays saturday saturdays monday "
    "friday holiday holidays night nights hours lunes martes miercoles jueves viernes festivo festivos "
    "noche tienda oficina local chamado chamados ticket tickets protocolo caso case conversa conversation "
    "conversacion atendimento atencion solicitacao request janela window nome name nombre "
    "email telefone phone dados data horario agenda reuniao meeting reunion ligacao call llamada "
    "sistema system app aplicativo site pagina page"
)

TIME_PLACE = squeezed_words(
    "domingo domingos sabado sabados feriado feriados fim fins noite noites madrugada horario expediente "
    "loja escritorio office store shop weekend weekends sunday sundays saturday saturdays holiday holidays "
    "night nights hours lunes domingo festivo festivos noche tienda oficina"
)

HOURS = re.compile(r"^\d{1,2}h\d{0,2}$")

# A customer's contact details: confirming or noting them is about the conversation, not a deal
# ("Entendido, confirmado o seu contato").
CONTACT_DETAILS = squeezed_words(
    "contato contatos contact contacts contacto contactos endereco enderecos address addresses direccion "
    "numero numeros number numbers celular whatsapp correo details detalhes cpf cnpj"
)

# --- Scope words ---------------------------------------------------------------------------------------
NEGATION = squeezed_words(
    "nao nunca jamais nem sem nenhum nenhuma ninguem not never without none nobody neither nor ni sin "
    "ningun ninguna nadie tampoco nada"
)

# "no" negates in English and Spanish; in Portuguese it is "in the" ("no contrato").
NEGATION_EN_ES = squeezed_words("no")

CONDITION = squeezed_words(
    "se caso quando apos depois once after when whenever if until unless before antes ate cuando si despues "
    "hasta tras mientras enquanto"
)

# Conditions of two words: "assim que", "uma vez assinado", "una vez firmado", "desde que".
CONDITION_PAIRS = frozenset(
    (squeeze(a), squeeze(b)) for a, b in (("assim", "que"), ("uma", "vez"), ("una", "vez"), ("desde", "que"))
)

DETERMINERS = squeezed_words("o a os as seu sua seus suas the your el la los las su tu um uma un una te lhe le")

# "o seu caso", "in this case": "caso" after these is a noun, not "if".
BEFORE_NOUN = squeezed_words("o seu sua no neste nese nesse do this that your the el su cada")

# Words that make the following participle a requirement, not a fact: "precisa ser assinado", "to be signed".
PASSIVE_REQUIREMENT = squeezed_words("ser be being sido")

THIRD_PARTY = squeezed_words(
    "equipe time comercial vendedor vendedora vendedores consultor consultora consultores gerente atendente "
    "atendentes humano humana pessoa pessoas especialista especialistas setor departamento financeiro "
    "team sales salesperson rep representative representatives agent agents person people human manager "
    "staff colleague colleagues department equipo asesor asesora asesores agente agentes persona personas "
    "ejecutivo ejecutiva colega colegas departamento cliente clientes customer customers they eles elas "
    "ellos ellas voce voces you usted ustedes tu vc"
)

RELATIVE = squeezed_words("quem who quien que which que whom")

SECOND_PERSON = squeezed_words("voce voces vc you your usted ustedes tu te ti")

THIRD_PARTY_ONLY = THIRD_PARTY - SECOND_PERSON

POSSESSIVE_CUSTOMER = squeezed_words("seu sua seus suas teu tua your yours su sus tu tus vosso vossa")

FIRST_PERSON = squeezed_words("eu i yo we nos nosotros nosotras gente me let lets")

# Auxiliaries that make the next act the speaker's own offer or promise.
FIRST_PERSON_AUX = squeezed_words(
    "posso podemos consigo conseguimos vou vamos irei iremos quero queremos deixa deixe acabei acabamos "
    "estou estamos tenho temos ja can will could shall would am are have has let lets gonna going "
    "puedo podemos voy vamos quiero queremos dejame acabo acabamos estoy estamos he hemos tengo tenemos ya "
    "just already already"
)

FIRST_PERSON_MARKERS = squeezed_words(
    "posso podemos consigo conseguimos consegui vou vamos irei iremos quero queremos acabei acabamos estou "
    "estamos tenho temos pude puedo voy quiero acabo estoy hemos tengo tenemos pude logre"
)

BENEFICIARY_NOW = squeezed_words(
    "voce pra para ti usted hoje agora ja mesmo today now right away immediately imediatamente hoy ahora ya already"
)

FILLERS = squeezed_words(
    "ta esta esto tudo pronto entao ok okay certo e so beleza show perfeito otimo combinado then its it is "
    "all set everything done todo listo pues entonces perfecto ya ja pode considerar considere consider "
    "aqui here aca o a the el la lo great perfect sim yes si isso that com with con sucesso success exito "
    "comemorar celebrar celebrate parabens"
)

CONSIDER = squeezed_words("considere considerar considera considerelo consider considerala considerado dalo")

CONGRATULATE = squeezed_words(
    "parabens congratulations congrats felicidades felicitaciones welcome bemvindo bemvinda bienvenido "
    "bienvenida bienvenidos"
)

SPECIAL = squeezed_words(
    "especial especiais exclusivo exclusiva melhor menor special exclusive better best lower cheaper "
    "mejor menor diferenciado diferenciada promocional"
)

_SUBORDINATE_PURPOSE = squeezed_words("para pra to para")


@lru_cache(maxsize=65536)
def classify(word: str) -> tuple[str, str] | None:
    """("act", act), ("object", kind), ("noun", "") or None for a squeezed folded word."""
    if word in OBJECTS:
        return ("object", OBJECTS[word])
    if word in ACT_WORDS:
        return ("act", ACT_WORDS[word])
    if word in NOT_ACTS:
        return None
    for size in range(min(len(word), _LONGEST_STEM), 2, -1):
        act = _ACT_STEMS.get(word[:size])
        if act is not None:
            return ("act", act)
    if word in _INNOCENT_NOUNS:
        return ("noun", "")
    return None


ACCOUNT = squeezed_words("conta cuenta")

END = squeezed_words("fim fins end fin final")

DEAL_OBJECTS = frozenset({"contract", "deal", "proposal", "order", "subscription", "plan", "service"})


def is_deal_object(word: str) -> bool:
    """The word names a contract, deal, proposal, order, subscription, plan or service."""
    role = classify(word)
    return role is not None and role[0] == "object" and role[1] in DEAL_OBJECTS


PRICE_OBJECTS = frozenset({"price", "fee", "discount", "deadline"})

EXECUTABLE = frozenset({"contract", "deal", "proposal", "order", "subscription"})

CONFIRMABLE = frozenset({"contract", "deal", "proposal", "order", "subscription", "service", "discount", "deadline"})


def family_of(kind: str) -> str:
    return PRICE if kind in PRICE_OBJECTS else CLOSURE


def act_stem_length(word: str) -> int:
    for size in range(min(len(word), _LONGEST_STEM), 2, -1):
        if word[:size] in _ACT_STEMS:
            return size
    return len(word)


ALREADY = squeezed_words("ja already ya")
