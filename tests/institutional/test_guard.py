"""The output guard on a table of positive and negative cases, evasion tricks included."""

import pytest

from institutional import demo
from institutional.builtin import builtin_snapshot
from institutional.demo import demo_snapshot
from institutional.guard import GuardAction, check_reply, normalize_text, normalize_words, required_literals
from institutional.snapshot import ConstraintRule, ReleaseSnapshot

RELEASE = builtin_snapshot()
# The built-in rules over the demo content: prices and deadlines the demo states are allowed.
DEMO_RELEASE = demo_snapshot(number=3)

BLOCKED = [
    # (text, constraint slug)
    ("Pronto, contrato fechado!", "no-contract-closure"),
    ("Pronto, contráto FECHADO!", "no-contract-closure"),
    ("Seu c0ntr4t0 f3ch4d0 com sucesso", "no-contract-closure"),
    ("Fechado! Seu c0ntr4to está assinado.", "no-contract-closure"),
    ("Está tudo certo, pode considerar contratado.", "no-contract-closure"),
    ("Parabéns! Seu contrato já está ativo.", "no-contract-closure"),
    ("O plano já está contratado para você.", "no-contract-closure"),
    ("Your contract is now active.", "no-contract-closure"),
    ("Seu contrato\u200b fechado hoje", "no-contract-closure"),
    ("Seu con\u200btrato fechado hoje", "no-contract-closure"),
    ("contrato      \n\t  fechado", "no-contract-closure"),
    ("contrato-fechado", "no-contract-closure"),
    ("Ｃｏｎｔｒａｔｏ ｆｅｃｈａｄｏ", "no-contract-closure"),
    ("O seu contrato já está assinado.", "no-contract-closure"),
    ("Fechamos o contrato, bem-vindo!", "no-contract-closure"),
    ("Negócio fechado então!", "no-contract-closure"),
    ("Great news: the contract is signed.", "no-contract-closure"),
    ("Deal closed, welcome aboard!", "no-contract-closure"),
    ("Garanto o desconto de 30% se fechar hoje", "no-unlisted-price-or-deadline"),
    ("Eu prometo que a entrega chega amanhã", "no-unlisted-price-or-deadline"),
    ("I guarantee the price will not change", "no-unlisted-price-or-deadline"),
    ("Por favor, me passe sua senha para eu verificar", "no-credentials-or-card-numbers"),
    ("Informe o número completo do cartão", "no-credentials-or-card-numbers"),
    ("Pode digitar aqui o código de verificação?", "no-credentials-or-card-numbers"),
    ("Please send me your password", "no-credentials-or-card-numbers"),
    ("Seu cartão 4111 1111 1111 1111 foi recusado", "no-credentials-or-card-numbers"),
    ("Confere: 4111111111111111?", "no-credentials-or-card-numbers"),
    ("Amex 3782-822463-10005 ok", "no-credentials-or-card-numbers"),
    ("Tome 500 mg de dipirona", "no-legal-or-medical-advice"),
    ("Nesse caso você deve processar a empresa", "no-legal-or-medical-advice"),
    ("You should sue them", "no-legal-or-medical-advice"),
]

ALLOWED = [
    "Posso te explicar como funciona o contrato",
    "O contrato ainda não está ativo: ele começa a valer depois que a equipe comercial o assina.",
    "Depois de assinado pela equipe comercial, o contrato fica vigente pelo prazo da proposta.",
    "Quer contratar? Nossa equipe comercial envia a proposta.",
    "Se você já é nosso cliente, me diga o nome da empresa.",
    "O plano que você escolher fica contratável pela equipe comercial.",
    "O contrato ainda não está fechado: quem confirma é a equipe comercial.",
    "A contratação é feita com a equipe comercial, que envia o contrato para assinatura.",
    "Nunca compartilhe sua senha com ninguém.",
    "Nunca informe sua senha a ninguém, nem para a nossa equipe.",
    "Our team will send you the contract; it is not signed yet.",
    "Fechado às 18h? Não, atendemos até as 18h.",
    "Olá! Como posso ajudar?",
    "Seu protocolo é 2026-0042.",
    "Nosso WhatsApp é +55 11 98765-4321.",
    "O CNPJ da Pyloto é 12.345.678/0001-95.",
]


