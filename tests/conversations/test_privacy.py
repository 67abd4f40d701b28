"""LGPD per contact: the export holds everything, the erasure anonymises and keeps counts, both audited; retention."""

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from conversations.kpis import kpis_for_period
from conversations.models import (
    Contact,
    ContactAuditEntry,
    DeliveryStatus,
    Message,
    TransitionDecision,
    UnhandledEvent,
    WebhookElement,
)
from conversations.services.privacy import PrivacyRequestError, contact_erase, contact_export, retention_purge
from conversations.services.state import Actor, conversation_request_handoff
from conversations.states import State
from institutional.models import GuardViolation
from tests.factories import ContactFactory, ConversationFactory, MessageFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def dpo():
    return UserFactory(
        username="encarregado",
        staff=True,
        permissions=[
            "conversations.view_contact",
            "conversations.export_contact_data",
            "conversations.erase_contact_data",
        ],
    )


@pytest.fixture
def person():
    contact = ContactFactory(wa_id="5511912345678", profile_name="Maria Souza")
    conversation = ConversationFactory(contact=contact, state=State.ANSWERING)
    inbound = MessageFactory(
        conversation=conversation,
        text="Meu CPF é 123.456.789-09, quero falar com alguém",
        raw={"from": "5511912345678", "text": {"body": "Meu CPF é 123.456.789-09"}},
        status=Message.Status.ANSWERED,
        wamid="wamid.MARIA1",
    )
    reply = MessageFactory(
        conversation=conversation, outbound=True, text="Olá Maria!", provider="openai", wamid="wamid.R1"
    )
    DeliveryStatus.objects.create(wamid="wamid.R1", status="read", raw={"recipient_id": "5511912345678"}, message=reply)
    conversation_request_handoff(conversation_id=conversation.pk, actor=Actor.bot(), reason="Maria pediu uma pessoa")
    GuardViolation.objects.create(
        conversation=conversation, constraint_slug="no-price", severity="high", action="replace", excerpt="Maria…"
    )
    other = ConversationFactory()
    MessageFactory(conversation=other, text="outra pessoa")
    return {"contact": contact, "conversation": conversation, "inbound": inbound, "other": other}


def test_the_export_holds_everything_about_the_person_and_is_audited(person, dpo):
    data = contact_export(contact_id=person["contact"].pk, user=dpo, reason="pedido do titular por e-mail")
    assert data["contact"]["wa_id"] == "5511912345678" and data["contact"]["profile_name"] == "Maria Souza"
    assert {m["text"] for m in data["messages"]} == {"Meu CPF é 123.456.789-09, quero falar com alguém", "Olá Maria!"}
    assert data["delivery_statuses"][0]["raw"] == {"recipient_id": "5511912345678"}
    assert data["state_decisions"][0]["reason"] == "Maria pediu uma pessoa"
    assert data["blocked_replies"][0]["excerpt"] == "Maria…"
    assert "outra pessoa" not in json.dumps(data, default=str)
    audit = ContactAuditEntry.objects.get(kind="exported")
    assert (audit.contact, audit.actor, audit.source, audit.detail) == (
        person["contact"],
        dpo,
        "encarregado",
        "pedido do titular por e-mail",
    )


def test_the_erasure_removes_what_points_to_the_person_and_keeps_counts_and_audit(person, dpo):
    now = timezone.now()
    before = kpis_for_period(since=now - timedelta(hours=1), until=now + timedelta(minutes=1))
    result = contact_erase(contact_id=person["contact"].pk, user=dpo, reason="direito de eliminação")
    assert (result.conversations, result.messages) == (1, 2)

    contact = Contact.objects.get(pk=person["contact"].pk)
    assert contact.wa_id is None and contact.profile_name == "" and contact.erased_at is not None
    assert contact.user_id == f"erased:{contact.pk}"
    messages = Message.objects.filter(conversation=person["conversation"])
    assert messages.count() == 2 and not messages.exclude(text="").exists() and not messages.exclude(raw={}).exists()
    assert DeliveryStatus.objects.get(wamid="wamid.R1").raw == {}
    assert TransitionDecision.objects.get(conversation=person["conversation"]).reason == ""
    assert GuardViolation.objects.get().excerpt == ""
    # Nothing in the database still names her; another person's data is untouched.
    assert "5511912345678" not in json.dumps(list(Message.objects.values("raw", "text")), default=str)
    assert Message.objects.get(conversation=person["other"]).text == "outra pessoa"
    # The counts and the state history stay: the KPIs of the period do not move.
    after = kpis_for_period(since=now - timedelta(hours=1), until=now + timedelta(minutes=1))
    assert after.inbound == before.inbound and after.escalation == before.escalation
    audit = ContactAuditEntry.objects.get(kind="erased")
    assert audit.actor == dpo and audit.detail == "direito de eliminação" and audit.after["messages"] == 2


def test_the_person_writing_again_starts_a_new_contact_unlinked_to_the_erased_one(person, dpo):
    from conversations.services.contacts import contact_upsert
    from pyloto.whatsapp.webhook import Sender

    contact_erase(contact_id=person["contact"].pk, user=dpo, reason="pedido")
    fresh, created = contact_upsert(sender=Sender(wa_id="5511912345678", user_id=None, profile_name="Maria"))
    assert created and fresh.pk != person["contact"].pk


def test_export_and_erasure_demand_a_reason_and_an_existing_contact(person, dpo):
    with pytest.raises(PrivacyRequestError, match="why"):
        contact_export(contact_id=person["contact"].pk, user=dpo, reason="  ")
    with pytest.raises(PrivacyRequestError, match="no contact"):
        contact_erase(contact_id=999999, user=dpo, reason="pedido")
    assert not ContactAuditEntry.objects.filter(kind__in=["exported", "erased"]).exists()


