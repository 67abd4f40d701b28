"""The webhook contract: handshake, signature, size and JSON checks, every payload shape, duplicates, statuses."""

import base64
import json
import threading
from datetime import timedelta
from unittest import mock

import pytest
import redis
from django.conf import settings
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

import tests.support as tests_support
from conversations.models import (
    Contact,
    Conversation,
    DeliveryStatus,
    Message,
    UnhandledEvent,
    WebhookElement,
    WebhookEvent,
)
from conversations.services.ingestion import webhook_elements_ingest
from pyloto.pipeline.sweeper import pipeline_sweep
from pyloto.queues import Queue
from pyloto.whatsapp import simulator
from pyloto.whatsapp.signature import sign_body
from tests.support import ingest_stored

URL = "/webhooks/whatsapp/"


def post_signed(client, body, *, secret=None, header=None, raw=None, read=True):
    data = raw if raw is not None else json.dumps(body).encode()
    signature = (
        header if header is not None else sign_body(app_secret=secret or settings.WHATSAPP_APP_SECRET, body=data)
    )
    extra = {"HTTP_X_HUB_SIGNATURE_256": signature} if signature else {}
    response = client.post(URL, data=data, content_type="application/json", **extra)
    if response.status_code == 200 and read:
        ingest_stored()  # the worker step the webhook enqueued, run here (no worker in these tests)
    return response


def broker_queue_length(queue: Queue) -> int:
    return redis.Redis.from_url(settings.CELERY_BROKER_URL).llen(queue.value)


def queued_tasks(queue: Queue) -> list[tuple[str, list]]:
    """(task name, positional args) of every message waiting on `queue`, oldest first per priority list."""
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    # kombu keeps one Redis list per priority step beside the plain one.
    keys = [queue.value, *sorted(k.decode() for k in broker.keys(f"{queue.value}\x06\x16*"))]
    envelopes = [json.loads(raw) for key in keys for raw in reversed(broker.lrange(key, 0, -1))]
    return [(e["headers"]["task"], json.loads(base64.b64decode(e["body"]))[0]) for e in envelopes]


# --- handshake -------------------------------------------------------------------------------------


def test_handshake_echoes_the_challenge_when_the_token_matches(client):
    response = client.get(
        URL, {"hub.mode": "subscribe", "hub.verify_token": settings.WHATSAPP_VERIFY_TOKEN, "hub.challenge": "12345"}
    )
    assert response.status_code == 200
    assert response.content == b"12345"
    assert response["Content-Type"].startswith("text/plain")


