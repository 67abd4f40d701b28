"""Every Prometheus metric of the service, defined once here, and the `/metrics` view.

Who records what:
- the webhook middleware: `WEBHOOK_LATENCY`, `ERRORS{component="webhook"}` on 5xx;
- ingestion and the pipeline: `MESSAGES{outcome}`, `END_TO_END_LATENCY` (customer's message
  persisted → reply accepted by the Cloud API), `FSM_DECISIONS`, `GUARD_BLOCKS`,
  `CONSTRAINT_VIOLATIONS_SENT` (a post-send audit only; it must stay 0), `DEAD_LETTERS`, `ERRORS`;
- the LLM client: `LLM_CALL_LATENCY`, `LLM_TOKENS`, `LLM_CALLS`;
- the circuit breaker: `CIRCUIT_BREAKER_STATE` (0 closed, 1 half-open, 2 open);
- Celery's `task_failure` signal: `ERRORS{component="task"}`;
- nobody: `pyloto_queue_depth`, `pyloto_oldest_unanswered_age_seconds` and
  `pyloto_inbound_open_messages` are computed when Prometheus scrapes, by `PipelineStateCollector`
  in the web process (Redis LLEN per Celery queue; one query on the partial index of open inbound
  messages), so they are right even when every worker is down — which is when they matter. So are
  this month's spend against the budget, `pyloto_month_spend_brl{source}` and `pyloto_month_budget_brl`
  (absent when no budget is set), from the KPI queries, cached `BUDGET_SCRAPE_CACHE_S` between scrapes.

Multi-process mode (gunicorn workers and Celery prefork children each count on their own):
set `PROMETHEUS_MULTIPROC_DIR` to an empty, writable directory in the environment of *every*
process (web, workers, beat) before it starts — prometheus-client picks its storage when it is
first imported — and empty that directory once before starting the processes (`rm -rf "$DIR" &&
mkdir -p "$DIR"`): files of a previous run would be added to this run's counters. `/metrics` then
merges every process's files with `MultiProcessCollector`; counters and histograms are summed,
`CIRCUIT_BREAKER_STATE` reports the maximum over live processes. Exiting Celery processes retire
their live gauges themselves (`install_celery_metrics`); gunicorn must do the same for its workers
with a `child_exit(server, worker)` hook calling `mark_process_dead(worker.pid)` from
`prometheus_client.multiprocess`. Without the variable everything lives in this process's default
registry, which is right for `runserver` and tests.
"""

from __future__ import annotations

import hmac
import os
import time
from collections.abc import Iterable
from datetime import datetime
from functools import lru_cache
from typing import Any

import redis
import structlog
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector

from pyloto.queues import Queue

log = structlog.get_logger(__name__)

# --- Webhook and message lifecycle --------------------------------------------------------------
WEBHOOK_LATENCY = Histogram(
    "pyloto_webhook_latency_seconds",
    "Time to answer a WhatsApp webhook POST (verify, parse, persist, enqueue).",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5),
)
MESSAGE_OUTCOMES = ("received", "answered", "handed_off", "dropped", "dead_lettered", "duplicate")
MESSAGES = Counter(
    "pyloto_messages",
    "Inbound messages by outcome: received on arrival, then one terminal outcome each.",
    ["outcome"],
)
END_TO_END_LATENCY = Histogram(
    "pyloto_end_to_end_latency_seconds",
    "From the inbound message persisted to the reply accepted by the WhatsApp Cloud API.",
    buckets=(0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 7.5, 10.0, 15.0, 30.0, 60.0, 120.0),
)
DEAD_LETTERS = Counter("pyloto_dead_letters", "Runs or sends written to the dead-letter table.")
RUNS_SUPERSEDED = Counter(
    "pyloto_runs_superseded",
    "Runs whose reply was dropped unsent because the customer wrote again meanwhile (the burst runs again).",
)
# --- Sending the way WhatsApp bills and limits it ---------------------------------------------------
SENDS_PLANNED = Counter(
    "pyloto_sends_planned",
    "Outbound messages by how the send planner sent them (free_form, template, refuse).",
    ["action"],
)
SEND_ASYNC_FAILURES = Counter(
    "pyloto_send_async_failures",
    "Accepted sends that WhatsApp later reported failed (or capped) in a status webhook, by error code.",
    ["code"],
)
SEND_PACING_WAIT = Histogram(
    "pyloto_send_pacing_wait_seconds",
    "How long a send waited for its turn in the per-number and per-recipient pacing buckets.",
    buckets=(0.0, 0.01, 0.05, 0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0),
)
SEND_THROTTLED = Counter(
    "pyloto_send_throttled", "Sends WhatsApp refused for pacing (130429 per number, 131056 per pair).", ["code"]
)
ERRORS = Counter("pyloto_errors", "Failures by component (webhook 5xx, task failures, LLM, delivery).", ["component"])