def test_the_command_exports_and_erases_with_who_and_why(person, dpo, tmp_path):
    target = tmp_path / "maria.json"
    call_command(
        "contact_data", "export", contact=person["contact"].pk, reason="ANPD", by="encarregado", output=str(target)
    )
    assert json.loads(target.read_text())["contact"]["profile_name"] == "Maria Souza"
    out = StringIO()
    call_command(
        "contact_data", "erase", contact=person["contact"].pk, reason="pedido", by="operador.noturno", stdout=out
    )
    assert "2 messages anonymised" in out.getvalue()
    erase = ContactAuditEntry.objects.get(kind="erased")
    assert erase.actor is None and erase.source == "operador.noturno" and erase.detail == "pedido"
    with pytest.raises(CommandError, match="why"):
        call_command("contact_data", "erase", contact=person["contact"].pk, reason="", by="x")


def test_the_admin_actions_ask_why_then_export_or_erase(client, person, dpo):
    client.force_login(dpo)
    url = reverse("admin:conversations_contact_changelist")
    selected = {"_selected_action": [person["contact"].pk]}
    confirm = client.post(url, {"action": "export_data", **selected})
    assert confirm.status_code == 200 and b"reason" in confirm.content
    assert not ContactAuditEntry.objects.filter(kind__in=["exported", "erased"]).exists()
    download = client.post(url, {"action": "export_data", "confirm": "yes", "reason": "titular", **selected})
    assert download["Content-Type"].startswith("application/json")
    assert json.loads(download.content)["contact"]["wa_id"] == "5511912345678"
    client.post(url, {"action": "erase_data", "confirm": "yes", "reason": "titular", **selected})
    assert Contact.objects.get(pk=person["contact"].pk).erased_at is not None
    kinds = (
        ContactAuditEntry.objects.filter(kind__in=["exported", "erased"]).order_by("pk").values_list("kind", flat=True)
    )
    assert list(kinds) == ["exported", "erased"]


def test_the_actions_need_their_permissions(client, person):
    viewer = UserFactory(staff=True, permissions=["conversations.view_contact"])
    client.force_login(viewer)
    url = reverse("admin:conversations_contact_changelist")
    client.post(
        url, {"action": "erase_data", "confirm": "yes", "reason": "x", "_selected_action": [person["contact"].pk]}
    )
    assert Contact.objects.get(pk=person["contact"].pk).erased_at is None


def test_retention_blanks_payloads_and_texts_older_than_n_days_only(settings):
    settings.DATA_RETENTION_DAYS = 30
    now = timezone.now()
    old = MessageFactory(text="antiga", raw={"x": 1})
    new = MessageFactory(text="recente", raw={"x": 2})
    Message.objects.filter(pk=old.pk).update(created_at=now - timedelta(days=31))
    status = DeliveryStatus.objects.create(wamid="w.old", status="sent", raw={"r": 1})
    DeliveryStatus.objects.filter(pk=status.pk).update(received_at=now - timedelta(days=40))
    event = UnhandledEvent.objects.create(reason="x", raw={"phone": "5511999990000"})
    UnhandledEvent.objects.filter(pk=event.pk).update(received_at=now - timedelta(days=40))

    result = retention_purge(now=now)
    assert (result.messages, result.delivery_statuses, result.unhandled_events) == (1, 1, 1)
    old.refresh_from_db()
    new.refresh_from_db()
    assert (old.text, old.raw, old.status) == ("", {}, Message.Status.RECEIVED)
    assert (new.text, new.raw) == ("recente", {"x": 2})
    assert DeliveryStatus.objects.get(pk=status.pk).raw == {}
    assert UnhandledEvent.objects.get(pk=event.pk).raw == {}
    # A second run has nothing left to do.
    assert retention_purge(now=now).messages == 0


def test_retention_deletes_read_webhook_elements_past_it_and_keeps_the_unread(settings):
    settings.DATA_RETENTION_DAYS = 30
    now = timezone.now()
    long_ago = now - timedelta(days=31)
    read_long_ago = WebhookElement.objects.create(
        key="message:old", body={}, received_at=long_ago, processed_at=long_ago
    )
    read_lately = WebhookElement.objects.create(key="message:new", body={}, received_at=now, processed_at=now)
    # Never read (an outage kept the worker away): it is a message still to be read, never purged.
    unread = WebhookElement.objects.create(key="message:waiting", body={"entry": []}, received_at=long_ago)
    retention_purge(now=now)
    assert set(WebhookElement.objects.values_list("pk", flat=True)) == {read_lately.pk, unread.pk}
    assert not WebhookElement.objects.filter(pk=read_long_ago.pk).exists()


def test_retention_off_does_nothing(settings):
    settings.DATA_RETENTION_DAYS = 0
    assert retention_purge() is None


def test_the_beat_runs_the_retention_purge_daily_on_the_maintenance_queue():
    from django.conf import settings as django_settings

    from config.celery_app import app
    from conversations.tasks import purge_expired_data
    from pyloto.queues import route_by_declared_queue

    entry = django_settings.CELERY_BEAT_SCHEDULE["purge-expired-data"]
    assert entry["schedule"] == 86400.0 and entry["options"]["queue"] == "maintenance"
    registered = app.tasks[entry["task"]]
    assert registered.name == purge_expired_data.name
    assert route_by_declared_queue(entry["task"], (), {}, {}, task=registered) == {"queue": "maintenance"}


def test_the_purge_task_runs_the_service(settings):
    from conversations.tasks import purge_expired_data

    settings.DATA_RETENTION_DAYS = 1
    old = MessageFactory(text="velha")
    Message.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=2))
    assert purge_expired_data.run() == 1
