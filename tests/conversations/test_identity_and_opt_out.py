"""Who a contact is (number and BSUID changes, merges), opt-out and opt-in, groups and echoes."""

import pytest

from conversations.models import Contact, ContactAuditEntry, Conversation, Message, WebhookEvent
from conversations.states import State
from pyloto.whatsapp import simulator
from tests.conversations.test_webhook import post_signed

PHONE, NEW_PHONE = "5511987654321", "5511911112222"
BSUID, NEW_BSUID = "BR.1502576394655843", "BR.2502576394655843"


def _system(kind: str, *, sender: dict, system: dict) -> dict:
    element = {"id": simulator.new_wamid(), "timestamp": "1764582000", "type": "system", **sender}
    element["system"] = {"type": kind, "body": "User Ana changed", **system}
    return simulator.webhook_body(messages=[element], contacts=[])


def _change(field: str, value: dict) -> dict:
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": field, "value": value}]}],
    }


@pytest.mark.django_db
def test_a_number_change_keeps_one_contact_with_the_whole_history(client):
    post_signed(client, simulator.text_webhook(text="primeira", wa_id=PHONE, user_id=BSUID))
    body = _system("user_changed_number", sender={"from": PHONE}, system={"wa_id": NEW_PHONE, "user_id": NEW_BSUID})
    assert post_signed(client, body).status_code == 200
    post_signed(client, simulator.text_webhook(text="depois da troca", wa_id=NEW_PHONE, user_id=NEW_BSUID))
    contact = Contact.objects.get()
    assert (contact.wa_id, contact.user_id) == (NEW_PHONE, NEW_BSUID)
    assert Conversation.objects.count() == 1
    texts = list(contact.conversations.get().messages.order_by("pk").values_list("text", flat=True))
    assert texts == ["primeira", "", "depois da troca"]
    audit = ContactAuditEntry.objects.get(kind=ContactAuditEntry.Kind.IDS_CHANGED)
    assert audit.before["wa_id"] == PHONE and audit.after["wa_id"] == NEW_PHONE
    assert audit.source == "user_changed_number"
    # Reposting the system message changes nothing.
    assert post_signed(client, body).status_code == 200
    assert ContactAuditEntry.objects.count() == 1


@pytest.mark.django_db
def test_a_bsuid_change_without_a_phone_follows_the_person(client):
    post_signed(client, simulator.text_webhook(text="oi", wa_id=None, user_id=BSUID))
    body = _system("user_changed_user_id", sender={"from_user_id": BSUID}, system={"user_id": NEW_BSUID})
    assert post_signed(client, body).status_code == 200
    post_signed(client, simulator.text_webhook(text="de novo", wa_id=None, user_id=NEW_BSUID))
    contact = Contact.objects.get()
    assert contact.user_id == NEW_BSUID
    assert contact.conversations.get().messages.filter(direction="in").count() == 3


@pytest.mark.django_db
def test_user_id_update_moves_the_contact_to_its_new_bsuid(client):
    post_signed(client, simulator.text_webhook(text="oi", wa_id=PHONE, user_id=BSUID))
    body = _change(
        "user_id_update",
        {
            "messaging_product": "whatsapp",
            "contacts": [{"profile": {"name": "Ana"}, "wa_id": PHONE}],
            "user_id_update": [
                {"wa_id": PHONE, "detail": "User id updated.", "user_id": {"previous": BSUID, "current": NEW_BSUID}}
            ],
        },
    )
    assert post_signed(client, body).status_code == 200
    contact = Contact.objects.get()
    assert contact.user_id == NEW_BSUID
    assert WebhookEvent.objects.get(kind="user_id_update").contact == contact
    assert ContactAuditEntry.objects.filter(kind="ids_changed", source="user_id_update").count() == 1


@pytest.mark.django_db
def test_a_message_with_phone_and_bsuid_merges_two_contacts_and_their_conversations(client):
    post_signed(client, simulator.text_webhook(text="pelo telefone", wa_id=PHONE))
    post_signed(client, simulator.text_webhook(text="pelo bsuid", wa_id=None, user_id=BSUID))
    assert Contact.objects.count() == 2
    post_signed(client, simulator.text_webhook(text="os dois", wa_id=PHONE, user_id=BSUID))
    contact = Contact.objects.get()
    assert (contact.wa_id, contact.user_id) == (PHONE, BSUID)
    open_conversations = contact.conversations.filter(closed_at__isnull=True)
    assert open_conversations.count() == 1
    assert sorted(open_conversations.get().messages.values_list("text", flat=True)) == [
        "os dois",
        "pelo bsuid",
        "pelo telefone",
    ]
    merge = ContactAuditEntry.objects.get(kind=ContactAuditEntry.Kind.MERGED)
    assert merge.merged_contact_id is not None and merge.contact == contact
    assert contact.conversations.filter(state=State.EXPIRED).count() == 1


