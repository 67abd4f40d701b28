"""What `make run` settles before starting processes: the local fake's answer and tasks queued for another database."""

from __future__ import annotations

import subprocess
import time
from typing import Any

import httpx
import redis
import structlog
from celery import current_app
from django.conf import settings

from pyloto.queues import Queue

log = structlog.get_logger(__name__)

# In the broker's Redis: which database the queued tasks were written for.
BROKER_DATABASE_KEY = "pyloto:broker:database"
# kombu's Redis transport parks delivered-but-unacknowledged messages here and restores them to
# their queue after the visibility timeout: they are queued tasks too.
KOMBU_UNACKED_KEYS = ("unacked", "unacked_index", "unacked_mutex")
# Generous: a cold Python start on a loaded 2-core machine.
FAKE_START_TIMEOUT_S = 30.0


class StackStartError(Exception):
    """Something `make run` needs could not start; the message says what and what to do."""


def wait_until_answering(url: str, process: subprocess.Popen, *, timeout_s: float = FAKE_START_TIMEOUT_S) -> None:
    """Return once `url` answers HTTP; raise naming the process's exit code if it died or stayed silent."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        code = process.poll()
        if code is not None:
            raise StackStartError(f"the process serving {url} exited with code {code} before answering")
        try:
            httpx.get(url, timeout=1.0)
        except httpx.TransportError:
            time.sleep(0.1)
            continue
        return
    raise StackStartError(f"nothing answered at {url} within {timeout_s:g} s")


def database_identity(db: dict[str, Any]) -> str:
    """A database's identity: engine, host, port and name (never its credentials)."""
    return "|".join(str(db.get(key) or "") for key in ("ENGINE", "HOST", "PORT", "NAME"))


def drop_tasks_of_another_database() -> int:
    """Empty the broker's queues when their tasks were written for another database; how many went.

    A task carries row ids (`message_id=1`); run against another database it would act on whatever
    row has that id there. The messages behind dropped tasks are not lost: they stay in their own
    database, whose sweeper re-drives them when a stack runs on it again. Tasks queued for this same
    database are kept: they are this stack's unfinished work.
    """
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL, decode_responses=True)
    try:
        current = database_identity(settings.DATABASES["default"])
        previous = client.get(BROKER_DATABASE_KEY)
        if previous == current:
            return 0
        dropped = int(client.hlen("unacked"))
        with current_app.connection_for_write() as connection:
            channel = connection.default_channel
            for queue in Queue:
                dropped += int(channel.queue_purge(queue.value) or 0)
        client.delete(*KOMBU_UNACKED_KEYS)
        client.set(BROKER_DATABASE_KEY, current)
    finally:
        client.close()
    if dropped:
        log.warning(
            "broker_tasks_of_another_database_dropped",
            dropped=dropped,
            previous=previous or "unknown",
            current=current,
        )
    return dropped
