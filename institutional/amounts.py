"""Amounts a reply states (prices, percentages, instalments, durations, dates) and what each one prices.

Every amount is reduced to a canonical key ("money:199", "percent:15", "time:10:business_day",
"instalments:10", "date:15/12") whether it was written in digits or in words ("cento e noventa e nove
reais", "fifteen percent", "diez días"). A reply may state an amount only when the published content
states it too; and a price must price the same thing there: quoting the Essencial plan's R$ 199 for the
Profissional plan is a violation even though "R$ 199" is published.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass
from functools import lru_cache

from institutional.textnorm import Token, fold, squeeze

# --- Numbers written in words ------------------------------------------------------------------------
_UNITS_WORDS: dict[str, int] = {}
for _value, _names in {
    0: "zero cero",
    1: "um uma one un uno una",
    2: "dois duas two dos",
    3: "tres three",
    4: "quatro four cuatro",
    5: "cinco five",
    6: "seis six meia",
    7: "sete seven siete",
    8: "oito eight ocho",
    9: "nove nine nueve",
    10: "dez ten diez",
    11: "onze eleven once",
    12: "doze twelve doce",
    13: "treze thirteen trece",
    14: "catorze quatorze fourteen",
    15: "quinze fifteen quince",
    16: "dezesseis sixteen dieciseis",
    17: "dezessete seventeen diecisiete",
    18: "dezoito eighteen dieciocho",
    19: "dezenove nineteen diecinueve",
    20: "vinte twenty veinte",
    21: "veintiuno",
    22: "veintidos",
    23: "veintitres",
    24: "veinticuatro",
    25: "veinticinco",
    30: "trinta thirty treinta",
    40: "quarenta forty cuarenta",
    50: "cinquenta fifty cincuenta",
    60: "sessenta sixty sesenta",
    70: "setenta seventy",
    80: "oitenta eighty ochenta",
    90: "noventa ninety",
    100: "cem cento cien ciento hundred",
    200: "duzentos duzentas doscientos",
    300: "trezentos trezentas trescientos",
    400: "quatrocentos quatrocentas cuatrocientos",
    500: "quinhentos quinhentas quinientos",
    600: "seiscentos seiscentas seiscientos",
    700: "setecentos setecentas setecientos",
    800: "oitocentos oitocentas ochocientos",
    900: "novecentos novecentas novecientos",
}.items():
    for _name in _names.split():
        _UNITS_WORDS[_name] = _value
_MULTIPLIERS = {"mil": 1000, "thousand": 1000, "milhao": 1_000_000, "milhoes": 1_000_000, "million": 1_000_000}
# Words an amount is made of, keyed by their squeezed spelling (see `textnorm.squeeze`): "ceeentooo" and
# "dezesete" still read "cento" and "dezessete".
AMOUNT_WORDS: dict[str, str] = {
    squeeze(word): word
    for word in [
        *_UNITS_WORDS,
        *_MULTIPLIERS,
        *"reais reales real dolares dollars euros pesos vezes parcelas prestacoes cuotas installments instalments "
        "installment instalment mensalidades dia dias day days hora horas hour hours semana semanas week weeks "
        "mes meses month months ano anos year years minuto minutos minute minutes uteis habiles business "
        "working por cento ciento percent pct".split(),
    ]
}
_CONNECTORS = frozenset({"e", "and", "y"})
_UNIT_AFTER = re.compile(
    r"\s*(?:%|por\s*cento|por\s*ciento|percent|reais|reales|real|por\s+mes|mensais|per\s+month|dolares|dollars|euros|pesos|vezes|parcelas|prestacoes"
    r"|cuotas|installments|instalments|mensalidades|dias?|days?|horas?|hours?|semanas?|weeks?|meses|mes|months?"
    r"|anos|years?|minutos?|minutes?)\b"
)


NUMBER_NAMES = frozenset([*_UNITS_WORDS, *_MULTIPLIERS])
# Number words no other word is spelled like (twenty and up): read as a number even without a unit after it,
# "faço por quatrocentos e noventa" is a price. (Not "dos", "once", "um": Portuguese and English words too;
# nor "cento" and "ciento", which say a hundred only before more ("cento e noventa"), else "por cento".)
_LARGE_NUMBER_WORDS = frozenset(
    [*(name for name, value in _UNITS_WORDS.items() if value >= 20), *_MULTIPLIERS, "hundred"]
) - {"cento", "ciento"}
# A vague tail after a number ("trezentos e poucos por mês", "300 y pico", "400-ish"): the number still
# states a price, so the tail is dropped and the number read with its unit.
_VAGUE_TAIL = re.compile(
    r"(?<=[a-z0-9])(?:\s+(?:e|y|and)\s+(?:poucos?|pouco|tantos|pico|algo|quebrados|something)|-?ish)\b"
)
_LETTERS = re.compile(r"[a-z]+")
# Every vague tail holds one of these: most texts have none, and the regex is not run over them at all.
_VAGUE_WORDS = ("pouco", "tantos", "pico", "algo", "quebrados", "something", "ish")


# ASCII text's letter runs by one translation and a split (what `_LETTERS.findall` gives, faster).
_ASCII_LETTERS_ONLY = str.maketrans({code: " " for code in range(128) if not "a" <= chr(code) <= "z"})


def _letter_runs(folded: str) -> list[str]:
    return folded.translate(_ASCII_LETTERS_ONLY).split() if folded.isascii() else _LETTERS.findall(folded)


# Pieces a number in words is read from: words apart, with the punctuation that ends a clause on its own.
_NUMBER_PIECES = re.compile(r"(\s+|-|[.,;:!?])")


# "1k", "2,5k": thousands written with a k ("sai por 1k por mês"). The hint starts with the k itself.
_THOUSANDS_HINT = re.compile(r"k(?<=[0-9]k)(?![a-z0-9])")
_THOUSANDS = re.compile(r"(?<![\w.,])(?P<whole>\d{1,3})(?:[.,](?P<tenths>\d))?k(?![a-z0-9])")


def _thousands(match: re.Match[str]) -> str:
    return str(int(match.group("whole")) * 1000 + int(match.group("tenths") or 0) * 100)


def words_to_digits(folded: str) -> str:
    """Folded text with every number written in words replaced by its digits ("dez dias" -> "10 dias").

    Only a number followed by a unit (money, percent, instalments, a duration), or one with a word for twenty
    or more, is replaced: "dos planos" stays Portuguese and "once the contract is signed" stays English, while
    "um mês grátis" and "por quatrocentos e noventa" are amounts.
    """
    if any(word in folded for word in _VAGUE_WORDS):
        folded = _VAGUE_TAIL.sub("", folded)
    if "k" in folded and _THOUSANDS_HINT.search(folded):
        folded = _THOUSANDS.sub(_thousands, folded)
    if NUMBER_NAMES.isdisjoint(_letter_runs(folded)):
        return folded
    tokens = _NUMBER_PIECES.split(folded)
    out: list[str] = []
    index = 0
    while index < len(tokens):
        starts_here = tokens[index].strip() and tokens[index] != "-"
        value, end = _read_number(tokens, index) if starts_here else (0, index)
        large = end > index and not _LARGE_NUMBER_WORDS.isdisjoint(tokens[index:end])
        if end > index and (large or _UNIT_AFTER.match("".join(tokens[end:]))):
            out.append(str(value))
            index = end
            continue
        out.append(tokens[index])
        index += 1
    return "".join(out)


def _read_number(pieces: list[str], start: int) -> tuple[int, int]:
    """(value, index after it) of the number words from `start`; (0, start) when there is none."""
    total = current = 0
    index = start
    end = start
    while index < len(pieces):
        piece = pieces[index]
        if not piece.strip() or piece == "-":
            index += 1
            continue
        if piece in _UNITS_WORDS:
            current += _UNITS_WORDS[piece]
            index += 1
            end = index
        elif piece in _MULTIPLIERS:
            total += max(current, 1) * _MULTIPLIERS[piece]
            current = 0
            index += 1
            end = index
        elif piece == "hundred" and current:
            current *= 100
            index += 1
            end = index
        elif piece in _CONNECTORS and end > start:
            index += 1  # "cento e noventa e nove": the connector only counts if a number follows
        else:
            break
    return total + current, end


# --- Amounts -------------------------------------------------------------------------------------------
# (Each amount pattern starts with a lookahead for its possible first characters: the regex engine then
# rejects most positions with one test instead of trying every alternative there.)
_MONEY = re.compile(
    r"(?=[ru$\d])(?:(?:r\$|us\$|\$)\s*(?P<number>\d{1,3}(?:\.\d{3})+(?:,\d{1,2})?|\d+(?:[.,]\d{1,2})?)"
    r"|(?P<number2>\d{1,3}(?:\.\d{3})+(?:,\d{1,2})?|\d+(?:,\d{1,2})?)\s*(?:reais|reales|real|brl|dolares|dollars|usd)\b"
    # A number priced by the month without a currency: "trezentos e cinquenta por mês", "350/mês".
    r"|(?P<number3>\d{1,3}(?:\.\d{3})+(?:,\d{1,2})?|\d+(?:,\d{1,2})?)\s*(?:por\s+mes|/\s*mes|mensais|ao\s+mes"
    r"|al\s+mes|per\s+month|a\s+month|/\s*month|mensuales)\b)"
)
# The price verbs and words of `_BARE_PRICE`, keyed by their squeezed spelling: the detector's repairs know
# them, and the amount text writes them back as the pattern spells them ("b41x4r" and "baaaixar" read "baixar").
PRICE_WORDS: dict[str, str] = {
    squeeze(word): word
    for word in "sai sale fica faco fazer faz baixar baixo chegar chego deixo dou make custa cuesta cost costs vale "
    "dejo hago queda pagar pay price preco valor precio precinho precito valorzinho consigo cobro cobramos "
    "ofereco offer lower reduce drop bajar bajo rebajar rebajo reduzir reduzo".split()
}
# A price without a currency: a number a price verb or word leads to, with nothing after it but the end of
# the clause or whom or what it is for ("sai por 450 pra você", "consigo baixar pra 450", "I can do 399").
_BARE_PRICE = re.compile(
    # (The first letters of the alternatives below, looked at first: see `_MONEY`.)
    r"(?=[abcdefhlmopqrstuv])(?:\b(?:sai|sale|fica|faco|fazer|faz|baixar|baixo|chegar|chego|deixo|dou|do|make|custa"
    r"|cuesta|costs?|vale|dejo|hago|queda|pagar|pay|price|preco|valor|precio|precinho|precito|valorzinho"
    r"|consigo|cobro|cobramos|ofereco|offer|lower|reduce|drop|bajar|bajo|rebajar|rebajo|reduzir|reduzo)\b[^.!?;\n\d]{0,25}?(?<![\w$.,])"
    r"(?P<number>\d{2,5}(?:,\d{1,2})?)(?![\d.,]*\d)"
    r"(?=\s*(?:$|[.!?;,)]|(?:pra|para|for|no|na|in|on|en|al|do|da|del|por|per|to|you)\b))"
    # Or a number for the customer: "por 450 pra você", "a 399 para ti".
    r"|\b(?:por|pra|para|a|en|for|at|de|uns|tipo)\s+(?P<number_for>\d{2,5}(?:,\d{1,2})?)\s+(?:pra|para|for)\s+(?:voce|vc|you|ti|usted)\b)"
)
_QUANTITY = re.compile(
    r"(?=\d)(?<![\w.,/])(?P<number>\d+(?:[.,]\d+)*)\s*"
    r"(?P<unit>%|por\s*cento\b|por\s*ciento\b|percent\b|pct\b|x(?![a-z0-9])|vezes\b|parcelas\b|prestacoes\b"
    r"|cuotas\b|pagos\b|installments?\b|instalments?\b|mensalidades\b"
    r"|dias?\s+uteis\b|dias?\s+habiles\b|business\s+days?\b|working\s+days?\b|dias?\b|days?\b"
    r"|h(?![a-z0-9])|hs\b|horas?\b|hours?\b|hrs?\b|semanas?\b|weeks?\b|meses\b|mes\b|months?\b"
    r"|anos\b|years?\b|minutos?\b|minutes?\b|min\b)"
)
_DATE = re.compile(
    # The first characters of a day, a month's name, "dia", "day" or "el".
    r"(?=[\dadefjmnos])(?:(?<![\d/])(?P<day>[0-3]?\d)/(?P<month>[01]?\d)(?:/\d{2,4})?(?![\d/])"
    r"|\b(?P<day2>[0-3]?\d)\s+de\s+(?P<month_name>janeiro|fevereiro|marco|abril|maio|junho|julho|agosto|setembro"
    r"|outubro|novembro|dezembro|enero|febrero|marzo|mayo|junio|julio|septiembre|octubre|noviembre|diciembre)\b"
    r"|\b(?P<month_en>january|february|march|april|may|june|july|august|september|october|november|december)"
    r"\s+(?P<day3>[0-3]?\d)(?:st|nd|rd|th)?\b"
    r"|\b(?:dia|day|el)\s+(?P<day4>[0-3]?\d)\b)"
)
# A weekday after "até", "by", "hasta"...: the one date written without a digit.
_DATE_WEEKDAY = re.compile(
    r"\b(?P<prep>ate|by|until|hasta|antes\s+de|before)\s+(?:a\s+|o\s+|the\s+|el\s+|la\s+)?(?:proxima\s+|next\s+)?"
    r"(?P<weekday>segunda|terca|quarta|quinta|sexta|sabado|domingo|monday|tuesday|wednesday|thursday|friday"
    r"|saturday|sunday|lunes|martes|miercoles|jueves|viernes)\b"
)
_MONTHS = {
    name: index + 1
    for names in (
        "janeiro fevereiro marco abril maio junho julho agosto setembro outubro novembro dezembro",
        "enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre diciembre",
        "january february march april may june july august september october november december",
    )
    for index, name in enumerate(names.split())
}
_UNITS = {
    "dia": "day",
    "dias": "day",
    "day": "day",
    "days": "day",
    "h": "hour",
    "hs": "hour",
    "hr": "hour",
    "hrs": "hour",
    "hora": "hour",
    "horas": "hour",
    "hour": "hour",
    "hours": "hour",
    "semana": "week",
    "semanas": "week",
    "week": "week",
    "weeks": "week",
    "mes": "month",
    "meses": "month",
    "month": "month",
    "months": "month",
    "anos": "year",
    "year": "year",
    "years": "year",
    "min": "minute",
    "minuto": "minute",
    "minutos": "minute",
    "minute": "minute",
    "minutes": "minute",
}
_CLOCK_UNITS = frozenset({"h", "hs"})
_CLOCK_BEFORE = re.compile(r"(?:\b(?:as|das|at|from|to|las|de|e|and|y|a)\s+)$")
_PERCENT_UNITS = frozenset({"%", "por cento", "porcento", "por ciento", "porciento", "percent", "pct"})
_INSTALMENT_UNITS = frozenset(
    {"x", "vezes", "parcelas", "prestacoes", "cuotas", "pagos", "installment", "installments", "instalment"}
    | {"instalments", "mensalidades"}
)


@lru_cache(maxsize=65536)
def _word_as_written(text: str, raw: str) -> str:
    """A word token as the amount patterns read it: a number or unit word restored, any other as written."""
    return AMOUNT_WORDS.get(text) or AMOUNT_WORDS.get(squeeze(raw)) or PRICE_WORDS.get(text) or raw.replace("'", "")


def amount_text(tokens: list[Token]) -> str:
    """The repaired tokens of a text written back for the amount patterns (number and unit words restored)."""
    out: list[str] = []
    add = out.append
    glue_next = False
    for token in tokens:
        kind = token.kind
        if kind == "word":
            value = _word_as_written(token.text, token.raw)
        else:
            value = token.text if kind != "money" else token.raw
            if kind == "punct" and value in "%,.:/;!?)":
                add(value)
                glue_next = value == "/"
                continue
        add(value if (glue_next or not out) else " " + value)
        glue_next = False
    return "".join(out)


def _money_value(text: str) -> str:
    text = text.replace(" ", "")
    if "," in text:
        whole, _, cents = text.replace(".", "").partition(",")
    elif re.fullmatch(r"\d+\.\d{1,2}", text):
        whole, _, cents = text.partition(".")  # "$ 19.90": a decimal point, not thousands
    else:
        whole, cents = text.replace(".", ""), ""
    whole = whole.lstrip("0") or "0"
    cents = (cents + "00")[:2]
    # "R$ 199", "R$ 199,00" and "199 reais" are the same price.
    return whole if cents == "00" else f"{whole}.{cents}"


@dataclass(frozen=True, slots=True)
class Amount:
    key: str  # canonical: "money:199", "percent:15", "time:10:business_day", "instalments:10", "date:15/12"
    written: str  # as it appears in the folded text
    start: int  # position in the folded text


_DIGITS = re.compile(r"\d+")


def digit_spans(text: str) -> list[tuple[int, int]]:
    """The spans of `_DIGITS` in `text`. In ASCII text (nearly every amount text) they are read from each
    digit's occurrences, found by `str.find`: a reply has few digits, and the search skips the rest at
    memory speed where the regex tests every character."""
    if not text.isascii():
        return [match.span() for match in _DIGITS.finditer(text)]
    positions: list[int] = []
    for digit in "0123456789":
        at = text.find(digit)
        while at >= 0:
            positions.append(at)
            at = text.find(digit, at + 1)
    if not positions:
        return []
    positions.sort()
    spans: list[tuple[int, int]] = []
    start = previous = positions[0]
    for at in positions[1:]:
        if at != previous + 1:
            spans.append((start, previous + 1))
            start = at
        previous = at
    spans.append((start, previous + 1))
    return spans


def amounts_found(folded: str, *, converted: bool = False) -> list[Amount]:
    """Every amount in folded text, in order, with its canonical key (positions in `words_to_digits(folded)`).

    `converted`: `folded` is already `words_to_digits`'s output (the conversion is not run twice).
    """
    text = folded if converted else words_to_digits(folded)
    digits = digit_spans(text)
    found = _numeric_amounts(text, digits) if digits else []
    if any(hint in text for hint in _WEEKDAY_HINTS):
        found.extend(Amount(_date_key(match), match.group(0), match.start()) for match in _DATE_WEEKDAY.finditer(text))
    # Stable: amounts that start at one position keep the order the patterns found them in.
    found.sort(key=lambda amount: amount.start)
    return found


# Every weekday deadline (`_DATE_WEEKDAY`) holds one of these: most texts have none, and it is not run at all.
_WEEKDAY_HINTS = ("ate ", "by ", "until ", "hasta ", "antes de ", "before ")
# How far before and after its digits each kind of amount can start and end (with room to spare): the money
# sign before and the currency or "por mes" after; the unit after a quantity ("dias uteis", "business days");
# the month's name or "dia" before a date, the month after it; a bare price's verb ("sai por 450", up to 25
# characters of words between them) before.
_MONEY_WINDOW = (8, 24)
_QUANTITY_WINDOW = (4, 24)
_DATE_WINDOW = (12, 24)
_BARE_PRICE_WINDOW = (60, 40)


def _digit_windows(digits: list[tuple[int, int]], size: int, margins: tuple[int, int]) -> list[tuple[int, int]]:
    """Stretches of text around its numbers: the amount patterns only need to look there (much faster)."""
    before, after = margins
    windows: list[tuple[int, int]] = []
    for start, end in digits:
        low, high = max(0, start - before), min(size, end + after)
        if windows and low <= windows[-1][1]:
            windows[-1] = (windows[-1][0], high)
        else:
            windows.append((low, high))
    return windows


def _numeric_amounts(text: str, digits: list[tuple[int, int]]) -> list[Amount]:
    """The amounts written with digits. Each pattern runs only in the windows around the numbers that its
    matches fit in (an amount lies inside one window), so most of a long text is never looked at."""
    found: list[Amount] = []
    money_spans: list[tuple[int, int]] = []
    size = len(text)
    for low, high in _digit_windows(digits, size, _MONEY_WINDOW):
        for match in _MONEY.finditer(text, low, high):
            number = match.group("number") or match.group("number2") or match.group("number3")
            found.append(Amount(f"money:{_money_value(number)}", match.group(0).strip(), match.start()))
            money_spans.append(match.span())
    for low, high in _digit_windows(digits, size, _BARE_PRICE_WINDOW):
        for match in _BARE_PRICE.finditer(text, low, high):
            group = "number" if match.group("number") else "number_for"
            if not any(start <= match.start(group) < end for start, end in money_spans):
                number = match.group(group)
                found.append(Amount(f"money:{_money_value(number)}", number, match.start(group)))
                money_spans.append(match.span(group))
    for low, high in _digit_windows(digits, size, _QUANTITY_WINDOW):
        found.extend(_quantities(text, low, high, money_spans))
    for low, high in _digit_windows(digits, size, _DATE_WINDOW):
        for match in _DATE.finditer(text, low, high):
            found.append(Amount(_date_key(match), match.group(0), match.start()))
    return found


def _quantities(text: str, low: int, high: int, money_spans: list[tuple[int, int]]) -> list[Amount]:
    found: list[Amount] = []
    for match in _QUANTITY.finditer(text, low, high):
        if any(start <= match.start() < end for start, end in money_spans):
            continue
        before = text[max(0, match.start() - 12) : match.start()]
        if match.group("unit") in _CLOCK_UNITS and _CLOCK_BEFORE.search(before):
            continue  # "às 18h", "das 8h": a time of day (business hours), not a duration
        number, unit = match.group("number"), " ".join(match.group("unit").split())
        number = (number.lstrip("0") or "0") if number.isdigit() else number
        if unit in _PERCENT_UNITS:
            key = f"percent:{number.replace(',', '.')}"
        elif unit in _INSTALMENT_UNITS:
            key = f"instalments:{number}"
        elif unit.endswith(("uteis", "habiles", "business days", "business day", "working days", "working day")):
            key = f"time:{number}:business_day"
        else:
            key = f"time:{number}:{_UNITS[unit]}"
        found.append(Amount(key, match.group(0), match.start()))
    return found


def _date_key(match: re.Match[str]) -> str:
    groups = match.groupdict()
    if groups.get("day"):
        return f"date:{int(groups['day'])}/{int(groups['month'])}"
    if groups.get("day2"):
        return f"date:{int(groups['day2'])}/{_MONTHS[groups['month_name']]}"
    if groups.get("day3"):
        return f"date:{int(groups['day3'])}/{_MONTHS[groups['month_en']]}"
    if groups.get("day4"):
        return f"date:day:{int(groups['day4'])}"
    return f"date:weekday:{groups['weekday']}"


def canonical_key(key: str) -> str:
    """One key for amounts that state the same thing: "10 days" and "10 business days" are one deadline."""
    return key.replace(":business_day", ":day") if key.startswith("time:") else key


def amounts_in(text: str) -> dict[str, str]:
    """Canonical amount -> how it was written, for every amount in (already folded) text."""
    found: dict[str, str] = {}
    for amount in amounts_found(text):
        found.setdefault(amount.key, amount.written)
    return found


# --- What a price prices -------------------------------------------------------------------------------
_ITEM_WORD = re.compile(r"[a-z]{4,}")
_GENERIC_ITEM_WORDS = frozenset(
    "plano planos plan plans servico servicos service services pacote package produto product mensal mes "
    "conversas pagamento unico todos todas incluidos relatorios equipe acima volume preco price sob consulta "
    "ate para with para com".split()
)


_NO_VOWELS = str.maketrans("", "", "aeiouy")


@lru_cache(maxsize=65536)
def item_key(word: str) -> str:
    """A spelling-proof key for an item word, the same in PT, ES and EN: "Profissional", "Profesional" and
    "Professional" all give "prfsnl"; "Essencial", "Esencial" and "Essential" give "sncl"."""
    return squeeze(word.replace("ti", "ci")).translate(_NO_VOWELS)


def item_vocabulary(service_lines: list[str]) -> dict[str, str]:
    """Item key -> the priced item it names: each service line's title (before ":" or a dash) is one item.

    A word in two titles names neither ("plano" in "Plano Essencial" and "Plano Profissional").
    """
    owners: dict[str, set[str]] = {}
    for line in service_lines:
        title = re.split(r"[:—–(]| - ", fold(line), maxsplit=1)[0].strip()
        for word in _ITEM_WORD.findall(title):
            key = item_key(word)
            if word not in _GENERIC_ITEM_WORDS and len(key) >= 3:
                owners.setdefault(key, set()).add(title)
    return {key: next(iter(titles)) for key, titles in owners.items() if len(titles) == 1}


def _items_named(text: str, vocabulary: dict[str, str]) -> list[str]:
    return [vocabulary[key] for key in (item_key(word) for word in _ITEM_WORD.findall(text)) if key in vocabulary]


# `[\n;!?]+|\.(?:\s|$)`, written to start with one character of a set: the regex engine then skips from one
# punctuation mark to the next instead of trying every position.
_SENTENCE_END = re.compile(r"[\n;!?.](?:(?<=\.)(?:\s|$)|(?<!\.)[\n;!?]*)")


AmountSentences = list[tuple[str, list[Amount]]]

# The business closed for a reason (stock-taking, works, holidays): a weekday then says when it reopens.
_CLOSED = re.compile(r"\b(?:fechad[oa]s?|closed|cerrad[oa]s?)\b")
_CLOSED_FOR = re.compile(
    r"\b(?:balanco|inventario|reforma|reformas|ferias|feriado|feriados|manutencao|obras|mudanca|dedetizacao"
    r"|stock-?taking|inventory|renovations?|maintenance|holidays?|vacation|vacaciones|mantenimiento|mudanza)\b"
)


def amount_sentences(text: str) -> AmountSentences:
    """(sentence, its amounts with positions in the sentence) for each sentence of `text` that has one."""
    converted = words_to_digits(text)
    amounts = amounts_found(converted, converted=True)
    if not amounts:
        return []
    out: list[tuple[str, list[Amount]]] = []
    ends = [match.end() for match in _SENTENCE_END.finditer(converted)] + [len(converted)]
    position = 0
    while position < len(amounts):
        # The sentence of the next amount: the first end after it, and the end before that.
        sentence = bisect_right(ends, amounts[position].start)
        start, end = (ends[sentence - 1] if sentence else 0), ends[sentence]
        inside = []
        closed_for = None
        while position < len(amounts) and amounts[position].start < end:
            amount = amounts[position]
            position += 1
            if amount.key.startswith("date:weekday:"):
                if closed_for is None:
                    closed_for = _CLOSED.search(converted, start, end) is not None and bool(
                        _CLOSED_FOR.search(converted, start, end)
                    )
                if closed_for:
                    continue  # "fechado para balanço até segunda-feira": when the business opens, not a deadline
            inside.append(Amount(amount.key, amount.written, amount.start - start))
        if inside:
            out.append((converted[start:end], inside))
    return out


def priced_items(
    text: str, vocabulary: dict[str, str], *, split: AmountSentences | None = None
) -> list[tuple[str, str]]:
    """(money key, item) for every price in an amount text tied to an item it names.

    A price belongs to the item the clause before it is about (the first item named in the nearest
    comma-separated part, back to the previous price: "a implantação do Profissional sai por R$ 990" prices
    the implantação); with none there, to the first item named after it, before the next price.
    """
    pairs: list[tuple[str, str]] = []
    if not vocabulary:
        return pairs
    for sentence, found in amount_sentences(text) if split is None else split:
        amounts = [amount for amount in found if amount.key.startswith("money:")]
        previous_end = 0
        for position, amount in enumerate(amounts):
            before = sentence[previous_end : amount.start]
            next_start = amounts[position + 1].start if position + 1 < len(amounts) else len(sentence)
            after = sentence[amount.start + len(amount.written) : next_start]
            item = next(
                (named[0] for part in reversed(re.split(r"[,:]", before)) if (named := _items_named(part, vocabulary))),
                None,
            )
            if item is None:
                named_after = _items_named(after, vocabulary)
                item = named_after[0] if named_after else None
            if item is not None:
                pairs.append((amount.key, item))
            previous_end = amount.start + len(amount.written)
    return pairs


# --- What a duration, percentage or instalment is about -------------------------------------------------
_STEM = 5
_TOPIC_STOPWORDS = frozenset(
    "para pelo pela com sem por que uma umas uns dos das nos nas aos este esta esse essa isso aqui mais "
    "menos muito todo toda todos todas voce voces nosso nossa seus suas depois antes ate cada quando como "
    "from with that this your our the and for are can will have has than then each within after before "
    "para con por una unos unas los las del este esta eso aqui mas menos todo toda cada cuando como "
    "dias dia days day horas hora hours hour semanas weeks meses mes months anos years minutos minutes "
    "uteis business working habiles por cento percent ciento vezes parcelas cuotas installments "
    "media average apenas only solo somente".split()
)


# Stems of one topic in the three languages: "setup" and "onboarding" are the "implantação", a "trial" the
# "teste" (the published content is often in Portuguese only, the reply in the customer's language).
_TOPIC_SYNONYMS = {
    "setup": "impla",
    "onboa": "impla",
    "insta": "impla",
    "imple": "impla",
    "trial": "teste",
    "prueb": "teste",
    "notic": "aviso",
    "asist": "assis",
    "signi": "assin",
    "signe": "assin",
    "firma": "assin",
    "firme": "assin",
}


def topic_stems(folded: str) -> frozenset[str]:
    """What a sentence is about, roughly: the first letters of its content words."""
    stems = (word[:_STEM] for word in _ITEM_WORD.findall(folded) if word not in _TOPIC_STOPWORDS and len(word) >= 4)
    return frozenset(_TOPIC_SYNONYMS.get(stem, stem) for stem in stems)


def amount_topics(fact_units: list[str]) -> dict[str, list[frozenset[str]]]:
    """Amount key -> the topics of every published fact that states it (money excluded: items tie it).

    `fact_units` are amount texts (see `amount_text`), one per published fact.
    """
    topics: dict[str, list[frozenset[str]]] = {}
    for folded in fact_units:
        for sentence, found in amount_sentences(folded):
            stems = topic_stems(sentence) | topic_stems(folded.split("\n", 1)[0])
            for amount in found:
                if not amount.key.startswith("money:"):
                    topics.setdefault(canonical_key(amount.key), []).append(stems)
    return topics


def ungrounded_amounts(
    folded: str, topics: dict[str, list[frozenset[str]]], *, split: AmountSentences | None = None
) -> list[Amount]:
    """Published durations, percentages and instalments quoted about something they were not published for.

    "Entrega em 24h" when only "o assistente responde 24 horas por dia" is published states a deadline.
    """
    out: list[Amount] = []
    for sentence, amounts in amount_sentences(folded) if split is None else split:
        found = [amount for amount in amounts if canonical_key(amount.key) in topics]
        if not found:
            continue
        stems = topic_stems(sentence)
        for amount in found:
            if not any(stems & published for published in topics[canonical_key(amount.key)]):
                out.append(amount)
    return out
