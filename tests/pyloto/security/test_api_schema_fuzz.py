"""Schemathesis against the project's own OpenAPI schema (/api/schema/): no input makes the API answer 5xx."""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from rest_framework.throttling import SimpleRateThrottle
from schemathesis.checks import not_a_server_error

from conversations.states import State
from tests.factories import ConversationFactory, UserFactory

# Loaded at collection from the running code's own schema view (no database needed to build it).
schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())


@pytest.fixture
def wsgi_keeps_the_test_connection():
    # Calls go through the real WSGI handler, which closes the database connection when a request
    # starts and ends; inside the test's transaction it must not, as Django's own test client arranges.
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


@pytest.fixture
def api_user(db, monkeypatch, wsgi_keeps_the_test_connection) -> tuple[str, list[int]]:
    """A user who may do everything the API offers, and rates high enough that fuzzing is never throttled."""
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {"user": "100000/minute", "anon": "100000/minute"})
    user = UserFactory(
        staff=True,
        permissions=["conversations.view_conversation", "conversations.handle_conversation"],
    )
    # Real rows in the states the actions need, so generated bodies reach the services, not only a 404.
    conversations = [ConversationFactory(state=state) for state in (State.HANDOFF_REQUESTED, State.HUMAN_ACTIVE)]
    return Token.objects.create(user=user).key, [c.pk for c in conversations]


@schema.parametrize()
@settings(
    max_examples=25,
    derandomize=True,  # the same cases on every run: make test stays reproducible
    deadline=None,  # a loaded machine must not turn slowness into a failure
    suppress_health_check=list(HealthCheck),
)
def test_no_api_input_gets_a_server_error(case, api_user):
    token, conversation_ids = api_user
    if case.path_parameters and "conversation_id" in case.path_parameters:
        # Every other case aims at a real conversation; the rest keep the generated (mostly unknown) id.
        generated = case.path_parameters["conversation_id"]
        if isinstance(generated, int) and generated % 2 == 0:
            case.path_parameters["conversation_id"] = conversation_ids[generated // 2 % len(conversation_ids)]
    case.call_and_validate(headers={"Authorization": f"Token {token}"}, checks=[not_a_server_error])
