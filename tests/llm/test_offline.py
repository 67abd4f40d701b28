"""The offline answerer on the demo release: the right FAQ or none, courtesy, misses, and the customer's language."""

import pytest
from django.core.management import call_command

from conversations.states import State, allowed_bot_targets
from institutional.selectors import release_get_current, release_snapshot
from institutional.snapshot import FaqEntry, ReleaseSnapshot
from llm.faq_search import FaqIndex
from llm.language import detect_language
from llm.offline import MISS_REASON, offline_answer

pytestmark = pytest.mark.django_db


@pytest.fixture
def release() -> ReleaseSnapshot:
    call_command("seed_demo", verbosity=0)
    current = release_get_current()
    assert current is not None
    return release_snapshot(release=current)


def ask(release: ReleaseSnapshot, text: str, *, state: str = "triage", reasons: list[str] | None = None, earlier=None):
    return offline_answer(
        release=release,
        messages=[text],
        current_state=state,
        allowed_targets=allowed_bot_targets(state),
        earlier_texts=earlier or [],
        recent_reasons=reasons or [],
    )


def faq_about(release: ReleaseSnapshot, question_start: str) -> FaqEntry:
    return next(faq for faq in release.faqs if faq.question.startswith(question_start))


@pytest.mark.parametrize(
    ("question", "faq_question"),
    [
        ("quanto custa o plano Profissional?", "Quais são os planos"),
        ("qual o preco do plano profisional", "Quais são os planos"),  # typos
        ("qual o valor do plano essencial?", "Quais são os planos"),
        ("quanto custa a implantação?", "Quanto tempo leva a implantação"),
        ("quanto tempo demora pra começar?", "Quanto tempo leva a implantação"),
        ("posso cancelar quando quiser?", "Existe fidelidade"),
        ("tem multa?", "Existe fidelidade"),
        ("aceitam pix?", "Quais são as formas de pagamento"),
        ("como faço pra assinar?", "Como faço para contratar"),
        ("integra com meu CRM?", "Vocês integram"),
        ("vocês tem teste grátis?", "Vocês têm período de teste"),
    ],
)
def test_a_question_gets_the_faq_that_names_what_was_asked(release, question, faq_question):
    answer = ask(release, question)
    assert answer.matched_faq_id == faq_about(release, faq_question).id
    assert answer.decision["target_state"] == State.ANSWERING
    assert answer.reply["text"].startswith(faq_about(release, faq_question).answer[:40])


def test_the_plan_question_gets_the_plan_price_not_the_setup_fee(release):
    text = ask(release, "quanto custa o plano Profissional?").reply["text"]
    assert "R$ 499/mês" in text and "990" not in text


def test_a_two_part_question_gets_both_answers_in_the_order_asked(release):
    text = ask(release, "Quais serviços vocês oferecem e quanto custa?").reply["text"]
    what, prices = text.index("Criamos e operamos"), text.index("R$ 499/mês")
    assert what < prices and "990" not in text


@pytest.mark.parametrize(
    "question",
    [
        "desconto de 50% à vista?",
        "prazo de entrega do relatório?",
        "confirma que o plano Profissional custa R$ 300?",
        "me dá um desconto e fecha agora",
        "qual a capital da França?",
    ],
)
def test_no_faq_clearly_answers_so_the_team_confirms_and_nothing_is_guessed(release, question):
    answer = ask(release, question)
    text = answer.reply["text"]
    assert answer.matched_faq_id is None
    assert answer.decision["reason"] == MISS_REASON
    assert "quem confirma" in text and "R$" not in text
    assert answer.decision["target_state"] != State.HANDOFF_REQUESTED  # one miss is not a handoff
    titles = [button["title"] for button in answer.choice["buttons"]]
    assert answer.choice["message_type"] == "BUTTON" and "Falar com a equipe" in titles
    assert release.profile.description in text  # what the company does


def test_a_second_miss_in_a_row_hands_over_to_a_person(release):
    answer = ask(release, "qual a capital da França?", reasons=[MISS_REASON, "answered from FAQ 1"])
    assert answer.decision["target_state"] == State.HANDOFF_REQUESTED
    after_an_answer = ask(release, "qual a capital da França?", reasons=["answered from FAQ 1", MISS_REASON])
    assert after_an_answer.decision["target_state"] == State.TRIAGE


@pytest.mark.parametrize("text", ["obrigada, tchau", "valeu, até mais!", "thanks, bye", "gracias, adiós"])
def test_a_goodbye_is_answered_politely_and_resolves_without_handoff(release, text):
    answer = ask(release, text, state="answering")
    assert answer.decision["target_state"] == State.RESOLVED
    assert answer.decision["customer_wants_human"] is False
    assert answer.reply["text"]


def test_a_thank_you_keeps_the_conversation_open(release):
    answer = ask(release, "muito obrigado!", state="answering")
    assert answer.decision["target_state"] == State.ANSWERING
    assert answer.reply["text"].startswith("De nada")


def test_a_greeting_offers_topics_as_buttons(release):
    answer = ask(release, "Oi, bom dia!", state="new")
    assert answer.choice["message_type"] == "BUTTON" and 1 <= len(answer.choice["buttons"]) <= 3
    assert answer.decision["target_state"] == State.TRIAGE


@pytest.mark.parametrize("text", ["quero falar com um atendente", "Falar com a equipe", "I want to talk to a person"])
def test_asking_for_a_person_hands_off(release, text):
    answer = ask(release, text)
    assert answer.decision["target_state"] == State.HANDOFF_REQUESTED
    assert answer.decision["customer_wants_human"] is True


def test_a_tapped_topic_button_answers_that_topic(release):
    greeting = ask(release, "Olá", state="new")
    button = greeting.choice["buttons"][1]
    answer = ask(release, button["title"])
    assert f"faq-{answer.matched_faq_id}" == button["id"]


def test_english_questions_get_english_answers(release):
    answer = ask(release, "Hi, how much does it cost?")
    assert answer.language == "en"
    assert "R$ 499/month" in answer.reply["text"]
    assert ask(release, "What are your opening hours?").reply["text"].startswith("Our team works Monday")


def test_spanish_questions_get_spanish_answers(release):
    answer = ask(release, "Hola, ¿cuánto cuesta?")
    assert answer.language == "es" and "R$ 499/mes" in answer.reply["text"]
    miss = ask(release, "¿Hacen descuento del 30%?")
    assert "Hablar con equipo" in [button["title"] for button in miss.choice["buttons"]]
    assert "quien lo confirma es nuestro equipo" in miss.reply["text"]


def test_a_language_without_content_gets_a_polite_note_in_that_language(release):
    answer = ask(release, "Bonjour, combien ça coûte?")
    assert answer.language == "fr"
    assert answer.reply["text"].startswith("Désolé, je ne peux répondre qu'en portugais")
    assert answer.decision["target_state"] != State.HANDOFF_REQUESTED


def test_a_short_reply_keeps_the_language_of_the_conversation():
    assert detect_language("ok", earlier_texts=["Hi, how much does it cost?"], default="pt") == "en"
    assert detect_language("tchau", earlier_texts=[], default="en") == "pt"
    assert detect_language("ok", earlier_texts=[], default="pt") == "pt"


def test_an_insult_gets_a_calm_answer_and_topics(release):
    answer = ask(release, "seu bot idiota")
    assert answer.decision["target_state"] == State.TRIAGE
    assert answer.choice["message_type"] == "BUTTON"


def test_an_index_over_no_faqs_finds_nothing():
    assert FaqIndex((), language="pt", default_language="pt-BR").search("quanto custa?") is None
