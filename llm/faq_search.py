"""Find the FAQ that answers a question, or none: the offline answerer's retrieval.

Each word of the question is matched to the FAQs' words with rapidfuzz (so typos, plurals and
inflections match), weighted by how specific it is across the FAQs (BM25's idf: "Profissional" says
more than "plano"), and counted more when it is in the FAQ's question or keywords than in its answer.
A FAQ answers when it covers enough of the question's weight; a word of the question that no FAQ knows
counts against every FAQ, so "prazo de entrega do relatório" does not get the setup time, and "desconto"
does not get the payment methods. A second FAQ joins when it covers what the first left out ("which
services and how much?"). Deterministic: same release and text, same answer.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from rapidfuzz import fuzz, process
from rapidfuzz.distance import Prefix

from institutional.snapshot import FaqEntry, FaqTranslationEntry, ordered_faqs
from llm.language import fold

# Share of the question's weight a FAQ (or a pair) must cover to be trusted as the answer.
MATCH_THRESHOLD = 0.5
# A second FAQ joins only when it adds at least this much coverage.
SECOND_FAQ_GAIN = 0.15
# A word in the answer only is weaker evidence than one in the question or the keywords.
ANSWER_WEIGHT = 0.55
# A word no FAQ knows weighs this share of the rarest known word: it may be a topic nobody wrote about.
UNKNOWN_WEIGHT = 0.75
# Words that ask about an attribute (price, time) rather than name a topic weigh this share.
ATTRIBUTE_WEIGHT = 0.5
# A whole keyword phrase ("quanto custa") found in the question adds this to the coverage.
PHRASE_BONUS = 0.15
# rapidfuzz ratio (0-100) for two words to count as the same; shorter words must match exactly.
FUZZY_CUTOFF = 80
FUZZY_MIN_LENGTH = 4
# Or a shared stem: a common prefix this long, covering this share of the shorter word ("custo"/"custa").
STEM_MIN_LENGTH = 4
STEM_SHARE = 0.75
STEM_SIMILARITY = 0.85

_WORD = re.compile(r"\w+")
# Words that carry no topic, in pt/en/es: removed from questions and FAQs alike.
STOPWORDS = frozenset(
    """a o as os de da do das dos e em no na nos nas num numa um uma uns umas para pra pro por pelo pela com sem
    que qual quais como quando onde eu voce voces vc vcs meu minha meus minhas seu sua seus suas me te se ao aos
    the an and or of to in on for is are do does did can could i you your my what how when where which it its
    this that be at by with from we our us there el la los las del al y en un una unos unas por para con sin
    que cual cuales como cuando donde yo usted ustedes mi mis su sus es son lo le les tem ter ha sobre isso esse
    essa este esta isto eh e tambem ja so mais muito""".split()
)
# Words a question may carry without naming a topic: ignored.
FILLER = frozenset(
    """oi ola ai opa bom boa dia tarde noite tudo bem hello hi hey hola buenos buenas dias tardes noches good morning
    afternoon evening please por favor gostaria queria quero saber informar informacao informacoes duvida pergunta
    ajuda ajudar pode podem poderia podia fazer oferecem oferece oferecer tenho tem temos existe existem
    want would like know tell me about offer have has any need quiero quisiera saber ofrecen ofrece tienen
    tiene puede pueden necesito preciso vcs obrigado obrigada thanks gracias ok certo posso podemos quiser
    consigo conseguir vou vai vamos faco faz fazem tiver estar esta estao sao ser fica ficam ficar precisa agora
    hoje sempre qualquer momento anytime whenever will get just also puedo quieres puedo hay ahora siempre
    funciona funcionar funcionam processo forma jeito maneira bot robo chatbot seguem segue seguir usam usa usar
    trabalhar""".split()
)
# Words that ask for a price or a time of whatever the question names: "o valor da implantação" is about
# the setup, not about prices in general.
ATTRIBUTES = frozenset(
    """valor valores preco precos custa custam custo custos quanto quanta mensalidade price prices cost costs much
    precio precios cuesta cuestan cuanto costo prazo prazos tempo demora leva long plazo tarda""".split()
)


def terms(text: str) -> list[str]:
    """The meaningful words of a text, folded, in order, without repeats."""
    words = (word for word in _WORD.findall(fold(text)) if word not in STOPWORDS and (len(word) > 1 or word.isdigit()))
    return list(dict.fromkeys(words))


@dataclass(frozen=True)
class _Document:
    faq: FaqEntry
    content: FaqTranslationEntry
    title_terms: frozenset[str]
    answer_terms: frozenset[str]
    phrases: tuple[str, ...]


@dataclass(frozen=True)
class FaqMatch:
    """The FAQs that answer a question (one, or two for a two-part question) and how sure the match is."""

    entries: tuple[FaqTranslationEntry, ...]
    faqs: tuple[FaqEntry, ...]
    coverage: float
    unknown_terms: tuple[str, ...] = field(default=())


class FaqIndex:
    """The FAQs of one release in one language, ready to be searched."""

    def __init__(self, faqs: tuple[FaqEntry, ...], *, language: str, default_language: str) -> None:
        documents = []
        for faq in ordered_faqs(faqs):
            content = faq.in_language(language, default_language)
            if content is None:
                continue
            keywords = " ".join(content.keywords)
            documents.append(
                _Document(
                    faq=faq,
                    content=content,
                    title_terms=frozenset(terms(f"{content.question} {keywords}")),
                    answer_terms=frozenset(terms(content.answer)),
                    phrases=tuple(folded for folded in (" ".join(terms(k)) for k in content.keywords) if " " in folded),
                )
            )
        self.documents = documents
        self.vocabulary = sorted(set().union(*(d.title_terms | d.answer_terms for d in documents)))
        count = len(documents)
        frequency = {
            term: sum(term in d.title_terms or term in d.answer_terms for d in documents) for term in self.vocabulary
        }
        self._idf = {term: _idf(count, df) for term, df in frequency.items()}
        self._unknown_weight = UNKNOWN_WEIGHT * _idf(count, 1)

    def __bool__(self) -> bool:
        return bool(self.documents)

    def _similar(self, term: str) -> dict[str, float]:
        """Vocabulary words that are `term` (exactly, or with a typo or inflection), with their similarity 0-1."""
        exact = {term: 1.0} if term in self._idf else {}
        if len(term) < FUZZY_MIN_LENGTH or term.isdigit():
            return exact
        found = process.extract(term, self.vocabulary, scorer=fuzz.ratio, score_cutoff=FUZZY_CUTOFF, limit=5)
        matches = {word: score / 100 for word, score, _index in found if not word.isdigit()}
        for word, shared, _index in process.extract(
            term, self.vocabulary, scorer=Prefix.similarity, score_cutoff=STEM_MIN_LENGTH, limit=5
        ):
            if shared >= STEM_SHARE * min(len(term), len(word)) and not word.isdigit():
                matches[word] = max(matches.get(word, 0.0), STEM_SIMILARITY)
        return {**matches, **exact}

    def search(self, text: str) -> FaqMatch | None:
        """The FAQ (or pair of FAQs) that clearly answers `text`, or None. Never a guess."""
        if not self.documents:
            return None
        asked = [term for term in terms(text) if term not in FILLER]
        similar = {term: self._similar(term) for term in asked}
        weights: dict[str, float] = {}
        for term in asked:
            weight = max((self._idf[word] for word in similar[term]), default=self._unknown_weight)
            weights[term] = weight * (ATTRIBUTE_WEIGHT if term in ATTRIBUTES else 1.0)
        total = sum(weights.values())
        if not total:
            return None
        folded = " ".join(terms(text))
        per_document = [self._cover(document, weights, similar, folded) for document in self.documents]
        first = max(range(len(per_document)), key=lambda i: (_coverage(per_document[i], total), -i))
        chosen = [first]
        covered = dict(per_document[first])
        if _coverage(covered, total) < 1.0:
            second = max(
                (i for i in range(len(per_document)) if i != first),
                key=lambda i: (_gain(covered, per_document[i], total), -i),
                default=None,
            )
            if second is not None and self._answers_more(
                first, second, covered, per_document[second], total=total, similar=similar
            ):
                chosen.append(second)
                covered = _merge(covered, per_document[second])
        coverage = _coverage(covered, total)
        if coverage < MATCH_THRESHOLD or not any(self._title_hits(self.documents[i], similar) for i in chosen):
            return None
        unknown = tuple(term for term in weights if not similar[term])
        # Answer in the order the customer asked ("what do you do and how much?": what first).
        position = {term: index for index, term in enumerate(asked)}
        chosen.sort(key=lambda i: min((position[t] for t in self._title_hits(self.documents[i], similar)), default=0))
        return FaqMatch(
            entries=tuple(self.documents[i].content for i in chosen),
            faqs=tuple(self.documents[i].faq for i in chosen),
            coverage=round(coverage, 3),
            unknown_terms=unknown,
        )

    def _answers_more(
        self, first: int, second: int, covered: dict[str, float], extra: dict[str, float], *, total: float, similar
    ) -> bool:
        """Whether a second FAQ answers a part of the question the first left open.

        It must add enough coverage by naming an uncovered topic word ("quais serviços … e quanto
        custa?"), or an uncovered price/time word when the first answer states no figure at all: "o
        valor da implantação" has its figure in the setup answer, so the price list does not join it.
        """
        if _gain(covered, extra, total) < SECOND_FAQ_GAIN:
            return False
        uncovered = {term for term in similar if covered.get(term, 0.0) == 0.0}
        named = uncovered & self._title_hits(self.documents[second], similar)
        topics = named - ATTRIBUTES
        figures_asked = bool(named & ATTRIBUTES) and not re.search(r"\d", self.documents[first].content.answer)
        return bool(topics) or figures_asked

    def _title_hits(self, document: _Document, similar: dict[str, dict[str, float]]) -> set[str]:
        return {term for term, words in similar.items() if any(word in document.title_terms for word in words)}

    def _cover(
        self, document: _Document, weights: dict[str, float], similar: dict[str, dict[str, float]], folded: str
    ) -> dict[str, float]:
        """Per question word, the weight this FAQ covers (a bonus entry for keyword phrases)."""
        covered: dict[str, float] = {}
        for term, weight in weights.items():
            best = 0.0
            for word, similarity in similar[term].items():
                if word in document.title_terms:
                    best = max(best, similarity)
                elif word in document.answer_terms:
                    best = max(best, similarity * ANSWER_WEIGHT)
            if best:
                covered[term] = weight * best
        if any(re.search(rf"\b{re.escape(phrase)}\b", folded) for phrase in document.phrases):
            covered["\0phrase"] = PHRASE_BONUS * sum(weights.values())
        return covered


def _idf(count: int, frequency: int) -> float:
    # BM25's idf, always positive.
    return math.log((count - frequency + 0.5) / (frequency + 0.5) + 1)


def _coverage(covered: dict[str, float], total: float) -> float:
    return min(sum(covered.values()) / total, 1.0)


def _merge(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
    return {key: max(a.get(key, 0.0), b.get(key, 0.0)) for key in a.keys() | b.keys()}


def _gain(covered: dict[str, float], other: dict[str, float], total: float) -> float:
    return _coverage(_merge(covered, other), total) - _coverage(covered, total)
