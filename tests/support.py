"""Helpers for tests that talk to the webhook and wait for the pipeline."""

import time

from django.conf import settings
from django.test import Client

from conversations.models import Message, WebhookElement
from institutional.builtin import builtin_snapshot
from institutional.selectors import release_token_of
from pyloto.whatsapp import simulator

# Generous: it only bounds how long a failing test waits, on a machine others load too.
E2E_TIMEOUT_S = 60


def post_webhook(body: dict) -> str:
    """POST a body signed as Meta would; asserts 200 and returns the correlation id."""
    raw, headers = simulator.signed_request(body, app_secret=settings.WHATSAPP_APP_SECRET)
    response = Client().post(
        "/webhooks/whatsapp/",
        data=raw,
        content_type="application/json",
        HTTP_X_HUB_SIGNATURE_256=headers["X-Hub-Signature-256"],
    )
    assert response.status_code == 200, response.content
    return response["X-Correlation-ID"]


def ingest_stored() -> None:
    """What a worker does after the webhook, in this thread: read every stored element, start what follows.

    For tests without a worker; tests with one leave it to the worker (the path production takes).
    """
    from pyloto.pipeline.tasks import ingest_webhook

    waiting = list(WebhookElement.objects.filter(processed_at__isnull=True).values_list("pk", flat=True))
    if waiting:
        ingest_webhook(waiting)


def say(text: str, *, wa_id: str = "5511987650001", wamid: str | None = None) -> str:
    return post_webhook(simulator.text_webhook(text=text, wa_id=wa_id, wamid=wamid))


def wait_until(predicate, *, timeout: float = E2E_TIMEOUT_S, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")


def inbound_settled(count: int) -> bool:
    """All `count` inbound messages reached a terminal status."""
    inbound = Message.objects.filter(direction=Message.Direction.INBOUND)
    open_statuses = [Message.Status.RECEIVED, Message.Status.PROCESSING]
    return inbound.count() == count and not inbound.filter(status__in=open_statuses).exists()


def scripted(schema_name: str, response, **extra) -> dict:
    """A fake-OpenAI script entry answering the given structured-output schema."""
    return {"match": {"schema_name": schema_name}, "response": response, **extra}


def sent_texts(fake_graph) -> list[str]:
    texts = []
    for payload in fake_graph.sent_messages():
        if payload["type"] == "text":
            texts.append(payload["text"]["body"])
        elif payload["type"] == "interactive":
            texts.append(payload["interactive"]["body"]["text"])
        else:
            texts.append(payload[payload["type"]].get("caption", ""))
    return texts


TEXT_CHOICE = {
    "message_type": "TEXT",
    "buttons": [],
    "list_button_label": "",
    "list_rows": [],
    "media": None,
    "reason": "t",
}


def script_answers(fake, *, reply: str, first: list[dict] | None = None) -> None:
    """Script the fake LLM for every run: decide `answering`, write `reply`, send it as TEXT.

    `first` entries are tried before these (e.g. a different reply when the prompt contains a marker).
    """
    decision = {"target_state": "answering", "reason": "scripted", "customer_wants_human": False}
    fake.script(
        [
            *(first or []),
            scripted("StateDecision", decision, repeat=True),
            scripted("ReplyDraft", {"text": reply}, repeat=True),
            scripted("MessageTypeChoice", TEXT_CHOICE, repeat=True),
        ]
    )


def converse_run(tmp_path, *args: str, out=None) -> str:
    """`manage.py converse run ARGS` with its reports under `tmp_path` (r.json, j.xml); returns what it printed."""
    from io import StringIO

    from django.core.management import call_command

    out = out if out is not None else StringIO()
    call_command(
        "converse", "run", *args, "--junit", str(tmp_path / "j.xml"), "--json", str(tmp_path / "r.json"), stdout=out
    )
    return out.getvalue()


def queued_tasks(queue) -> list[dict]:
    """The task envelopes waiting on a broker queue, every priority level (kombu keeps one list per level)."""
    import json

    import redis
    from django.conf import settings

    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    keys = sorted(key for key in client.keys(f"{queue.value}*") if key.decode().split("\x06\x16")[0] == queue.value)
    return [json.loads(raw) for key in keys for raw in client.lrange(key, 0, -1)]


def queued_task_names(queue) -> list[str]:
    return [envelope["headers"]["task"] for envelope in queued_tasks(queue)]


def llm_payload(*, hours_line: str = "") -> dict:
    """A run's payload for the LLM steps, as the pipeline builds it, on the built-in release."""
    release = builtin_snapshot()
    return {
        "run_key": "r1",
        "conversation_id": 1,
        "correlation_id": "c1",
        "release_number": release.number,
        "release_token": release_token_of(release),
        "hours_line": hours_line,
        "templates": {name: {"version": t.version, "text": t.text} for name, t in release.templates.items()},
        "current_state": "new",
        "allowed_states": ["new", "triage", "answering"],
        "history": [],
        "messages": [{"role": "customer", "text": "Olá", "unanswered": True}],
    }
