"""The product team opens the dashboard, reads the plots and clicks a figure through to its conversations."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from conversations.models import Message, TransitionDecision
from conversations.states import State
from tests.browser.conftest import PASSWORD
from tests.factories import ContactFactory, ConversationFactory, MessageFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_dashboard_plots_and_a_bar_opens_its_conversations(page, live_server, log_in, shot):
    product = UserFactory(username="paula.produto", staff=True, password=PASSWORD)
    now = timezone.now()
    busy = ConversationFactory(contact=ContactFactory(profile_name="Joana"), state=State.HANDOFF_REQUESTED)
    ConversationFactory(contact=ContactFactory(profile_name="Rui"), state=State.ANSWERING)
    for minutes in (50, 40, 30):
        message = MessageFactory(conversation=busy, status=Message.Status.ANSWERED)
        Message.objects.filter(pk=message.pk).update(created_at=now - timedelta(minutes=minutes))
    TransitionDecision.objects.create(
        conversation=busy,
        created_at=now - timedelta(minutes=30),
        actor_kind="bot",
        source_state=State.ANSWERING,
        proposed_state=State.HANDOFF_REQUESTED,
        outcome="applied",
    )

    log_in(product, next_url="/dashboard/")
    expect(page.get_by_role("heading", name="Painel", level=1)).to_be_visible()
    expect(page.locator("#escalation")).to_contain_text("Taxa de escalonamento")
    expect(page.locator("#chart-messages .mark").first).to_be_attached()
    # The queue's SLA clock: Joana's wait, counted in business hours.
    expect(page.get_by_test_id("queue-note")).to_contain_text("Maior espera em horário de atendimento")
    shot("dashboard-24h")

    # The bar of the hour that holds Joana's messages, then the list behind it.
    bar = page.locator('#chart-messages a:has(g.mark[data-series="recebidas"]:not([data-value="0.0"]))').first
    bar.click()
    page.wait_for_url(re.compile(r"/dashboard/conversations/\?figure=messages"))
    expect(page.locator(f'tr[data-conversation="{busy.pk}"]')).to_contain_text("Joana")
    expect(page.locator("tr[data-conversation]")).to_have_count(1)
    shot("dashboard-click-through")

    page.get_by_role("link", name="Painel").first.click()
    page.get_by_role("link", name="Últimos 7 dias").click()
    expect(page.locator('.periods a.active[data-period="7d"]')).to_be_visible()
    shot("dashboard-7d")