# --- LLM ---------------------------------------------------------------------------------------
LLM_CALL_LATENCY = Histogram(
    "pyloto_llm_call_latency_seconds",
    "Latency of one LLM call, by pipeline task (decide_state, write_reply, choose_message_type).",
    ["task"],
    buckets=(0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0),
)
LLM_TOKENS = Counter(
    "pyloto_llm_tokens", "Tokens used, by task and direction (prompt/completion).", ["task", "direction"]
)
LLM_CALLS = Counter(
    "pyloto_llm_calls",
    "LLM calls by task and outcome (ok, invalid_output, timeout, error, breaker_open, fallback).",
    ["task", "outcome"],
)

# --- Decisions and constraints ---------------------------------------------------------------------
FSM_DECISIONS = Counter(
    "pyloto_fsm_decisions", "State decisions: applied, refused by the FSM, or unchanged.", ["result"]
)
GUARD_BLOCKS = Counter(
    "pyloto_guard_blocks",
    "Replies the output guard blocked or rewrote, by constraint, action and the layer that fired.",
    ["constraint", "action", "layer"],
)
POLICY_JUDGE_VERDICTS = Counter(
    "pyloto_policy_judge_verdicts",
    "Verdicts of the LLM policy judge (allow, block, unsure, error) by mode, and whether the guard agreed.",
    ["mode", "verdict", "agreed"],
)
CONSTRAINT_VIOLATIONS_SENT = Counter(
    "pyloto_constraint_violations_sent",
    "Replies found to break a constraint AFTER being sent (post-send audit). Must stay 0.",
)

# --- Resilience -----------------------------------------------------------------------------------
CIRCUIT_BREAKER_STATE = Gauge(
    "pyloto_circuit_breaker_state",
    "Circuit breaker state by name: 0 closed, 1 half-open, 2 open.",
    ["name"],
    multiprocess_mode="livemax",
)
AMBIGUOUS_SEND_EVENTS = ("detected_timeout", "detected_worker_lost", "confirmed", "resent")
AMBIGUOUS_SENDS = Counter(
    "pyloto_ambiguous_sends",
    "Replies whose send outcome was unknown: detected (a timeout after the request went out, a worker "
    "lost holding the claim), then confirmed by a status webhook or resent.",
    ["event"],
)
BREAKER_STATE_VALUES = {"closed": 0, "half-open": 1, "half_open": 1, "open": 2}

# Labelled series appear only once used, and `increase()` cannot see a series' first sample:
# creating the known ones at zero lets the alerts catch the very first dead letter or drop.
for _outcome in MESSAGE_OUTCOMES:
    MESSAGES.labels(outcome=_outcome)
for _result in ("applied", "refused", "unchanged"):
    FSM_DECISIONS.labels(result=_result)
for _component in ("webhook", "task"):
    ERRORS.labels(component=_component)
for _event in AMBIGUOUS_SEND_EVENTS:
    AMBIGUOUS_SENDS.labels(event=_event)

QUEUE_DEPTH_METRIC = "pyloto_queue_depth"
OLDEST_UNANSWERED_METRIC = "pyloto_oldest_unanswered_age_seconds"
INBOUND_OPEN_METRIC = "pyloto_inbound_open_messages"
AMBIGUOUS_REPLIES_METRIC = "pyloto_ambiguous_replies"
MONTH_SPEND_METRIC = "pyloto_month_spend_brl"
MONTH_BUDGET_METRIC = "pyloto_month_budget_brl"
# The month's spend is a few aggregate queries over the month's statuses and LLM calls: once a minute is plenty.
BUDGET_SCRAPE_CACHE_S = 60
_BUDGET_CACHE_KEY = "metrics:month_spend"

