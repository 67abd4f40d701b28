"""The conversations API: token auth, the queue listing, and take / resolve / return."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from config import api_urls
from conversations.models import Conversation, TransitionDecision
from conversations.states import State
from tests.factories import ConversationFactory, UserFactory

pytestmark = pytest.mark.django_db


def _client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def _action(conversation: Conversation, action: str) -> str:
    return reverse(f"api-conversation-{action}", args=[conversation.pk])


def test_anonymous_requests_are_refused():
    conversation = ConversationFactory(state=State.HANDOFF_REQUESTED)
    assert APIClient().get(reverse("api-conversation-list")).status_code == 401
    assert APIClient().post(_action(conversation, "take")).status_code == 401


def test_the_list_filters_by_state_and_the_queue_shows_waiting_time(support_agent):
    waiting = ConversationFactory(
        state=State.HANDOFF_REQUESTED, handoff_requested_at=timezone.now() - timedelta(minutes=10)
    )
    ConversationFactory(state=State.ANSWERING)
    client = _client(support_agent)

    by_state = client.get(reverse("api-conversation-list"), {"state": "handoff_requested"}).json()
    queue = client.get(reverse("api-conversation-list"), {"waiting": "true"}).json()
    everything = client.get(reverse("api-conversation-list")).json()

    assert [row["id"] for row in by_state["results"]] == [waiting.pk]
    assert [row["id"] for row in queue["results"]] == [waiting.pk]
    assert 590 <= queue["results"][0]["waiting_seconds"] <= 700
    assert everything["count"] == 2
    assert client.get(reverse("api-conversation-list"), {"state": "closed"}).status_code == 400


def test_the_list_needs_the_view_permission():
    assert _client(UserFactory()).get(reverse("api-conversation-list")).status_code == 403


def test_take_then_return_to_the_bot(support_agent):
    conversation = ConversationFactory(state=State.HANDOFF_REQUESTED)
    client = _client(support_agent)

    taken = client.post(_action(conversation, "take"), {}, format="json")
    assert taken.status_code == 200 and taken.json()["state"] == "human_active"
    assert Conversation.objects.get(pk=conversation.pk).assigned_to == support_agent

    returned = client.post(_action(conversation, "return"), {"note": "solved billing"}, format="json")
    assert returned.status_code == 200 and returned.json()["state"] == "triage"
    decision = TransitionDecision.objects.get(pk=returned.json()["decision_id"])
    assert (decision.actor, decision.reason, decision.transition) == (support_agent, "solved billing", "return_to_bot")


def test_resolve_from_the_queue(support_agent):
    conversation = ConversationFactory(state=State.HANDOFF_REQUESTED)
    response = _client(support_agent).post(_action(conversation, "resolve"), {"note": "spam"}, format="json")
    assert response.status_code == 200 and response.json()["outcome"] == "applied"
    assert Conversation.objects.get(pk=conversation.pk).state == State.RESOLVED


def test_an_impossible_action_is_409_and_changes_nothing(support_agent):
    conversation = ConversationFactory(state=State.RESOLVED)
    response = _client(support_agent).post(_action(conversation, "return"), {}, format="json")
    assert response.status_code == 409 and response.json()["refusal"] == "no_transition"
    assert Conversation.objects.get(pk=conversation.pk).state == State.RESOLVED


def test_users_without_the_handle_permission_get_403_and_change_nothing():
    conversation = ConversationFactory(state=State.HANDOFF_REQUESTED)
    viewer = UserFactory(permissions=["conversations.view_conversation"])
    assert _client(viewer).post(_action(conversation, "take"), {}, format="json").status_code == 403
    assert Conversation.objects.get(pk=conversation.pk).state == State.HANDOFF_REQUESTED


def test_an_unknown_conversation_is_404(support_agent):
    response = _client(support_agent).post(reverse("api-conversation-take", args=[999_999]), {}, format="json")
    assert response.status_code == 404


def test_the_openapi_schema_describes_these_views_without_warnings():
    GENERATOR_STATS.reset()
    schema = SchemaGenerator(patterns=api_urls.urlpatterns).get_schema(request=None, public=True)
    warnings = dict(GENERATOR_STATS._warn_cache) | dict(GENERATOR_STATS._error_cache)
    GENERATOR_STATS.reset()
    assert not warnings
    paths = schema["paths"]
    assert "/conversations/{conversation_id}/handoff/take/" in paths
    assert set(paths["/conversations/{conversation_id}/handoff/resolve/"]["post"]["responses"]) == {
        "200",
        "403",
        "404",
        "409",
    }
    parameters = {p["name"] for p in paths["/conversations/"]["get"]["parameters"]}
    assert {"state", "waiting", "limit", "offset"} <= parameters
