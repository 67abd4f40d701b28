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
