"""/metrics: Prometheus text with every metric, scrape-time queue depth and loss detector, multi-process sums."""

import multiprocessing
from datetime import timedelta

import pytest
import redis
from celery.signals import task_failure
from django.conf import settings
from django.db import OperationalError
from django.utils import timezone
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from structlog.testing import capture_logs

from conversations.models import Contact, Conversation, Message
from pyloto.observability import metrics
from tests.pyloto.observability import _multiprocess_child

EXPECTED_NAMES = {
    "pyloto_webhook_latency_seconds",
    "pyloto_messages",
    "pyloto_end_to_end_latency_seconds",
    "pyloto_llm_call_latency_seconds",
    "pyloto_llm_tokens",
    "pyloto_llm_calls",
    "pyloto_fsm_decisions",
    "pyloto_guard_blocks",
    "pyloto_constraint_violations_sent",
    "pyloto_circuit_breaker_state",
    "pyloto_queue_depth",
    "pyloto_oldest_unanswered_age_seconds",
    "pyloto_inbound_open_messages",
    "pyloto_dead_letters",
    "pyloto_errors",
}


def _samples(text: str) -> dict[tuple[str, tuple], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def _families(text: str) -> set[str]:
    return {family.name for family in text_string_to_metric_families(text)}


def _inbound(*, age_s: float, status: str = Message.Status.RECEIVED) -> Message:
    contact, _ = Contact.objects.get_or_create(wa_id="5511900000001")
    conversation = Conversation.objects.create(contact=contact, last_activity_at=timezone.now())
    message = Message.objects.create(
        conversation=conversation, direction=Message.Direction.INBOUND, type="text", text="oi", status=status
    )
    Message.objects.filter(pk=message.pk).update(created_at=timezone.now() - timedelta(seconds=age_s))
    return message


@pytest.mark.django_db
def test_metrics_endpoint_exposes_every_metric_in_prometheus_text(client):
    metrics.LLM_CALL_LATENCY.labels(task="write_reply").observe(0.8)
    metrics.LLM_TOKENS.labels(task="write_reply", direction="prompt").inc(120)
    metrics.LLM_CALLS.labels(task="write_reply", outcome="ok").inc()
    metrics.GUARD_BLOCKS.labels(constraint="never_promise_price", action="blocked", layer="detector").inc()
    metrics.set_breaker_state("llm", "half-open")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    body = response.content.decode()
    assert _families(body) >= EXPECTED_NAMES
    samples = _samples(body)
    assert samples[("pyloto_circuit_breaker_state", (("name", "llm"),))] == 1
    assert samples[("pyloto_constraint_violations_sent_total", ())] >= 0
    # Known label sets exist from the start, so `increase()` sees the first dead letter or drop.
    assert ("pyloto_messages_total", (("outcome", "dead_lettered"),)) in samples


@pytest.mark.django_db
def test_queue_depth_is_read_from_the_broker_at_scrape_time(client):
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    broker.rpush("llm", "m1", "m2", "m3")
    broker.rpush("delivery", "m1")
    broker.rpush("delivery\x06\x163", "m2")  # kombu's list for messages sent with a priority
    samples = _samples(client.get("/metrics").content.decode())
    assert samples[("pyloto_queue_depth", (("queue", "llm"),))] == 3
    assert samples[("pyloto_queue_depth", (("queue", "delivery"),))] == 2
    assert samples[("pyloto_queue_depth", (("queue", "pipeline"),))] == 0


@pytest.mark.django_db
def test_oldest_unanswered_age_is_the_loss_detector(client):
    samples = _samples(client.get("/metrics").content.decode())
    assert samples[("pyloto_oldest_unanswered_age_seconds", ())] == 0
    _inbound(age_s=300)
    _inbound(age_s=30, status=Message.Status.PROCESSING)
    _inbound(age_s=900, status=Message.Status.ANSWERED)  # terminal: not counted
    samples = _samples(client.get("/metrics").content.decode())
    # The 300 s message is the oldest open one: not the 30 s one, not the answered 900 s one. The upper bound
    # only tells it from the answered one, so a stalled machine between the insert and the scrape cannot fail it.
    assert 299 <= samples[("pyloto_oldest_unanswered_age_seconds", ())] < 900
    assert samples[("pyloto_inbound_open_messages", ())] == 2


@pytest.mark.django_db
def test_the_loss_detector_query_can_use_the_partial_index():
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        assert metrics.inbound_open_summary() == (0, None)
    (query,) = queries.captured_queries
    with connection.cursor() as cursor:
        # With sequential scans priced out, only an index whose predicate the query implies is used.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {query['sql']}")
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "msg_inbound_open_idx" in plan, plan


@pytest.mark.django_db
def test_a_scrape_survives_an_unreachable_broker(client, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    with capture_logs() as logs:
        response = client.get("/metrics")
    assert response.status_code == 200
    body = response.content.decode()
    assert "pyloto_queue_depth{" not in body
    assert "pyloto_oldest_unanswered_age_seconds" in body
    assert [entry["event"] for entry in logs if entry["log_level"] == "warning"] == ["metrics_queue_depth_failed"]


@pytest.mark.django_db
def test_a_part_that_fails_mid_scrape_is_left_out_and_named_and_the_rest_is_served(client, monkeypatch):
    def database_gone() -> tuple[int, None]:
        raise OperationalError("the connection is lost")

    monkeypatch.setattr(metrics, "inbound_open_summary", database_gone)
    with capture_logs() as logs:
        response = client.get("/metrics")
    assert response.status_code == 200
    names = _families(response.content.decode())
    assert "pyloto_oldest_unanswered_age_seconds" not in names and "pyloto_inbound_open_messages" not in names
    assert {"pyloto_ambiguous_replies", "pyloto_month_spend_brl"} <= names
    failed = [entry for entry in logs if entry["event"] == "metrics_unanswered_failed"]
    assert failed and failed[0]["error"] == "OperationalError"


def test_webhook_posts_are_timed_and_other_paths_are_not(client):
    before = REGISTRY.get_sample_value("pyloto_webhook_latency_seconds_count") or 0
    response = client.post("/webhooks/whatsapp/", data=b"{}", content_type="application/json")
    assert response.status_code == 403  # unsigned: refused before anything is stored
    assert REGISTRY.get_sample_value("pyloto_webhook_latency_seconds_count") == before + 1
    client.get("/healthz")
    assert REGISTRY.get_sample_value("pyloto_webhook_latency_seconds_count") == before + 1


def test_failed_tasks_are_counted_as_errors():
    before = REGISTRY.get_sample_value("pyloto_errors_total", {"component": "task"})
    task_failure.send(sender=None, task_id="t1", exception=RuntimeError("x"))
    assert REGISTRY.get_sample_value("pyloto_errors_total", {"component": "task"}) == before + 1


@pytest.mark.django_db
def test_multiprocess_mode_sums_counters_across_processes(client, settings, tmp_path, monkeypatch):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    context = multiprocessing.get_context("spawn")
    pids = []
    for received, breaker in ((3, "closed"), (4, "open")):
        child = context.Process(target=_multiprocess_child.record, args=(received, breaker))
        child.start()
        child.join(30)
        assert child.exitcode == 0
        pids.append(child.pid)
    assert len(list(tmp_path.glob("counter_*.db"))) == 2  # one file per process

    settings.PROMETHEUS_MULTIPROC_DIR = str(tmp_path)
    samples = _samples(client.get("/metrics").content.decode())
    assert samples[("pyloto_messages_total", (("outcome", "received"),))] == 7
    assert samples[("pyloto_end_to_end_latency_seconds_count", ())] == 2
    assert samples[("pyloto_circuit_breaker_state", (("name", "llm"),))] == 2  # the max over processes
    # Scrape-time gauges are still computed by the serving process.
    assert ("pyloto_oldest_unanswered_age_seconds", ()) in samples

    # A worker process that exits retires its live gauges; counters keep what it counted.
    metrics._on_process_exit(pid=pids[1])
    samples = _samples(client.get("/metrics").content.decode())
    assert samples[("pyloto_circuit_breaker_state", (("name", "llm"),))] == 0
    assert samples[("pyloto_messages_total", (("outcome", "received"),))] == 7
