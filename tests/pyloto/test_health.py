"""Liveness and readiness: 200 when the database, migrations, Redis and broker answer; 503 naming what fails."""

import socket
import threading

import pytest
from django.db.migrations.recorder import MigrationRecorder
from structlog.testing import capture_logs

from pyloto import readiness


@pytest.fixture
def fresh_migration_check(monkeypatch):
    monkeypatch.setattr(readiness, "_migrations_seen_applied", False)


@pytest.fixture
def silent_server():
    """A TCP server that accepts connections and never answers: a hung Redis."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted = []
    stop = threading.Event()

    def accept():
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join(2)
    for conn in accepted:
        conn.close()
    server.close()


def test_healthz_answers_while_the_process_runs(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.content == b"ok"
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_readyz_is_200_when_database_redis_and_broker_answer(client, fresh_migration_check):
    response = client.get("/readyz")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["failing"] == []
    assert body["mode"] == "full"
    assert body["checks"] == {"database": True, "migrations": True, "redis": True, "broker": True}
    assert "not_checked" not in body


@pytest.mark.django_db
def test_embedded_readyz_names_only_what_it_checked_and_says_why_redis_is_not(client, settings):
    # Embedded mode while no Redis answers: Redis and the broker must not be reported healthy.
    settings.EMBEDDED = True
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    settings.CELERY_BROKER_URL = "memory://"
    response = client.get("/readyz")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["mode"] == "embedded"
    assert body["checks"] == {"database": True, "migrations": True}
    assert set(body["not_checked"]) == {"redis", "broker"}
    assert "in-process" in body["not_checked"]["broker"]


@pytest.mark.django_db
def test_readyz_is_503_naming_redis_when_redis_is_unreachable(client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    response = client.get("/readyz")
    assert response.status_code == 503
    assert set(response.json()["failing"]) == {"redis", "broker"}


@pytest.mark.django_db
def test_readyz_names_a_hung_broker_as_failing(client, settings, silent_server):
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{silent_server}/0"
    # Long enough for the healthy checks to answer on a loaded machine (at 0.5 s they sometimes did not);
    # the silent broker never answers, so only a timeout can end its check.
    settings.READINESS_TIMEOUT_S = 5.0
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["failing"] == ["broker"]


@pytest.mark.django_db
def test_readiness_reports_a_check_that_never_returns_as_timed_out(monkeypatch, settings):
    # A check blocked on an event nobody sets can only end through the probe's deadline: the probe
    # returning at all, with that check failing and logged as timed out, proves the deadline works
    # whatever the machine's speed.
    released = threading.Event()
    monkeypatch.setattr(readiness, "_redis_ok", lambda url, timeout: released.wait() and False)
    settings.READINESS_TIMEOUT_S = 0.2
    try:
        with capture_logs() as logs:
            results = readiness.check_readiness()
    finally:
        released.set()
    assert results["redis"] is False and results["broker"] is False
    timed_out = {entry["check"] for entry in logs if entry["event"] == "readiness_check_timed_out"}
    assert timed_out == {"redis", "broker"}


@pytest.mark.django_db(transaction=True)
def test_readyz_is_503_naming_migrations_when_one_is_not_applied(client, fresh_migration_check):
    recorder = MigrationRecorder.Migration.objects
    latest = recorder.filter(app="sessions").order_by("-id").first()
    latest.delete()
    try:
        response = client.get("/readyz")
    finally:
        recorder.create(app=latest.app, name=latest.name)
    assert response.status_code == 503
    assert response.json()["failing"] == ["migrations"]


@pytest.mark.django_db
def test_a_passing_migration_check_is_remembered(fresh_migration_check, monkeypatch):
    assert readiness.check_readiness()["migrations"] is True
    # Consulting the migration graph again would now fail the check.
    monkeypatch.setattr(readiness, "MigrationExecutor", None)
    assert readiness.check_readiness()["migrations"] is True