@pytest.mark.parametrize(
    "params",
    [
        {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"},
        {"hub.mode": "unsubscribe", "hub.verify_token": "test-verify-token", "hub.challenge": "1"},
        {"hub.challenge": "1"},
    ],
)
def test_handshake_refuses_a_wrong_token_or_mode(client, params):
    assert client.get(URL, params).status_code == 403


# --- signature, size, JSON -------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_correctly_signed_text_is_stored_and_answered_200_with_a_correlation_id(client):
    body = simulator.text_webhook(text="Olá, quero saber dos serviços", name="Ana")
    response = post_signed(client, body)
    assert response.status_code == 200
    assert len(response["X-Correlation-ID"]) == 32
    message = Message.objects.get()
    assert message.text == "Olá, quero saber dos serviços"
    assert message.direction == Message.Direction.INBOUND
    assert message.status == Message.Status.RECEIVED
    assert message.correlation_id == response["X-Correlation-ID"]
    assert message.conversation.contact.profile_name == "Ana"
    assert message.conversation.last_inbound_at is not None


@pytest.mark.django_db
@pytest.mark.parametrize(
    "how",
    ["wrong_secret", "missing_header", "altered_body", "wrong_prefix", "empty_header"],
)
def test_a_bad_signature_is_403_and_nothing_is_stored(client, how):
    body = simulator.text_webhook(text="oi")
    raw = json.dumps(body).encode()
    good = sign_body(app_secret=settings.WHATSAPP_APP_SECRET, body=raw)
    if how == "wrong_secret":
        response = post_signed(client, body, secret="another-secret")
    elif how == "missing_header":
        response = client.post(URL, data=raw, content_type="application/json")
    elif how == "altered_body":
        response = post_signed(client, body, raw=raw.replace(b"oi", b"ok"), header=good)
    elif how == "wrong_prefix":
        response = post_signed(client, body, raw=raw, header=good.replace("sha256=", "sha1="))
    else:
        response = post_signed(client, body, raw=raw, header="")
    assert response.status_code == 403
    assert Message.objects.count() == 0
    assert UnhandledEvent.objects.count() == 0


@pytest.mark.django_db
def test_a_signed_body_that_is_not_json_is_400(client):
    response = post_signed(client, None, raw=b"{not json")
    assert response.status_code == 400
    assert Message.objects.count() == 0


@pytest.mark.django_db
def test_a_body_over_4_mib_is_413(client):
    raw = b'{"pad": "' + b"x" * (4 * 1024 * 1024) + b'"}'
    response = post_signed(client, None, raw=raw)
    assert response.status_code == 413
    assert Message.objects.count() == 0


@pytest.mark.django_db
def test_a_3_mb_body_is_accepted(client):
    body = simulator.text_webhook(text="oi")
    body["padding"] = "x" * (3 * 1000 * 1000)
    assert post_signed(client, body).status_code == 200
    assert Message.objects.count() == 1


# --- every payload shape ---------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kind", "text", "stored_type", "stored_text", "status"),
    [
        ("text", "Quanto custa?", "text", "Quanto custa?", "received"),
        ("button_reply", "Serviços", "interactive", "Serviços", "received"),
        ("list_reply", "Consultoria", "interactive", "Consultoria", "received"),
        ("button", "Quero falar", "button", "Quero falar", "received"),
        ("image", "foto do produto", "image", "foto do produto", "received"),
        ("video", "", "video", "", "received"),
        ("document", "contrato.pdf", "document", "contrato.pdf", "received"),
        ("audio", "", "audio", "", "received"),
        ("sticker", "", "sticker", "", "dropped"),
        ("location", "Escritório", "location", "Escritório", "received"),
        ("contacts", "Maria", "contacts", "[contato compartilhado: Maria]", "received"),
        ("reaction", "👍", "reaction", "👍", "dropped"),
        ("unsupported", "", "unsupported", "", "dropped"),
        ("system", "", "system", "", "dropped"),
        ("edit", "", "unsupported", "", "dropped"),
        ("revoke", "", "unsupported", "", "dropped"),
    ],
)
def test_every_message_shape_is_stored(client, kind, text, stored_type, stored_text, status):
    element = simulator.message_element(kind=kind, text=text)
    body = simulator.webhook_body(messages=[element], contacts=[simulator.contact_element(wa_id="5511999990000")])
    assert post_signed(client, body).status_code == 200
    message = Message.objects.get()
    assert message.type == stored_type
    assert message.text == stored_text
    assert message.status == status
    assert message.raw == element
    if status == "dropped":
        assert message.status_reason


@pytest.mark.django_db
def test_every_entry_change_and_message_is_handled_not_only_the_first(client):
    def change(wa_id, texts):
        return {
            "field": "messages",
            "value": {
                "messaging_product": "whatsapp",
                "contacts": [simulator.contact_element(wa_id=wa_id)],
                "messages": [simulator.message_element(text=t, wa_id=wa_id) for t in texts],
            },
        }

    body = {
        "object": "whatsapp_business_account",
        "entry": [
            {"id": "1", "changes": [change("5511000000001", ["a1", "a2"]), change("5511000000002", ["b1"])]},
            {"id": "2", "changes": [change("5511000000003", ["c1", "c2", "c3"])]},
        ],
    }
    assert post_signed(client, body).status_code == 200
    assert sorted(Message.objects.values_list("text", flat=True)) == ["a1", "a2", "b1", "c1", "c2", "c3"]
    assert Contact.objects.count() == 3
    assert Conversation.objects.count() == 3


