"""Gunicorn settings shared by every way of starting the web process (Procfile, docker-compose)."""

import os

from prometheus_client import multiprocess

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
from django.conf import settings

# Gunicorn's own lines (start-up, worker boots, access log) go through the app's handler: one clock
# (UTC, ISO 8601) and one format in every process, PII masking included. Gunicorn would otherwise
# stamp them in local time, which Django's TIME_ZONE turns into -03:00.
logconfig_dict = {
    **settings.LOGGING,
    "loggers": {
        **settings.LOGGING["loggers"],
        "gunicorn.error": {"level": "INFO", "handlers": [], "propagate": True},
        "gunicorn.access": {"level": "INFO", "handlers": [], "propagate": True},
    },
}
# The record carries the time; the path without its query string (the webhook handshake's is a secret).
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms'


def post_worker_init(worker) -> None:
    """Pay the first request's costs before taking traffic, so no customer's webhook waits for them.

    Django resolves its URLconf lazily, and the webhook imports the pipeline's tasks on its first
    enqueue: together about two seconds on a cold process. The database pool opens here too.
    """
    from django.apps import apps

    if not apps.ready:
        return  # not the Django application (the benchmark's ingest floor runs on these settings too)
    from django.db import connection
    from django.urls import get_resolver

    import pyloto.pipeline.tasks  # noqa: F401 - imported for its side effect: loading the task modules

    get_resolver().url_patterns  # noqa: B018 - evaluated to import every view
    connection.ensure_connection()
    connection.close()  # back to the pool; request threads take their own


def child_exit(server, worker) -> None:
    """Drop a dead worker's live gauges from the multi-process metrics (prometheus-client's recipe)."""
    multiprocess.mark_process_dead(worker.pid)


# Gunicorn's control socket defaults to one path per user: two stacks on one machine would fight over
# it, and nothing here uses `gunicornc`.
control_socket_disable = True