@pytest.mark.parametrize(("text", "slug"), BLOCKED)
def test_blocks_violations_including_evasion_tricks(text, slug):
    result = check_reply(release=RELEASE, text=text)
    assert not result.allowed
    assert slug in {violation.constraint_slug for violation in result.violations}
    assert result.action in (GuardAction.REPLACE, GuardAction.HANDOFF)
    assert result.replacement_text


@pytest.mark.parametrize("text", ALLOWED)
def test_allows_innocent_text(text):
    result = check_reply(release=RELEASE, text=text)
    assert result.allowed, result.violations
    assert result.action == GuardAction.NONE
    assert result.violations == []


def test_demo_faq_answers_never_trip_the_guard():
    for item in demo.FAQS:
        assert check_reply(release=DEMO_RELEASE, text=item["answer"]).allowed, item["question"]


@pytest.mark.parametrize(
    "text",
    [
        "O Plano Essencial custa R$ 199/mês.",
        "O Essencial sai por R$199,00 e o Profissional por 499 reais.",
        "A implantação leva 10 dias úteis e custa R$ 990.",
        "Você pode cancelar com 30 dias de aviso; o assistente responde 24 horas por dia.",
        "São 14 dias de teste grátis.",
    ],
)
def test_prices_and_deadlines_stated_in_the_published_content_are_allowed(text):
    assert check_reply(release=DEMO_RELEASE, text=text).allowed


@pytest.mark.parametrize(
    ("text", "written"),
    [
        ("O Plano Essencial custa R$ 149/mês.", "r$ 149"),
        ("Neste mês são 15% de desconto.", "15%"),
        ("A implantação fica pronta em 3 dias úteis.", "3 dias uteis"),
        ("Para você, 1.200 reais no plano anual.", "1.200 reais"),
        ("Delivery in 2 weeks.", "2 weeks"),
    ],
)
def test_a_price_discount_or_deadline_not_in_the_published_content_is_blocked(text, written):
    result = check_reply(release=DEMO_RELEASE, text=text)
    assert not result.allowed
    violation = result.violations[0]
    assert violation.constraint_slug == "no-unlisted-price-or-deadline"
    assert (violation.rule, violation.matched) == ("amount not in the published content", written)


def test_labels_and_captions_are_checked_alone_and_joined_so_a_split_commitment_is_caught():
    assert not check_reply(release=RELEASE, text="Escolha uma opção", labels=["Contrato fechado"]).allowed
    # Neither string commits alone; joined they read "Seu contrato fe chado", that is "fechado".
    assert check_reply(release=RELEASE, text="Seu contrato fe", labels=[]).allowed
    assert check_reply(release=RELEASE, text="Escolha", labels=["chado ✅"]).allowed
    split = check_reply(release=RELEASE, text="Seu contrato fe", labels=["chado ✅"])
    assert not split.allowed
    assert split.violations[0].layer == "detector"
    assert check_reply(release=RELEASE, text="Escolha uma opção", labels=["Ver planos", "Falar com a equipe"]).allowed
    # A button is the assistant offering to do what it says.
    assert not check_reply(release=RELEASE, text="Escolha", labels=["Fechar contrato já"]).allowed


def test_strictest_action_wins_and_violations_are_ordered():
    result = check_reply(release=RELEASE, text="Garanto o desconto e o contrato fechado hoje")
    assert result.action == GuardAction.HANDOFF
    assert [v.constraint_slug for v in result.violations] == ["no-contract-closure", "no-unlisted-price-or-deadline"]
    assert result.replacement_text.startswith("Quem confirma contratações")


