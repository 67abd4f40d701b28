"""The product team edits an FAQ in the admin, previews the context, publishes, and the bot answers with it."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import PASSWORD
from tests.factories import UserFactory
from tests.support import say, sent_texts, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

NEW_HOURS = "Atendemos de segunda a sábado, das 7h às 22h, inclusive feriados."
# What the "Product team" group grants (the group is a migration's row, gone after a flush).
PRODUCT_TEAM = [
    *(
        f"institutional.{action}_{model}"
        for model in ("companyprofile", "faq", "policy")
        for action in ("change", "view")
    ),
    "institutional.view_release",
    "institutional.publish_release",
]


def test_edit_an_faq_preview_publish_and_the_bot_answers_with_it(
    page, live_server, log_in, shot, worker, demo_release, fake_graph
):
    product = UserFactory(username="paula.produto", staff=True, password=PASSWORD, permissions=PRODUCT_TEAM)
    log_in(product, next_url="/admin/institutional/faq/")
    page.get_by_role("link", name="Qual é o horário de atendimento?").click()
    answer = page.get_by_label(re.compile("Resposta"))
    answer.fill(NEW_HOURS)
    shot("faq-edit")
    page.get_by_role("button", name="Salvar", exact=True).click()
    expect(page.locator(".messagelist")).to_contain_text("Qual é o horário de atendimento?")

    page.goto(f"{live_server.url}/admin/institutional/release/preview/")
    expect(page.locator("body")).to_contain_text(NEW_HOURS)
    shot("preview")

    page.goto(f"{live_server.url}/admin/institutional/release/publish/")
    page.get_by_label(re.compile("Nota|nota")).fill("Novo horário de atendimento")
    page.get_by_role("button", name="Publicar").click()
    expect(page.locator(".messagelist")).to_contain_text("publicado")
    shot("published")

    say("Qual é o horário de atendimento?", wa_id="5511944440001")
    replies = wait_until(lambda: [text for text in sent_texts(fake_graph) if "22h" in text])
    assert NEW_HOURS in replies[0]


def test_the_product_team_sets_the_monthly_budget_and_the_kpis_page_compares_this_months_spend(
    page, live_server, log_in, shot
):
    from datetime import timedelta
    from decimal import Decimal

    from django.contrib.auth.models import Group
    from django.utils import timezone

    from institutional.permissions import PRODUCT_TEAM_GROUP
    from institutional.services import product_team_group_sync
    from llm.models import LLMCall

    product_team_group_sync()  # the migration's row, gone after a flush
    product = UserFactory(username="paula.orcamento", staff=True, password=PASSWORD)
    product.groups.add(Group.objects.get(name=PRODUCT_TEAM_GROUP))
    moment = max(timezone.now() - timedelta(seconds=5), timezone.localtime().replace(day=1, hour=0, minute=0))
    # US$ 2,00 of LLM calls this month: R$ 11,00 at the default rate of R$ 5,50.
    LLMCall.objects.create(
        task="write_reply", outcome="ok", estimated_cost=Decimal("2.00"), started_at=moment, finished_at=moment
    )

    log_in(product, next_url="/admin/institutional/spendingbudget/add/")
    page.get_by_label(re.compile("Orçamento mensal")).fill("10.00")
    shot("budget-form")
    page.get_by_role("button", name="Salvar", exact=True).click()
    expect(page.locator(".messagelist")).to_contain_text("Orçamento mensal")

    page.goto(f"{live_server.url}/admin/conversations/conversation/kpis/")
    budget = page.locator("#kpi-budget")
    expect(budget).to_contain_text("Gasto do mês")
    expect(budget).to_contain_text("R$ 11,00")
    expect(budget).to_contain_text("R$ 10,00")
    expect(page.get_by_test_id("budget-used")).to_have_text("110,0 %")
    expect(page.locator("body")).to_contain_text("Mensagens do assistente por turno")
    shot("kpis-budget")