@pytest.mark.django_db
def test_parar_opts_out_is_confirmed_once_then_silent_and_voltar_opts_back_in(client):
    post_signed(client, simulator.text_webhook(text="Parar!", wa_id=PHONE))
    contact = Contact.objects.get()
    assert contact.opted_out_at is not None and contact.opt_out_source == "keyword"
    first = Message.objects.get()
    assert first.status == Message.Status.RECEIVED  # the run sends the one confirmation
    post_signed(client, simulator.text_webhook(text="PARAR", wa_id=PHONE))
    post_signed(client, simulator.text_webhook(text="ainda estão aí?", wa_id=PHONE))
    later = Message.objects.exclude(pk=first.pk)
    assert set(later.values_list("status", "status_reason")) == {(Message.Status.DROPPED, "contact opted out")}
    post_signed(client, simulator.text_webhook(text="voltar", wa_id=PHONE))
    contact.refresh_from_db()
    assert contact.opted_out_at is None
    kinds = list(ContactAuditEntry.objects.order_by("pk").values_list("kind", flat=True))
    assert kinds == ["opted_out", "opted_in"]


@pytest.mark.django_db
def test_a_request_is_not_an_opt_out_word(client):
    post_signed(client, simulator.text_webhook(text="quero cancelar meu pedido", wa_id=PHONE))
    assert Contact.objects.get().opted_out_at is None


@pytest.mark.django_db
def test_user_preferences_stop_and_error_131050_opt_out(client):
    post_signed(client, simulator.text_webhook(text="oi", wa_id=PHONE, user_id=BSUID))
    body = _change(
        "user_preferences",
        {
            "messaging_product": "whatsapp",
            "user_preferences": [
                {"wa_id": PHONE, "user_id": BSUID, "category": "marketing_messages", "value": "stop", "detail": "x"}
            ],
        },
    )
    assert post_signed(client, body).status_code == 200
    contact = Contact.objects.get()
    assert contact.opt_out_source == "user_preferences:marketing_messages"
    resume = body["entry"][0]["changes"][0]["value"]["user_preferences"][0] | {"value": "resume"}
    body["entry"][0]["changes"][0]["value"]["user_preferences"] = [resume]
    assert post_signed(client, body).status_code == 200
    contact.refresh_from_db()
    assert contact.opted_out_at is None
    outbound = Message.objects.create(
        conversation=contact.conversations.get(), direction="out", wamid="wamid.OUT131050", type="text", status="sent"
    )
    failed = simulator.status_element(
        wamid=outbound.wamid, status="failed", errors=[{"code": 131050, "title": "User stopped marketing"}]
    )
    assert post_signed(client, simulator.webhook_body(statuses=[failed])).status_code == 200
    contact.refresh_from_db()
    assert contact.opt_out_source == "error 131050"


@pytest.mark.django_db
def test_a_group_message_is_recorded_and_never_starts_a_private_conversation(client):
    element = simulator.message_element(text="bom dia grupo", wa_id=PHONE) | {"group_id": "120363@g.us"}
    body = simulator.webhook_body(messages=[element], contacts=[simulator.contact_element(wa_id=PHONE)])
    assert post_signed(client, body).status_code == 200
    assert Message.objects.count() == 0
    assert Conversation.objects.count() == 0
    assert WebhookEvent.objects.get().kind == "group_message"


@pytest.mark.django_db
def test_an_echo_from_the_business_app_puts_the_conversation_in_human_hands(client):
    post_signed(client, simulator.text_webhook(text="oi", wa_id=PHONE))
    echo = {"from": "5511400000000", "to": PHONE, "id": "wamid.ECHO1", "timestamp": "1", "type": "text"}
    echo["text"] = {"body": "Oi, aqui é a Carla"}
    body = _change("smb_message_echoes", {"messaging_product": "whatsapp", "message_echoes": [echo]})
    assert post_signed(client, body).status_code == 200
    conversation = Conversation.objects.get()
    assert conversation.state == State.HUMAN_ACTIVE
    sent = Message.objects.get(direction="out")
    assert (sent.provider, sent.text, sent.status) == ("business_app", "Oi, aqui é a Carla", "sent")
    assert post_signed(client, body).status_code == 200
    assert Message.objects.filter(direction="out").count() == 1