@pytest.mark.django_db
def test_a_sender_with_only_a_business_scoped_user_id_gets_a_contact_keyed_on_it(client):
    body = simulator.text_webhook(text="oi", wa_id=None, user_id="BR.1502576394655843", name="Bia")
    assert post_signed(client, body).status_code == 200
    contact = Contact.objects.get()
    assert contact.user_id == "BR.1502576394655843"
    assert contact.wa_id is None
    assert contact.recipient == {"recipient": "BR.1502576394655843"}
    # A later message carrying both ids lands on the same contact and conversation.
    both = simulator.text_webhook(text="de novo", wa_id="5511988887777", user_id="BR.1502576394655843")
    assert post_signed(client, both).status_code == 200
    contact.refresh_from_db()
    assert Contact.objects.count() == 1
    assert contact.wa_id == "5511988887777"
    assert Conversation.objects.count() == 1


@pytest.mark.django_db
def test_two_people_sharing_nothing_get_two_contacts(client):
    post_signed(client, simulator.text_webhook(text="a", wa_id="5511000000001"))
    post_signed(client, simulator.text_webhook(text="b", wa_id=None, user_id="BR.77"))
    assert Contact.objects.count() == 2


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [
        {
            "object": "whatsapp_business_account",
            "entry": [{"id": "1", "changes": [{"field": "account_update", "value": {"event": "X"}}]}],
        },
        {"object": "whatsapp_business_account", "entry": "not a list"},
        {"object": "whatsapp_business_account", "entry": [{"id": "1"}]},
        {
            "object": "whatsapp_business_account",
            "entry": [{"id": "1", "changes": [{"field": "messages", "value": {"messages": [{"no": "id"}]}}]}],
        },
        {
            "object": "whatsapp_business_account",
            "entry": [{"id": "1", "changes": [{"field": "messages", "value": {"messages": ["text"]}}]}],
        },
        [1, 2, 3],
    ],
)
def test_unknown_or_malformed_shapes_are_recorded_and_answered_200(client, body):
    assert post_signed(client, body).status_code == 200
    assert UnhandledEvent.objects.count() + WebhookEvent.objects.count() >= 1
    assert Message.objects.count() == 0


# --- duplicates ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_redelivered_message_is_acknowledged_and_not_stored_twice(client):
    body = simulator.text_webhook(text="oi", wamid="wamid.DUP1")
    assert post_signed(client, body).status_code == 200
    assert post_signed(client, body).status_code == 200
    assert Message.objects.filter(wamid="wamid.DUP1").count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_deliveries_of_the_same_message_store_it_once_and_enqueue_once():
    body = simulator.text_webhook(text="oi", wamid="wamid.RACE", wa_id="5511912345678")
    barrier = threading.Barrier(4)
    statuses: list[int] = []

    def deliver():
        try:
            barrier.wait()
            statuses.append(post_signed(Client(), body).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200, 200, 200, 200]
    assert WebhookElement.objects.filter(key__startswith="message:wamid.RACE|").count() == 1
    assert Message.objects.filter(wamid="wamid.RACE").count() == 1
    assert Contact.objects.count() == 1
    assert Conversation.objects.count() == 1
    assert [name for name, _ in queued_tasks(Queue.PIPELINE)].count("pyloto.pipeline.tasks.run_conversation") == 1
    # One delivery stored it and enqueued its reading; the others found it stored.
    assert [name for name, _ in queued_tasks(Queue.INGEST)].count("pyloto.pipeline.tasks.ingest_webhook") == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_first_messages_of_one_new_contact_share_one_conversation():
    bodies = [simulator.text_webhook(text=f"parte {i}", wa_id="5511955554444") for i in range(4)]
    barrier = threading.Barrier(4)

    def deliver(body):
        try:
            barrier.wait()
            post_signed(Client(), body)
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver, args=(b,)) for b in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert Message.objects.count() == 4
    assert Contact.objects.count() == 1
    assert Conversation.objects.count() == 1


