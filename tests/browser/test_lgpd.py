"""LGPD in the browser: the person in charge exports a contact's data, then erases it, from the admin."""

import json
import re

import pytest
from playwright.sync_api import expect

from conversations.models import Contact, ContactAuditEntry, Message
from tests.browser.conftest import PASSWORD
from tests.factories import ContactFactory, ConversationFactory, MessageFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_export_then_erase_a_contact_from_the_admin(page, live_server, log_in, shot):
    dpo = UserFactory(
        username="encarregado",
        staff=True,
        password=PASSWORD,
        permissions=[
            "conversations.view_contact",
            "conversations.export_contact_data",
            "conversations.erase_contact_data",
        ],
    )
    contact = ContactFactory(wa_id="5511933332222", profile_name="Carla Dias")
    MessageFactory(conversation=ConversationFactory(contact=contact), text="Meu e-mail é carla@example.com")

    log_in(dpo, next_url="/admin/conversations/contact/")
    row = page.locator("#result_list tr", has_text="Carla Dias")
    row.locator("input.action-select").check()
    page.locator("select[name=action]").select_option("export_data")
    page.get_by_role("button", name=re.compile("Ir|Go")).click()
    page.get_by_label("Motivo").fill("O titular pediu uma cópia por e-mail em 01/12")
    shot("export-confirm")
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Exportar").click()
    exported = json.loads(download_info.value.path().read_text(encoding="utf-8"))
    assert exported["contact"]["profile_name"] == "Carla Dias"
    assert exported["messages"][0]["text"] == "Meu e-mail é carla@example.com"

    page.goto(f"{live_server.url}/admin/conversations/contact/")
    page.locator("#result_list tr", has_text="Carla Dias").locator("input.action-select").check()
    page.locator("select[name=action]").select_option("erase_data")
    page.get_by_role("button", name=re.compile("Ir|Go")).click()
    page.get_by_label("Motivo").fill("Pedido de eliminação do titular")
    shot("erase-confirm")
    page.get_by_role("button", name="Apagar de vez").click()
    expect(page.locator(".messagelist")).to_contain_text("1 contato(s) apagado(s)")
    shot("erased")

    contact.refresh_from_db()
    assert contact.erased_at is not None and contact.wa_id is None and contact.profile_name == ""
    assert Message.objects.get(conversation__contact=contact).text == ""
    kinds = list(
        ContactAuditEntry.objects.filter(contact=contact).order_by("pk").values_list("kind", "source", "detail")
    )
    assert kinds == [
        ("exported", "encarregado", "O titular pediu uma cópia por e-mail em 01/12"),
        ("erased", "encarregado", "Pedido de eliminação do titular"),
    ]
    assert Contact.objects.count() == 1
