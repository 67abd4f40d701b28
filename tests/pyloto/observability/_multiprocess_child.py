"""Runs in a child process of test_metrics: records metrics the way a gunicorn or Celery worker would."""


def record(received: int, breaker_state: str) -> None:
    # Imported here, in the child, so prometheus-client sees PROMETHEUS_MULTIPROC_DIR at import.
    from pyloto.observability import metrics

    metrics.MESSAGES.labels(outcome="received").inc(received)
    metrics.END_TO_END_LATENCY.observe(1.5)
    metrics.set_breaker_state("llm", breaker_state)