# --- enqueue on commit -----------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_follow_up_is_enqueued_after_commit_once_per_conversation(client):
    body = simulator.webhook_body(
        messages=[simulator.message_element(text=t, wa_id="5511900000001") for t in ("um", "dois", "três")],
        contacts=[simulator.contact_element(wa_id="5511900000001")],
    )
    assert post_signed(client, body).status_code == 200
    # One run for the three (its first step sends the read receipt); nothing for the delivery queue.
    assert broker_queue_length(Queue.DELIVERY) == 0
    conversation_id = Message.objects.get(text="três").conversation_id
    runs = [args for name, args in queued_tasks(Queue.PIPELINE) if name == "pyloto.pipeline.tasks.run_conversation"]
    assert runs == [[conversation_id]]


@pytest.mark.django_db(transaction=True)
def test_the_webhook_stores_in_one_statement_reads_nothing_and_enqueues_one_task(client):
    body = simulator.webhook_body(
        messages=[simulator.message_element(text=t, wa_id="5511900000002") for t in ("um", "dois")],
        contacts=[simulator.contact_element(wa_id="5511900000002")],
        statuses=[simulator.status_element(wamid="wamid.SOMEOUT", status="read")],
    )
    with CaptureQueriesContext(connection) as queries:
        assert post_signed(client, body, read=False).status_code == 200
    assert [q["sql"].split()[0] for q in queries.captured_queries] == ["INSERT"]
    stored = list(WebhookElement.objects.order_by("pk"))
    assert [e.key.split(":")[0] for e in stored] == ["message", "message", "status"]
    assert all(e.processed_at is None for e in stored)
    # Nothing is read in the request: contacts, conversations and messages are the worker's.
    assert (Contact.objects.count(), Message.objects.count(), DeliveryStatus.objects.count()) == (0, 0, 0)
    # Its reading goes to the ingest queue, never to the pipeline processes the runs need.
    assert queued_tasks(Queue.INGEST) == [("pyloto.pipeline.tasks.ingest_webhook", [[e.pk for e in stored]])]
    assert queued_tasks(Queue.PIPELINE) == []
    # A redelivery is acknowledged, stored nowhere and enqueues nothing.
    assert post_signed(client, body, read=False).status_code == 200
    assert WebhookElement.objects.count() == 3
    assert len(queued_tasks(Queue.INGEST)) == 1


@pytest.mark.django_db(transaction=True)
def test_a_step_that_rolls_back_leaves_its_elements_to_be_read_again(client):
    assert post_signed(client, simulator.text_webhook(text="oi"), read=False).status_code == 200
    ids = list(WebhookElement.objects.values_list("pk", flat=True))
    with pytest.raises(RuntimeError), transaction.atomic():
        webhook_elements_ingest(element_ids=ids)
        raise RuntimeError("boom")
    assert Message.objects.count() == 0
    assert WebhookElement.objects.get().processed_at is None
    assert len(webhook_elements_ingest(element_ids=ids).stored_message_ids) == 1
    # Read: the content lives on in the message; the row keeps only its key (a redelivery's duplicate).
    assert WebhookElement.objects.get().body == {}
    # Read once: a second call (a re-drive racing the first task) stores nothing more.
    assert webhook_elements_ingest(element_ids=ids).stored_message_ids == []
    assert Message.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_broker_outage_at_enqueue_time_still_answers_200_and_the_sweeper_redrives_the_reading(client):
    with mock.patch(
        "pyloto.pipeline.tasks.ingest_webhook.apply_async", side_effect=ConnectionError("broker down")
    ) as enqueue:
        response = post_signed(client, simulator.text_webhook(text="oi"), read=False)
    assert response.status_code == 200 and enqueue.called
    element = WebhookElement.objects.get()
    assert queued_tasks(Queue.INGEST) == []
    pipeline_sweep(now=timezone.now())  # too early: the enqueue may still be on its way
    assert queued_tasks(Queue.INGEST) == []
    counts = pipeline_sweep(now=timezone.now() + timedelta(seconds=settings.SWEEP_REDRIVE_AFTER_S + 1))
    assert counts["webhook_elements_redriven"] == 1
    assert queued_tasks(Queue.INGEST) == [("pyloto.pipeline.tasks.ingest_webhook", [[element.pk]])]
    ingest_stored()
    assert Message.objects.get().status == Message.Status.RECEIVED


