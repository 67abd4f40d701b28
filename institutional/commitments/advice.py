"""Requests for credentials, and legal or medical advice."""

from __future__ import annotations

from collections.abc import Iterable

from institutional.commitments.lexicon import ADVICE, CREDENTIALS, squeezed_phrases, squeezed_words
from institutional.commitments.sentence import Finding, Sentence, has_condition_before, is_negated
from institutional.textnorm import squeeze

# --- Credentials ------------------------------------------------------------------------------------------
CREDENTIAL_WORDS = squeezed_words(
    "senha senhas password passwords passcode contrasena contrasenas clave cvv cvc pin token tokens validade "
    "expiry vencimiento"
)

CREDENTIAL_PHRASES = tuple(
    (squeeze(head), squeezed_words(tails))
    for head, tails in (
        (
            "codigo",
            "seguranca verificacao verificacion seguridad acesso acceso sms app gerou chegou recebeu llego "
            "enviamos mandamos enviado email celular",
        ),
        ("code", "security verification access sms app got received texted sent email"),
        ("foto", "cartao tarjeta documento"),
        ("print", "cartao tarjeta card"),
        ("imagem", "cartao"),
        ("imagen", "tarjeta"),
        ("captura", "cartao tarjeta"),
        ("screenshot", "card"),
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
    if word in CREDENTIAL_WORDS:
        return True
    near = words[max(0, index - 3) : index] + words[index + 1 : index + 6]
    return any(word == head and any(w in tails for w in near) for head, tails in CREDENTIAL_PHRASES)


_CREDENTIAL_ANY = CREDENTIAL_WORDS | frozenset(head for head, _tails in CREDENTIAL_PHRASES)


def credential_findings(sentence: Sentence) -> Iterable[Finding]:
    words = sentence.words
    if _CREDENTIAL_ANY.isdisjoint(sentence.vocabulary):
        return
    for index in range(len(words)):
        if not _credential_object(words, index) or is_negated(sentence, index, 8):
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
MEDICAL = squeezed_words(
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

LEGAL = squeezed_words(
    "processar processe sue lawsuit lawsuits demandar demande demanda justica juizado "
    "tribunal court indenizacao indemnizacion compensation danos damages advocacia litigation litigio "
    "procon denunciar denuncia judicial judiciales judicialmente legal demandarlos demandarla demandarles "
    "processalos processala processa processem nulo nula abusivo abusiva ilegal void illegal unlawful invalido"
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

PROFESSIONALS = squeezed_words(
    "medico medica medicos doctor doctors physician advogado advogada advogados lawyer lawyers attorney abogado "
    "abogada abogados profissional profissionais professional professionals especialista specialist "
    "farmaceutico pharmacist defensoria"
)

_LEGAL_ACTION = squeezed_words("acao acoes action accion processo")

_MEDICAL_OR_LEGAL = MEDICAL | LEGAL

_AGAINST = squeezed_words("contra against judicial legal")

# Symptoms and taking something for them: "pra dor de cabeça, toma um dorflex" is advice whatever the brand.
SYMPTOMS = squeezed_words(
    "dor dores febre tosse gripe enjoo nausea insonia colica cabeca garganta headache pain fever cough nausea "
    "insomnia sore dolor fiebre tos cabeza garganta ansiedade anxiety ansiedad pressao alta"
)

INTAKE = squeezed_words(
    "toma tome tomar tomem tomando take takes taking tomate tomes tomar ingira ingerir pinga pingue mastigue "
    "chew swallow aplica aplique passa passe pomada"
)

DOSE_UNITS = squeezed_words("mg ml gotas drops gotitas comprimido comprimidos capsula capsulas pill pills")

# A legal outcome promised: "você ganha fácil no Procon", "you'd definitely win in court".
WIN = squeezed_words(
    "ganha ganhar ganho ganhou ganharia vence vencer win wins winning won ganas ganar ganarias ganaria"
)

LEGAL_CONTEXT = LEGAL | squeezed_words(
    "causa causas court courts lawsuit claims juicio abogado indenizacao indemnizacion processo demanda"
)

# "O Procon pode orientar você": the institution named as who advises (a referral, not advice).
_REFERRAL = squeezed_words(
    "orientar orienta orientam ajudar ajuda help helps advise asesorar asesora informar avaliar evaluate"
)


def advice_findings(sentence: Sentence) -> Iterable[Finding]:
    words = sentence.words
    if not sentence.question and PROFESSIONALS.isdisjoint(sentence.vocabulary):
        vocabulary = sentence.vocabulary
        medical = (not SYMPTOMS.isdisjoint(vocabulary) or not MEDICAL.isdisjoint(vocabulary)) and not (
            INTAKE.isdisjoint(vocabulary)
        )
        dosed = not INTAKE.isdisjoint(vocabulary) and (
            not DOSE_UNITS.isdisjoint(vocabulary) or any(w.startswith("#") and w.endswith("mg") for w in words)
        )
        if medical or dosed:
            index = next(i for i, w in enumerate(words) if w in INTAKE)
            if not is_negated(sentence, index, 8):
                yield Finding(
                    ADVICE, "medical advice (what to take for a symptom)", sentence.evidence(index - 4, index + 4)
                )
                return
        if not WIN.isdisjoint(vocabulary) and not LEGAL_CONTEXT.isdisjoint(vocabulary):
            index = next(i for i, w in enumerate(words) if w in WIN)
            if not is_negated(sentence, index, 8):
                yield Finding(ADVICE, "legal advice (an outcome promised)", sentence.evidence(index - 4, index + 4))
                return
    for index in sentence.indices(_LEGAL_ACTION):
        word = words[index]
        against = word in _LEGAL_ACTION and not _AGAINST.isdisjoint(words[index + 1 : index + 3])
        if against and not is_negated(sentence, index, 8) and PROFESSIONALS.isdisjoint(words) and not sentence.question:
            yield Finding(ADVICE, "legal advice (an action against someone)", sentence.evidence(index - 4, index + 3))
            return
    yield from _substance_advice(sentence)
    yield from _law_for_the_customer(sentence)
    yield from _no_care_needed(sentence)


# "Juridicamente você não deve nada", "legally, you don't owe them anything", "la ley está de su lado": what
# the customer may or must do stated as the law's word.
BY_LAW = squeezed_words("juridicamente legalmente legally lawfully")
LAW = squeezed_words("lei leis ley leyes law laws justica justicia")
_LAW_PHRASES = squeezed_phrases(
    ("segundo", "a", "lei"),
    ("pela", "lei"),
    ("por", "lei"),
    ("de", "acordo", "com", "a", "lei"),
    ("by", "law"),
    ("under", "the", "law"),
    ("according", "to", "the", "law"),
    ("segun", "la", "ley"),
    ("por", "ley"),
    ("de", "acuerdo", "con", "la", "ley"),
)
_WITHIN_LAW = squeezed_phrases(
    ("dentro", "da", "lei"), ("within", "the", "law"), ("dentro", "de", "la", "ley"), ("conforme", "a", "lei")
)
_WITHIN_LAW_WORDS = squeezed_words("dentro within conforme")
_SIGN_WORDS = squeezed_words("assinar assina assine assinalo firmar firma firme firmarlo firmelo sign signing asinar")
_ON_YOUR_SIDE = squeezed_phrases(
    ("do", "seu", "lado"), ("ao", "seu", "lado"), ("de", "su", "lado"), ("de", "tu", "lado"), ("on", "your", "side")
)
_ADDRESSED = squeezed_words("voce voces vc you usted ustedes tu te ti")


def _law_for_the_customer(sentence: Sentence) -> Iterable[Finding]:
    vocabulary = sentence.vocabulary
    if sentence.question or not PROFESSIONALS.isdisjoint(vocabulary):
        return
    if BY_LAW.isdisjoint(vocabulary) and LAW.isdisjoint(vocabulary):
        return
    if not _SIGN_WORDS.isdisjoint(vocabulary):
        # "Pode assinar tranquilo, está dentro da lei": the document called lawful, the customer told to sign.
        index = next((i for i, word in enumerate(sentence.words) if word in BY_LAW), -1)
        if index < 0:
            index = sentence.phrase_at(_LAW_PHRASES + _WITHIN_LAW)
        if index >= 0 and not is_negated(sentence, index, 8) and not has_condition_before(sentence, index):
            yield Finding(
                ADVICE, "legal advice (a document called lawful to sign)", sentence.evidence(index - 6, index + 4)
            )
            return
    side = not LAW.isdisjoint(vocabulary) and sentence.phrase_at(_ON_YOUR_SIDE) >= 0
    if side or not _ADDRESSED.isdisjoint(vocabulary):
        index = next((i for i, word in enumerate(sentence.words) if word in BY_LAW), -1)
        if index < 0:
            index = sentence.phrase_at(_LAW_PHRASES)
        if side or (index >= 0 and not is_negated(sentence, index, 8)):
            yield Finding(
                ADVICE,
                "legal advice (the customer's rights or duties stated as the law's)",
                sentence.evidence(max(index, 0) - 2, max(index, 0) + 8),
            )


# "Não precisa ir ao médico", "you don't need to see a doctor": care said to be unnecessary.
MEDICAL_CARE = squeezed_words(
    "medico medica medicos doctor doctors physician hospital hospitais emergencia emergency prontosocorro "
    "socorro urgencia medica"
)
# "Você não precisa de advogado", "you don't need a lawyer": legal counsel said to be unnecessary.
LEGAL_CARE = squeezed_words("advogado advogada advogados lawyer lawyers attorney attorneys abogado abogada abogados")
CARE = MEDICAL_CARE | LEGAL_CARE
_NEED_OR_GO = squeezed_words(
    "precisa precisar precisam necessario necessaria need needs necesita necesitas necesitan falta ir go see "
    "procurar buscar consultar visit"
)
_BUT = squeezed_words("mas but pero porem however sin")
# "Não deixe de procurar um médico": a referral, the negation undone.
_DO_NOT_FAIL = squeezed_words("deixe deixar deixem deje dejes dejar fail hesite hesitar hesitate dude dudes dudar")


def _no_care_needed(sentence: Sentence) -> Iterable[Finding]:
    words = sentence.words
    if sentence.question or CARE.isdisjoint(sentence.vocabulary):
        return
    for index in sentence.indices(CARE):
        # (A wide window: letters or syllables set apart can leave a long word in pieces.)
        before = words[max(0, index - 10) : index]
        if not is_negated(sentence, index, 10) or _NEED_OR_GO.isdisjoint(before) or not _DO_NOT_FAIL.isdisjoint(before):
            continue
        if not _BUT.isdisjoint(before) or has_condition_before(sentence, index):
            continue  # "não precisa se preocupar, mas procure um médico", "se não melhorar, vá ao médico"
        kind = "legal advice (a lawyer" if words[index] in LEGAL_CARE else "medical advice (care"
        yield Finding(ADVICE, f"{kind} said to be unnecessary)", sentence.evidence(index - 6, index + 1))
        return


ADVICE_RULE_WORDS = BY_LAW | LAW | CARE | _WITHIN_LAW_WORDS | _SIGN_WORDS | _DO_NOT_FAIL | _LEGAL_ACTION


def _substance_advice(sentence: Sentence) -> Iterable[Finding]:
    words = sentence.words
    vocabulary = sentence.vocabulary
    if (MEDICAL.isdisjoint(vocabulary) and LEGAL.isdisjoint(vocabulary)) or not PROFESSIONALS.isdisjoint(vocabulary):
        return
    for index in sentence.indices(_MEDICAL_OR_LEGAL):
        word = words[index]
        if is_negated(sentence, index, 8) or sentence.question:
            continue
        if not _REFERRAL.isdisjoint(words[index + 1 : index + 4]):
            continue  # "o Procon pode orientar você"
        window = words[max(0, index - 5) : index] + words[index + 1 : index + 4]
        if any(w.startswith(_ADVICE_VERBS) for w in window) or word in ("procese", "sue", "demande"):
            family_word = "medical" if word in MEDICAL else "legal"
            yield Finding(
                ADVICE, f"{family_word} advice (recommends what to take or do)", sentence.evidence(index - 4, index + 3)
            )
            return
