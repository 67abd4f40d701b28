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