# kombu's Redis transport keeps messages sent with a priority in extra lists beside the queue's.
_PRIORITY_SEPARATOR = "\x06\x16"
_PRIORITY_STEPS = (3, 6, 9)


def set_breaker_state(name: str, state: str) -> None:
    """Record a breaker's state ("closed", "half-open"/"half_open" or "open")."""
    CIRCUIT_BREAKER_STATE.labels(name=name).set(BREAKER_STATE_VALUES[state])


@lru_cache(maxsize=4)
def _redis_client(url: str) -> redis.Redis:
    # Short timeouts: a scrape must answer even when Redis does not.
    return redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)


def queue_depths(broker_url: str, queues: Iterable[str]) -> dict[str, int]:
    """Messages waiting (not yet reserved by a worker) per Celery queue on a Redis broker."""
    names = list(queues)
    pipe = _redis_client(broker_url).pipeline(transaction=False)
    for name in names:
        pipe.llen(name)
        for step in _PRIORITY_STEPS:
            pipe.llen(f"{name}{_PRIORITY_SEPARATOR}{step}")
    lengths = pipe.execute()
    per_queue = len(_PRIORITY_STEPS) + 1
    return {name: sum(lengths[i * per_queue : (i + 1) * per_queue]) for i, name in enumerate(names)}


def inbound_open_summary() -> tuple[int, datetime | None]:
    """How many inbound messages are still received/processing, and when the oldest arrived.

    The filter is exactly the predicate of `Message`'s partial index `msg_inbound_open_idx`, so
    PostgreSQL reads only that (small) index, whatever the size of the messages table.
    """
    from django.db.models import Count, Min

    from conversations.models import Message

    row = Message.objects.filter(
        direction=Message.Direction.INBOUND,
        status__in=[Message.Status.RECEIVED, Message.Status.PROCESSING],
    ).aggregate(count=Count("id"), oldest=Min("created_at"))
    return row["count"], row["oldest"]


def ambiguous_replies_count() -> int:
    """Replies whose send outcome is unknown right now (awaiting a status webhook or their resend)."""
    from conversations.models import Message

    return Message.objects.filter(status=Message.Status.SENDING, send_ambiguous_since__isnull=False).count()


def month_spend_summary() -> dict[str, float]:
    """This month's spend in BRL by source, and the budget (0: none), cached between scrapes."""
    from django.core.cache import cache

    cached = cache.get(_BUDGET_CACHE_KEY)
    if cached is not None:
        return cached
    from conversations.kpis import month_spend

    figures = month_spend()
    summary = {
        "whatsapp": float(figures.whatsapp_brl),
        "llm": float(figures.llm_brl),
        "budget": float(figures.budget_brl or 0),
    }
    cache.set(_BUDGET_CACHE_KEY, summary, BUDGET_SCRAPE_CACHE_S)
    return summary