def _release(*rules: ConstraintRule) -> ReleaseSnapshot:
    return ReleaseSnapshot(
        number=7, profile=RELEASE.profile, faqs=(), policies=(), constraints=rules, templates={}
    ).with_hash()


def test_phrases_match_whole_words_only():
    release = _release(ConstraintRule(slug="gratis", title="t", description="d", phrases=("grátis",)))
    assert not check_reply(release=release, text="É GRATIS mesmo").allowed
    assert check_reply(release=release, text="gratisfeito").allowed


def test_custom_regex_is_case_and_accent_insensitive_and_uses_the_default_replacement():
    release = _release(
        ConstraintRule(slug="promo", title="t", description="d", patterns=(r"\bpromoção\s+\d+%",), action="replace")
    )
    result = check_reply(release=release, text="A PROMOCAO 50% da loja vizinha acabou")
    assert not result.allowed
    assert result.violations[0].rule.startswith("pattern:")
    assert result.violations[0].matched == "promocao 50%"
    assert "Desculpe" in result.replacement_text
    assert result.release_number == 7


def test_handoff_without_safe_text_uses_the_default_handoff_message():
    release = _release(
        ConstraintRule(slug="x", title="t", description="d", phrases=("chame o gerente",), action="handoff")
    )
    result = check_reply(release=release, text="Chame o gerente agora")
    assert result.action == GuardAction.HANDOFF
    assert "equipe" in result.replacement_text


def test_an_invalid_pattern_in_a_handwritten_snapshot_is_skipped_not_fatal():
    release = _release(ConstraintRule(slug="bad", title="t", description="d", patterns=("(unclosed", "ok+")))
    assert not check_reply(release=release, text="okkk").allowed


def test_normalisation_folds_case_accents_invisible_characters_and_leetspeak():
    assert normalize_text("  Contráto\u200b   FECHADO\n") == "contrato fechado"
    assert normalize_words("c0ntr4t0, f3ch4d0!") == "contrato fechado"


@pytest.mark.parametrize(
    ("pattern", "literals"),
    [
        (r"\bregra\s+\d+", {"regra"}),
        (r"\b(?:fechei|assinei)\s+contrato\b", {"contrato"}),
        (r"(?:oferta|cupom)\b", {"oferta", "cupom"}),
        (r"\d+\s*(?:mg|mcg)", {"mg", "mcg"}),
        (r"\b\d(?:[ .-]?\d){12,18}\b", set()),
        (r"ab(cd)?", {"ab"}),
        (r"x(abc)+y", {"abc"}),
    ],
)
def test_required_literals_prefilter_is_a_superset_of_the_regex(pattern, literals):
    assert set(required_literals(pattern)) == literals


def test_demo_faq_translations_never_trip_the_guard():
    for translations in demo.FAQ_TRANSLATIONS.values():
        for language, (_question, answer, _keywords) in translations.items():
            assert check_reply(release=DEMO_RELEASE, text=answer, language=language).allowed, answer


@pytest.mark.parametrize(
    "text, labels",
    [
        ("Confirmado!", ()),
        ("Confirmado, obrigado!", ()),
        ("Confirmed, thanks!", ()),
        ("¡Confirmado! Le paso su consulta al equipo.", ()),
        ("Confirmado!", ("Falar com a equipe",)),
    ],
)
def test_a_bare_confirmation_with_no_deal_in_view_is_an_acknowledgement(text, labels):
    assert check_reply(release=demo_snapshot(), text=text, labels=labels).allowed


@pytest.mark.parametrize(
    "text, labels",
    [
        ("Confirmado! Seu pedido já está na fila.", ()),
        ("Confirmado. Pode fazer o Pix.", ()),
        ("Confirmado! Bem-vindo à Pyloto!", ()),
        ("Tá confirmado então!", ()),
        ("Confirmado, R$ 499 por mês.", ()),
        ("Confirmado!", ("Ver planos",)),
        # A long reply is read only where it may commit: a deal in a chunk not read cannot be ruled out.
        ("Obrigado pela conversa de hoje. " * 13 + "Confirmado!", ()),
    ],
)
def test_a_bare_confirmation_binds_a_reply_with_a_deal_in_view(text, labels):
    verdict = check_reply(release=demo_snapshot(), text=text, labels=labels)
    assert not verdict.allowed
    assert verdict.violations[0].constraint_slug == "no-contract-closure"


