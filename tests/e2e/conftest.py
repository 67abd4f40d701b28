"""A real Celery worker consuming every queue, the demo content published, and helpers to talk to it."""

import json
import time

import pytest
from celery.contrib.testing.worker import start_worker
from django.conf import settings
from django.core.management import call_command
from django.test import Client

from config.celery_app import app
from pyloto.queues import Queue
from pyloto.whatsapp import simulator

E2E_TIMEOUT_S = 20


@pytest.fixture
def worker(transactional_db):
    """One embedded worker (threads pool) on the pipeline, llm and delivery queues."""
    with start_worker(
        app,
        pool="threads",
        concurrency=12,
        perform_ping_check=False,
        shutdown_timeout=30,
        queues=[queue.value for queue in Queue],
        loglevel="WARNING",
    ) as running:
        yield running


@pytest.fixture
def demo_release(transactional_db):
    call_command("seed_demo", verbosity=0)


@pytest.fixture
def llm_on(fake_openai, settings):
    """The LLM path: the real openai SDK against the fake, no SDK-level retries (our tasks retry)."""
    settings.LLM_SDK_MAX_RETRIES = 0
    return fake_openai


def post_webhook(body: dict) -> str:
    raw, headers = simulator.signed_request(body, app_secret=settings.WHATSAPP_APP_SECRET)
    response = Client().post(
        "/webhooks/whatsapp/",
        data=raw,
        content_type="application/json",
        HTTP_X_HUB_SIGNATURE_256=headers["X-Hub-Signature-256"],
    )
    assert response.status_code == 200, response.content
    return response["X-Correlation-ID"]


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


def scripted(schema_name: str, response, **extra) -> dict:
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


def dumps(value) -> str:
    return json.dumps(value, ensure_ascii=False)