@pytest.mark.django_db(transaction=True)
def test_dropped_messages_enqueue_nothing(client):
    body = simulator.webhook_body(
        messages=[simulator.message_element(kind="reaction", text="❤️")],
        contacts=[simulator.contact_element(wa_id="5511999990000")],
    )
    assert post_signed(client, body).status_code == 200
    assert "pyloto.pipeline.tasks.run_conversation" not in [name for name, _ in queued_tasks(Queue.PIPELINE)]


# --- statuses --------------------------------------------------------------------------------------


@pytest.fixture
def outbound(db):
    contact = Contact.objects.create(wa_id="5511977776666")
    conversation = Conversation.objects.create(contact=contact, last_activity_at="2026-01-01T00:00:00Z")
    return Message.objects.create(
        conversation=conversation, direction="out", wamid="wamid.OUT1", type="text", status="sent"
    )


@pytest.mark.django_db
def test_statuses_advance_the_outbound_message_and_never_go_back(client, outbound):
    body = simulator.webhook_body(
        statuses=[
            simulator.status_element(wamid="wamid.OUT1", status="read"),
            simulator.status_element(wamid="wamid.OUT1", status="delivered"),
        ]
    )
    assert post_signed(client, body).status_code == 200
    outbound.refresh_from_db()
    assert outbound.status == "read"
    assert DeliveryStatus.objects.filter(message=outbound).count() == 2


@pytest.mark.django_db
def test_a_failed_status_records_its_errors(client, outbound):
    errors = [{"code": 131026, "title": "Message undeliverable"}]
    body = simulator.webhook_body(
        statuses=[simulator.status_element(wamid="wamid.OUT1", status="failed", errors=errors)]
    )
    assert post_signed(client, body).status_code == 200
    outbound.refresh_from_db()
    assert outbound.status == "failed"
    assert outbound.errors == errors


@pytest.mark.django_db
def test_a_status_for_an_unknown_message_is_kept(client):
    body = simulator.webhook_body(statuses=[simulator.status_element(wamid="wamid.NOPE", status="delivered")])
    assert post_signed(client, body).status_code == 200
    status = DeliveryStatus.objects.get()
    assert status.message is None
    assert status.wamid == "wamid.NOPE"


@pytest.mark.django_db
def test_messages_and_statuses_in_one_body_are_all_handled(client, outbound):
    body = simulator.webhook_body(
        messages=[simulator.message_element(text="oi", wa_id="5511977776666")],
        contacts=[simulator.contact_element(wa_id="5511977776666")],
        statuses=[simulator.status_element(wamid="wamid.OUT1", status="delivered")],
    )
    assert post_signed(client, body).status_code == 200
    outbound.refresh_from_db()
    assert outbound.status == "delivered"
    assert Message.objects.filter(direction="in").count() == 1


# --- status-only webhooks are read in batches (ADR 0022) -------------------------------------------


def _status_webhook(status: str) -> dict:
    return simulator.webhook_body(statuses=[simulator.status_element(wamid="wamid.OUT1", status=status)])