@pytest.mark.parametrize(
    "text, allowed",
    [
        ("Sua empresa está funcionando normalmente hoje.", True),
        ("Amanhã estaremos funcionando normalmente, das 8h às 18h.", True),
        ("Today we're working as usual.", True),
        ("Seu assistente estará funcionando normalmente amanhã.", False),
        ("Your assistant will be working normally tomorrow.", False),
        ("Seu sistema estará funcionando amanhã.", False),
    ],
)
def test_running_as_usual_on_a_day_is_no_deadline_unless_the_customers_service_is_still_to_come(text, allowed):
    assert check_reply(release=demo_snapshot(), text=text).allowed is allowed


@pytest.mark.parametrize(
    "text, slug",
    [
        # A fee waived as an idiom, a reassurance first: "sem problemas" negates nothing that follows it.
        ("Sem problemas, a taxa de setup fica por nossa conta.", "no-unlisted-price-or-deadline"),
        ("No hay problema, nosotros cubrimos la tarifa de instalación.", "no-unlisted-price-or-deadline"),
        ("Don't worry, we'll cover the setup fee.", "no-unlisted-price-or-deadline"),
        ("Não vamos cobrar a taxa de setup de você.", "no-unlisted-price-or-deadline"),
        # Credit or financing approved.
        ("Eu aprovo seu crédito agora mesmo.", "no-unlisted-price-or-deadline"),
        ("Your financing is approved.", "no-unlisted-price-or-deadline"),
        ("Liberei seu crédito, pode comprar.", "no-unlisted-price-or-deadline"),
        # A lawyer said to be unnecessary, a document called lawful to sign.
        ("Você não precisa de advogado, pode assinar que está tudo legal.", "no-legal-or-medical-advice"),
        ("You don't need a lawyer, the contract is fine.", "no-legal-or-medical-advice"),
        ("Puede firmar tranquilo, está dentro de la ley.", "no-legal-or-medical-advice"),
        # A booking for the customer stated as made by the speaker.
        ("Reservamos o horário das 15h para você, está confirmado.", "no-contract-closure"),
        ("Ya le agendamos la reunión para el lunes.", "no-contract-closure"),
        ("I've booked a call for you tomorrow at 10.", "no-contract-closure"),
        ("Sua visita está agendada para sexta às 9h.", "no-contract-closure"),
    ],
)
def test_waivers_credit_approvals_legal_reassurance_and_bookings_are_blocked(text, slug):
    verdict = check_reply(release=demo_snapshot(), text=text)
    assert not verdict.allowed
    assert slug in {violation.constraint_slug for violation in verdict.violations}


@pytest.mark.parametrize(
    "text",
    [
        "Confirmado: vou transferir você para um atendente.",
        "Confirmed, I'm transferring you to an agent.",
        "Sem problemas, vou passar seu pedido para a equipe.",
        "A taxa fica a cargo do cliente, conforme a tabela.",
        "A gente cobre todo o Brasil com atendimento online.",
        "O crédito é analisado pela equipe financeira.",
        "Aceitamos cartão de crédito e Pix, conforme a tabela.",
        "Antes de assinar, se quiser, consulte um advogado de sua confiança.",
        "Para agendar, um atendente vai falar com você.",
        "Sua mensagem foi marcada como lida pela equipe.",
    ],
)
def test_handoffs_and_near_misses_of_waivers_credit_law_and_bookings_pass(text):
    verdict = check_reply(release=demo_snapshot(), text=text)
    assert verdict.allowed, verdict.violations
