"""Sentry: Django and Celery integrations, release/environment tags, PII masked before anything leaves."""

import json
import logging

import pytest
import sentry_sdk
from sentry_sdk.transport import Transport

from pyloto.observability.correlation import correlation_scope
from pyloto.observability.sentry import init_sentry


class CapturingTransport(Transport):
    """Keeps envelopes in memory instead of sending them."""

    def __init__(self) -> None:
        super().__init__()
        self.envelopes = []

    def capture_envelope(self, envelope) -> None:
        self.envelopes.append(envelope)


@pytest.fixture
def transport():
    transport = CapturingTransport()
    assert init_sentry(
        dsn="http://public@127.0.0.1:9/1", environment="canary", release="pyloto@1.2.3", transport=transport
    )
    yield transport
    sentry_sdk.get_client().close()
    sentry_sdk.get_global_scope().set_client(None)


def _fail_for(phone: str, email: str) -> None:
    customer = {"wa_id": phone, "email": email}  # a local variable Sentry records with the frame
    raise ValueError(f"could not answer {customer['wa_id']} at {customer['email']}")


def test_nothing_is_initialised_without_a_dsn():
    assert init_sentry(dsn="", environment="local") is False
    assert not sentry_sdk.get_client().is_active()


def test_captured_exception_is_masked_and_tagged(transport):
    logging.getLogger("conversations.delivery").warning("retrying send to +55 11 98765-4321")
    with correlation_scope("cid-sentry-1"):
        try:
            _fail_for("5511987654321", "joao.silva@empresa.com.br")
        except ValueError as exc:
            sentry_sdk.capture_exception(exc)
    sentry_sdk.flush()

    events = [envelope.get_event() for envelope in transport.envelopes if envelope.get_event()]
    assert len(events) == 1
    event = events[0]
    raw = json.dumps(event)
    assert "5511987654321" not in raw
    assert "98765-4321" not in raw
    assert "joao.silva@empresa.com.br" not in raw
    exception = event["exception"]["values"][-1]
    assert exception["value"] == "could not answer *********4321 at j***@***.br"
    frame_vars = json.dumps([frame.get("vars", {}) for frame in exception["stacktrace"]["frames"]])
    assert "*********4321" in frame_vars  # local variables were sent, masked
    breadcrumbs = json.dumps(event["breadcrumbs"])
    assert "+55*******4321" in breadcrumbs
    assert event["environment"] == "canary"
    assert event["release"] == "pyloto@1.2.3"
    assert event["tags"]["correlation_id"] == "cid-sentry-1"
    assert "user" not in event or "ip_address" not in event.get("user", {})


def test_django_and_celery_integrations_are_enabled(transport):
    options = sentry_sdk.get_client().options
    integrations = sentry_sdk.get_client().integrations
    assert {"django", "celery", "logging"} <= set(integrations)
    assert not options["send_default_pii"]
    assert sentry_sdk.get_client().should_send_default_pii() is False