@pytest.mark.django_db(transaction=True)
def test_status_only_webhooks_of_one_window_schedule_one_read_that_reads_them_all(client, outbound):
    from pyloto.pipeline.tasks import ingest_waiting_elements

    for status in ("sent", "delivered"):
        assert post_signed(client, _status_webhook(status), read=False).status_code == 200
    assert WebhookElement.objects.filter(processed_at__isnull=True).count() == 2
    # One task for the window, due once it ends; the second status found it due and only stored.
    assert [name for name, _args in queued_tasks(Queue.INGEST)] == ["pyloto.pipeline.tasks.ingest_waiting_elements"]
    (envelope,) = tests_support.queued_tasks(Queue.INGEST)
    assert envelope["headers"]["eta"] is not None

    assert ingest_waiting_elements() == 2

    outbound.refresh_from_db()
    assert outbound.status == "delivered"
    assert DeliveryStatus.objects.filter(message=outbound).count() == 2
    assert not WebhookElement.objects.filter(processed_at__isnull=True).exists()
    # The batch began: the next status schedules the next window's read.
    assert post_signed(client, _status_webhook("read"), read=False).status_code == 200
    assert len(queued_tasks(Queue.INGEST)) == 2


@pytest.mark.django_db(transaction=True)
def test_a_status_stored_while_its_batch_is_due_is_read_by_that_batch_even_after_a_message(client, outbound):
    from pyloto.pipeline.tasks import ingest_waiting_elements

    assert post_signed(client, _status_webhook("delivered"), read=False).status_code == 200
    message_body = simulator.webhook_body(
        messages=[simulator.message_element(text="oi", wa_id="5511977776666")],
        contacts=[simulator.contact_element(wa_id="5511977776666")],
    )
    assert post_signed(client, message_body, read=False).status_code == 200
    assert post_signed(client, _status_webhook("read"), read=False).status_code == 200
    # A message is read at once by its own task; the statuses wait for the batch.
    names = [name for name, _args in queued_tasks(Queue.INGEST)]
    assert sorted(names) == ["pyloto.pipeline.tasks.ingest_waiting_elements", "pyloto.pipeline.tasks.ingest_webhook"]

    # Whichever reads first reads an element once: the batch takes everything unread, the message's own
    # task then finds its element read.
    assert ingest_waiting_elements() == 3
    outbound.refresh_from_db()
    assert outbound.status == "read"
    assert Message.objects.filter(direction="in").count() == 1
    assert tests_support.queued_task_names(Queue.PIPELINE) == ["pyloto.pipeline.tasks.run_conversation"]


@pytest.mark.django_db(transaction=True)
def test_a_full_batch_schedules_the_next_at_once(client, outbound, monkeypatch):
    from pyloto.pipeline import dispatch
    from pyloto.pipeline.tasks import ingest_waiting_elements

    monkeypatch.setattr(dispatch, "STATUS_BATCH_LIMIT", 2)
    for status in ("sent", "delivered", "read"):
        assert post_signed(client, _status_webhook(status), read=False).status_code == 200
    redis.Redis.from_url(settings.CELERY_BROKER_URL).flushdb()

    assert ingest_waiting_elements() == 2
    (envelope,) = tests_support.queued_tasks(Queue.INGEST)
    assert envelope["headers"]["task"] == "pyloto.pipeline.tasks.ingest_waiting_elements"
    assert envelope["headers"]["eta"] is None  # more were waiting: no window to wait for
    assert ingest_waiting_elements() == 1
    outbound.refresh_from_db()
    assert outbound.status == "read"


@pytest.mark.django_db(transaction=True)
def test_without_redis_for_the_flag_every_status_schedules_its_read(client, outbound, monkeypatch):
    from pyloto.pipeline import dispatch

    class Unreachable:
        def set(self, *args, **kwargs):
            raise redis.ConnectionError("down")

    monkeypatch.setattr(dispatch, "resilience_redis", Unreachable)
    for status in ("sent", "delivered"):
        assert post_signed(client, _status_webhook(status), read=False).status_code == 200
    assert [name for name, _args in queued_tasks(Queue.INGEST)] == ["pyloto.pipeline.tasks.ingest_waiting_elements"] * 2
