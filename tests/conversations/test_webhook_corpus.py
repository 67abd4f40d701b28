"""Real webhook shapes (Meta's reference, its OpenAPI description, BSUID docs, client libraries' fixtures).

Every shape answers 200, is stored exactly once where it belongs, and reposting it changes nothing.
One element that cannot be stored is quarantined and never takes its batch down.
"""

import json
import threading
from pathlib import Path
from unittest import mock

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client

from conversations.models import (
    Contact,
    ContactAuditEntry,
    Conversation,
    DeliveryStatus,
    Message,
    QuarantinedElement,
    UnhandledEvent,
    WebhookEvent,
)
from conversations.services.ingestion import quarantine_replay
from tests.conversations.test_webhook import post_signed

CORPUS = json.loads((Path(__file__).parent.parent / "fixtures" / "webhook_corpus.json").read_text())
MODELS = (Contact, Conversation, Message, DeliveryStatus, WebhookEvent, UnhandledEvent, QuarantinedElement)


def snapshot() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in MODELS} | {
        "audit": ContactAuditEntry.objects.count(),
        "inbound_received": Message.objects.filter(direction="in", status="received").count(),
    }


def test_the_corpus_covers_what_the_issue_lists():
    names = {case["name"] for case in CORPUS}
    assert len(CORPUS) >= 60
    for required in (
        "text_with_referral_click_to_whatsapp_ad",
        "text_identity_key_hash",
        "interactive_nfm_reply_flow",
        "interactive_call_permission_reply",
        "system_user_changed_user_id",
        "status_group_participants",
        "smb_message_echoes",
        "user_id_update",
        "user_preferences_stop_marketing",
    ):
        assert required in names


@pytest.mark.django_db
@pytest.mark.parametrize("case", CORPUS, ids=[case["name"] for case in CORPUS])
def test_every_real_shape_is_stored_once_and_a_repost_changes_nothing(client, case):
    expect = case["expect"]
    assert post_signed(client, case["body"]).status_code == 200
    assert QuarantinedElement.objects.count() == 0
    assert Message.objects.filter(direction="in").count() == expect.get("messages", 0)
    assert Message.objects.filter(direction="out").count() == expect.get("outbound", 0)
    assert DeliveryStatus.objects.count() == expect.get("statuses", 0)
    assert WebhookEvent.objects.count() == expect.get("events", 0)
    assert UnhandledEvent.objects.count() == expect.get("unhandled", 0)
    if "status" in expect:
        message = Message.objects.get(direction="in")
        assert message.status == expect["status"]
        assert "\x00" not in message.text
        # Nothing runs on nothing: an inbound message left for the pipeline has words or media to read.
        if message.status == "received":
            assert message.text or message.media_id
        else:
            assert message.status_reason
    before = snapshot()
    assert post_signed(client, case["body"]).status_code == 200
    assert snapshot() == before


@pytest.mark.django_db
def test_reposting_the_whole_corpus_changes_nothing(client):
    for case in CORPUS:
        assert post_signed(client, case["body"]).status_code == 200, case["name"]
    before = snapshot()
    assert before["QuarantinedElement"] == 0
    for case in CORPUS:
        assert post_signed(client, case["body"]).status_code == 200, case["name"]
    assert snapshot() == before


def _batch(*elements, contacts):
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "1",
                "changes": [
                    {
                        "field": "messages",
                        "value": {"messaging_product": "whatsapp", "contacts": contacts, "messages": list(elements)},
                    }
                ],
            }
        ],
    }


