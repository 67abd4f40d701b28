"""A staff member's shift in the browser: log in, take from the queue, see a message arrive live, reply, return."""

import re

import pytest
from playwright.sync_api import expect

from conversations.models import Conversation, Message
from conversations.services.state import Actor, conversation_request_handoff
from conversations.states import Perm, State
from tests.browser.conftest import PASSWORD
from tests.factories import ContactFactory, ConversationFactory, MessageFactory, UserFactory
from tests.support import say, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def agent():
    # What the "Atendimento" group grants (the group itself is a migration's row, gone after a flush).
    return UserFactory(
        username="ana.atendente",
        first_name="Ana",
        password=PASSWORD,
        permissions=["inbox.use_inbox", Perm.HANDLE, "conversations.view_conversation"],
    )


def handed_over(wa_id: str) -> Conversation:
    conversation = ConversationFactory(
        contact=ContactFactory(wa_id=wa_id, profile_name="Marina"), state=State.ANSWERING
    )
    MessageFactory(conversation=conversation, text="Quero falar com um atendente, por favor", status="answered")
    MessageFactory(
        conversation=conversation, outbound=True, text="Claro! Já chamo alguém da equipe.", provider="offline"
    )
    conversation_request_handoff(
        conversation_id=conversation.pk, actor=Actor.bot(), reason="customer asked for a person"
    )
    return conversation


def test_a_shift_take_see_a_live_message_reply_and_return_to_bot(
    page, live_server, log_in, shot, agent, worker, fake_graph
):
    conversation = handed_over("5511955550001")
    log_in(agent)
    row = page.locator(f'tr[data-conversation="{conversation.pk}"]')
    expect(row).to_contain_text("Marina")
    expect(row).to_contain_text("Claro! Já chamo alguém da equipe.")
    expect(page.get_by_role("heading", name=re.compile("Aguardando uma pessoa"))).to_be_visible()
    shot("queue")

    # The keyboard shortcut takes the longest-waiting conversation.
    page.keyboard.press("n")
    page.wait_for_url(re.compile(rf"/inbox/{conversation.pk}/$"))
    expect(page.get_by_test_id("state")).to_have_text("Com uma pessoa")
    expect(page.get_by_test_id("handoff-summary")).to_contain_text("Quero falar com um atendente")
    conversation.refresh_from_db()
    assert conversation.state == State.HUMAN_ACTIVE and conversation.assigned_to == agent

    # A new customer message appears without a reload (the marker would vanish on one).
    page.evaluate("window.__no_reload = true")
    say("Vocês atendem aos sábados?", wa_id="5511955550001")
    incoming = page.locator(".bubble.from-customer", has_text="Vocês atendem aos sábados?")
    expect(incoming).to_be_visible()
    assert page.evaluate("window.__no_reload") is True
    shot("conversation-live-message")

    # Enter sends; the reply reaches the Graph fake as a text to this customer.
    box = page.get_by_placeholder(re.compile("Escreva ao cliente"))
    box.fill("Olá Marina, atendemos sim, das 9h às 13h.")
    box.press("Enter")
    expect(page.locator(".bubble.from-staff", has_text="das 9h às 13h")).to_be_visible()
    sent = wait_until(lambda: [m for m in fake_graph.sent_messages() if m.get("type") == "text"])
    assert sent[-1]["text"]["body"] == "Olá Marina, atendemos sim, das 9h às 13h."
    assert sent[-1]["to"] == "5511955550001"
    wait_until(lambda: Message.objects.filter(provider="staff", status="sent").exists())
    shot("conversation-replied")

    page.get_by_role("button", name="Devolver ao assistente").click()
    page.wait_for_url(re.compile(r"/inbox/$"))
    expect(page.locator(".notice-success")).to_contain_text("assistente")
    conversation.refresh_from_db()
    assert conversation.state == State.TRIAGE and conversation.assigned_to is None
    shot("queue-after-return")


def test_the_queue_counts_waits_in_business_hours_and_a_follow_up_goes_out_as_the_template(
    page, live_server, log_in, shot, agent, worker, fake_graph
):
    from datetime import timedelta

    from django.utils import timezone

    from conversations.models import MessageTemplate
    from institutional.hours import business_hours_status
    from institutional.services import business_hours_seed

    business_hours_seed()  # weekdays 8h–18h
    MessageTemplate.objects.create(
        name="retomada_contato",
        language="pt_BR",
        status=MessageTemplate.Status.APPROVED,
        components=[{"type": "BODY", "text": "Olá, {{1}}! Aqui é a equipe da {{2}}: {{3}}"}],
        parameter_sources=["contact_name", "company_name", "message_text"],
        purpose="follow_up",
    )
    # Asked for a person last Sunday at 10:00 (closed), and nobody answered before the window closed.
    today = timezone.localtime()
    sunday = (today - timedelta(days=(today.weekday() + 1) % 7 or 7)).replace(hour=10, minute=0, second=0)
    conversation = handed_over("5511955550009")
    Conversation.objects.filter(pk=conversation.pk).update(handoff_requested_at=sunday, last_inbound_at=sunday)
    told = business_hours_status(at=sunday).next_opening_text()

    log_in(agent)
    expect(page.get_by_role("columnheader", name="Em horário de atendimento")).to_be_visible()
    row = page.locator(f'tr[data-conversation="{conversation.pk}"]')
    expect(row.get_by_test_id("business-wait")).to_contain_text(
        f"pediu fora do horário: avisado que alguém responde a partir de {told}"
    )
    shot("queue-business-hours")

    row.get_by_role("link").click()
    page.get_by_text("Retomar contato com o cliente").click()
    expect(page.locator("#follow-up-status")).to_contain_text("retomada_contato")
    page.get_by_label("Mensagem").fill("Desculpe a demora, Marina! Posso ajudar agora?")
    shot("follow-up-form")
    page.get_by_role("button", name="Agendar retomada").click()
    expect(page.locator("#notices")).to_contain_text("Retomada enviada ao cliente")
    sent = wait_until(lambda: [m for m in fake_graph.sent_messages() if m.get("type") == "template"])
    assert sent[-1]["template"]["name"] == "retomada_contato" and sent[-1]["to"] == "5511955550009"
    shot("follow-up-sent")
