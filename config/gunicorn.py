"""Gunicorn settings shared by every way of starting the web process (Procfile, docker-compose)."""

from prometheus_client import multiprocess


def post_worker_init(worker) -> None:
    """Pay the first request's costs before taking traffic, so no customer's webhook waits for them.

    Django resolves its URLconf lazily, and the webhook imports the pipeline's tasks on its first
    enqueue: together about two seconds on a cold process. The database pool opens here too.
    """
    from django.db import connection
    from django.urls import get_resolver

    import pyloto.pipeline.tasks  # noqa: F401 - imported for its side effect: loading the task modules

    get_resolver().url_patterns  # noqa: B018 - evaluated to import every view
    connection.ensure_connection()
    connection.close()  # back to the pool; request threads take their own


def child_exit(server, worker) -> None:
    """Drop a dead worker's live gauges from the multi-process metrics (prometheus-client's recipe)."""
    multiprocess.mark_process_dead(worker.pid)