@pytest.mark.django_db
def test_an_element_that_cannot_be_stored_is_quarantined_and_the_rest_of_its_batch_is_kept(client):
    long_bsuid = "BR." + "x1" * 64  # 131 characters: the documented maximum
    body = _batch(
        {"from_user_id": long_bsuid, "id": "wamid.LONG", "timestamp": "1", "type": "text", "text": {"body": "oi"}},
        {"from": "5511900000001", "id": "wamid.NUL", "timestamp": "1", "type": "text", "text": {"body": "a\x00b"}},
        {"from": "5511900000002", "id": "wamid." + "9" * 400, "timestamp": "1", "type": "text", "text": {"body": "x"}},
        {"from": "5511900000003", "id": "wamid.OK", "timestamp": "1", "type": "text", "text": {"body": "tudo bem"}},
        contacts=[{"user_id": long_bsuid, "profile": {"name": "Longo\x00"}}, {"wa_id": "5511900000001"}],
    )
    assert post_signed(client, body).status_code == 200
    assert set(Message.objects.values_list("wamid", flat=True)) == {"wamid.LONG", "wamid.NUL", "wamid.OK"}
    assert Message.objects.get(wamid="wamid.NUL").text == "ab"
    assert Contact.objects.get(user_id=long_bsuid).profile_name == "Longo"
    quarantined = QuarantinedElement.objects.get()
    assert quarantined.element == "message"
    assert "DataError" in quarantined.error
    assert quarantined.raw["value"]["messages"][0]["text"]["body"] == "x"
    # Reposting adds nothing, not even a second quarantine row.
    assert post_signed(client, body).status_code == 200
    assert QuarantinedElement.objects.count() == 1
    assert Message.objects.count() == 3
    assert quarantine_replay(quarantined_id=quarantined.pk).outcome == "still_failing"
    quarantined.refresh_from_db()
    assert quarantined.replay_count == 1
    assert quarantined.resolved_at is None


@pytest.mark.django_db
def test_a_quarantined_element_is_stored_when_replayed_after_the_fault_is_gone(client):
    body = _batch(
        {"from": "5511900000009", "id": "wamid.FLAKY", "timestamp": "1", "type": "text", "text": {"body": "oi"}},
        contacts=[{"wa_id": "5511900000009", "profile": {"name": "Bia"}}],
    )
    with mock.patch(
        "conversations.services.ingestion.conversation_get_or_start", side_effect=ValueError("a bug in one path")
    ):
        assert post_signed(client, body).status_code == 200
    quarantined = QuarantinedElement.objects.get()
    assert Message.objects.count() == 0
    assert quarantine_replay(quarantined_id=quarantined.pk).outcome == "replayed"
    message = Message.objects.get(wamid="wamid.FLAKY")
    assert message.conversation.contact.profile_name == "Bia"
    quarantined.refresh_from_db()
    assert quarantined.resolved_at is not None
    assert quarantine_replay(quarantined_id=quarantined.pk).outcome == "already_resolved"


@pytest.mark.django_db
def test_bodies_python_cannot_hold_get_a_4xx_never_a_5xx(client):
    deep = b"[" * 100_000 + b"]" * 100_000
    assert post_signed(client, None, raw=deep).status_code == 400
    huge_number = b'{"entry": [' + b"9" * 5000 + b"]}"
    assert post_signed(client, None, raw=huge_number).status_code == 400
    nan = b'{"object": "whatsapp_business_account", "entry": [{"changes": [{"field": "x", "value": {"n": NaN}}]}]}'
    assert post_signed(client, None, raw=nan).status_code == 200
    assert UnhandledEvent.objects.get().raw["value"]["n"] == "nan"
    assert len(deep) < settings.WEBHOOK_MAX_BODY_BYTES


@pytest.mark.django_db(transaction=True)
def test_concurrent_redeliveries_of_statuses_and_events_store_each_once_and_quarantine_nothing():
    by_name = {case["name"]: case["body"] for case in CORPUS}
    body = by_name["status_delivered_with_conversation_and_cbp_pricing"]
    body = {
        **body,
        "entry": body["entry"] + by_name["calls_connect"]["entry"] + by_name["a_field_nobody_foresaw"]["entry"],
    }
    barrier = threading.Barrier(4)
    statuses: list[int] = []

    def deliver():
        try:
            barrier.wait(timeout=30)
            statuses.append(post_signed(Client(), body).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert statuses == [200, 200, 200, 200]
    assert QuarantinedElement.objects.count() == 0
    assert (DeliveryStatus.objects.count(), WebhookEvent.objects.count(), UnhandledEvent.objects.count()) == (1, 1, 1)