class PipelineStateCollector(Collector):
    """Scrape-time gauges: Celery queue depths, the oldest unanswered inbound message, ambiguous replies, spend."""

    def collect(self) -> Iterable[Metric]:
        parts = {
            "queue_depth": self._queue_depth,
            "unanswered": self._unanswered,
            "ambiguous": self._ambiguous,
            "budget": self._budget,
        }
        for name, part in parts.items():
            try:
                families = list(part())
            except Exception as exc:  # noqa: BLE001 - a scrape never fails because the database or Redis is down
                # One event per part (`metrics_unanswered_failed`, …): the runbook names them.
                log.warning(f"metrics_{name}_failed", error=type(exc).__name__)
                continue
            yield from families

    def _budget(self) -> Iterable[Metric]:
        summary = month_spend_summary()
        spend = GaugeMetricFamily(
            MONTH_SPEND_METRIC,
            "Estimated spend since the 1st of this month, in BRL, by source (whatsapp, llm).",
            labels=["source"],
        )
        for source in ("whatsapp", "llm"):
            spend.add_metric([source], summary[source])
        yield spend
        if summary["budget"] > 0:
            yield GaugeMetricFamily(
                MONTH_BUDGET_METRIC, "The monthly budget for WhatsApp + LLM spend, in BRL.", value=summary["budget"]
            )

    def _ambiguous(self) -> Iterable[Metric]:
        count = ambiguous_replies_count()
        yield GaugeMetricFamily(
            AMBIGUOUS_REPLIES_METRIC,
            "Replies in `sending` whose outcome is unknown (waiting for a status webhook or their resend).",
            value=count,
        )

    def _queue_depth(self) -> Iterable[Metric]:
        family = GaugeMetricFamily(QUEUE_DEPTH_METRIC, "Messages waiting in each Celery queue.", labels=["queue"])
        if not str(settings.CELERY_BROKER_URL).startswith(("redis://", "rediss://", "unix://")):
            return  # embedded mode: tasks run in-process, there is no queue to measure
        depths = queue_depths(settings.CELERY_BROKER_URL, [q.value for q in Queue])
        for name, depth in depths.items():
            family.add_metric([name], depth)
        yield family

    def _unanswered(self) -> Iterable[Metric]:
        count, oldest = inbound_open_summary()
        age = max(0.0, time.time() - oldest.timestamp()) if oldest else 0.0
        yield GaugeMetricFamily(
            OLDEST_UNANSWERED_METRIC,
            "Age of the oldest inbound message still received/processing (0 when none): the loss detector.",
            value=age,
        )
        yield GaugeMetricFamily(INBOUND_OPEN_METRIC, "Inbound messages still received/processing.", value=count)


class _DefaultRegistry(Collector):
    """This process's own metrics (single-process mode)."""

    def collect(self) -> Iterable[Metric]:
        return REGISTRY.collect()


def build_registry(multiproc_dir: str = "") -> CollectorRegistry:
    """The registry `/metrics` renders: every process's files in multi-process mode, else ours."""
    registry = CollectorRegistry(auto_describe=False)
    if multiproc_dir:
        MultiProcessCollector(registry, path=multiproc_dir)
    else:
        registry.register(_DefaultRegistry())
    registry.register(PipelineStateCollector())
    return registry


def render_metrics(multiproc_dir: str = "") -> tuple[bytes, str]:
    """Prometheus text exposition and its content type."""
    return generate_latest(build_registry(multiproc_dir)), CONTENT_TYPE_LATEST


def metrics_view(request: HttpRequest) -> HttpResponse:
    """GET /metrics: Prometheus text format (no personal data); with METRICS_TOKEN set, only for its bearer."""
    if settings.METRICS_TOKEN and not hmac.compare_digest(
        request.headers.get("Authorization", "").encode(), f"Bearer {settings.METRICS_TOKEN}".encode()
    ):
        response = HttpResponse(
            "metrics need the bearer token (METRICS_TOKEN)\n", status=401, content_type="text/plain"
        )
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    body, content_type = render_metrics(settings.PROMETHEUS_MULTIPROC_DIR)
    return HttpResponse(body, content_type=content_type)


def _on_task_failure(**kwargs: Any) -> None:
    ERRORS.labels(component="task").inc()


def _on_process_exit(pid: int | None = None, **kwargs: Any) -> None:
    # A dead process's "live" gauges (the breaker state) must not outlive it in the aggregate.
    if settings.PROMETHEUS_MULTIPROC_DIR:
        mark_process_dead(pid or os.getpid(), settings.PROMETHEUS_MULTIPROC_DIR)


def install_celery_metrics() -> None:
    """Count failed tasks and retire exiting worker processes' gauges (idempotent; from `PylotoConfig.ready`)."""
    from celery.signals import task_failure, worker_process_shutdown, worker_shutdown

    task_failure.connect(_on_task_failure, weak=False, dispatch_uid="pyloto_metrics_task_failure")
    # Prefork children report their own exit; the main process (threads pools) reports at shutdown.
    worker_process_shutdown.connect(_on_process_exit, weak=False, dispatch_uid="pyloto_metrics_child_exit")
    worker_shutdown.connect(_on_process_exit, weak=False, dispatch_uid="pyloto_metrics_worker_exit")
