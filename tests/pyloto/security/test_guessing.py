"""Password guessing stops: the admin login locks a username, the API throttles, /metrics can demand a token."""

import pytest
from django.conf import settings
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient
from rest_framework.throttling import SimpleRateThrottle

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/?next=/admin/"


def _login(client, username: str, password: str):
    return client.post(LOGIN, {"username": username, "password": password, "next": "/admin/"})


def test_fifty_wrong_admin_passwords_in_a_row_lock_that_login_even_with_the_right_password(client):
    UserFactory(username="produto", password="s3cret-pass", is_staff=True)
    UserFactory(username="outra", password="s3cret-pass", is_staff=True)
    assert settings.AXES_FAILURE_LIMIT == 50

    for _ in range(49):
        assert _login(client, "produto", "wrong").status_code == 200  # the login form again, with its error
    # The 50th wrong password is answered with the lock itself.
    assert _login(client, "produto", "wrong").status_code == 429

    locked = _login(client, "produto", "s3cret-pass")
    assert locked.status_code == 429
    assert "Acesso bloqueado" in locked.content.decode()
    assert "_auth_user_id" not in client.session
    # Another login, from the same address, is not affected.
    assert _login(client, "outra", "s3cret-pass").status_code == 302


def test_a_right_password_before_the_limit_resets_the_count(client):
    UserFactory(username="produto", password="s3cret-pass", is_staff=True)
    for _ in range(49):
        _login(client, "produto", "wrong")
    assert _login(client, "produto", "s3cret-pass").status_code == 302
    client.logout()

    for _ in range(49):
        _login(client, "produto", "wrong")
    assert _login(client, "produto", "s3cret-pass").status_code == 302


@pytest.fixture
def low_rates(monkeypatch):
    # DRF binds the rates when the throttle classes load: the test changes that same table.
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {"user": "3/minute", "anon": "2/minute"})


def test_rates_come_from_settings():
    rest = settings.REST_FRAMEWORK
    assert rest["DEFAULT_THROTTLE_CLASSES"] == [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
    ]
    assert set(rest["DEFAULT_THROTTLE_RATES"]) == {"anon", "user"}


@pytest.mark.usefixtures("low_rates")
def test_the_api_answers_429_past_the_users_rate_with_retry_after():
    user = UserFactory(permissions=["conversations.view_conversation"])
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    url = reverse("api-conversation-list")

    assert [api.get(url).status_code for _ in range(3)] == [200, 200, 200]
    refused = api.get(url)
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0
    # Another user has a budget of their own.
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=UserFactory()).key}")
    assert other.get(reverse("api-kpis")).status_code != 429


@pytest.mark.usefixtures("low_rates")
def test_anonymous_callers_are_throttled_by_address():
    anonymous = APIClient()
    assert [anonymous.get("/api/schema/").status_code for _ in range(2)] == [200, 200]
    assert anonymous.get("/api/schema/").status_code == 429


def test_metrics_are_open_without_a_token_and_closed_to_anyone_without_it_once_set(client, settings):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics").status_code == 200

    settings.METRICS_TOKEN = "scrape-secret"
    refused = client.get("/metrics")
    assert refused.status_code == 401
    assert refused["WWW-Authenticate"].startswith("Bearer")
    assert b"pyloto_" not in refused.content
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    allowed = client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-secret")
    assert allowed.status_code == 200
    assert b"pyloto_" in allowed.content
