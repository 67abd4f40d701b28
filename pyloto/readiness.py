"""Readiness checks of the process's dependencies: database, migrations, Redis and the broker.

The checks run in parallel and each is bounded by `READINESS_TIMEOUT_S`: a dependency that hangs
(a full connection pool, a black-holed Redis) is reported as failing instead of holding the probe
past the orchestrator's own timeout. A failing check logs why; the HTTP body only names it.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait

import redis
import structlog
from django.conf import settings
from django.db import close_old_connections, connection
from django.db.migrations.executor import MigrationExecutor

log = structlog.get_logger(__name__)

# Enough threads for one probe's checks plus a few stuck ones; a hung check holds a thread until
# its own client timeout, so probes cannot pile up threads without bound.
_EXECUTOR = ThreadPoolExecutor(max_workers=8, thread_name_prefix="readyz")
# Migrations do not un-apply themselves while a process runs: once seen applied, skip the
# (disk-reading) migration graph on later probes.
_migrations_seen_applied = False


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    finally:
        # This runs on a pool thread: hand the connection back instead of keeping it per thread.
        connection.close()


def _migrations_applied() -> bool:
    global _migrations_seen_applied
    if _migrations_seen_applied:
        return True
    try:
        executor = MigrationExecutor(connection)
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    finally:
        connection.close()
    if pending:
        log.warning("readiness_migrations_pending", count=len(pending), first=str(pending[0][0]))
        return False
    _migrations_seen_applied = True
    return True


def _redis_ok(url: str, timeout: float) -> bool:
    client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        return bool(client.ping())
    finally:
        client.close()


def _guarded(name: str, check: Callable[[], bool]) -> Callable[[], bool]:
    def run() -> bool:
        close_old_connections()
        try:
            return check()
        except Exception as exc:  # noqa: BLE001 - any failure means "not ready"; the log says which
            log.warning("readiness_check_failed", check=name, error=type(exc).__name__, detail=str(exc)[:200])
            return False

    return run


# Embedded mode has no Redis and no broker: said in the probe's body instead of reported as healthy.
EMBEDDED_NOT_CHECKED = {
    "redis": "embedded mode: the cache, breaker and rate limits live in this process's memory",
    "broker": "embedded mode: tasks run in-process inside the web server, there is no broker",
}


def check_readiness() -> dict[str, bool]:
    """Name → whether that dependency answered within `READINESS_TIMEOUT_S`; only what this mode uses."""
    timeout = settings.READINESS_TIMEOUT_S
    checks: dict[str, Callable[[], bool]] = {
        "database": _database_ok,
        "migrations": _migrations_applied,
    }
    # Embedded mode runs tasks in-process with a local cache: there is no Redis or broker to wait for.
    if not settings.EMBEDDED:
        checks["redis"] = lambda: _redis_ok(settings.REDIS_URL, timeout)
        checks["broker"] = lambda: _redis_ok(settings.CELERY_BROKER_URL, timeout)
    futures = {name: _EXECUTOR.submit(_guarded(name, check)) for name, check in checks.items()}
    # One deadline for all: the checks run side by side, so the probe takes at most `timeout`.
    wait(futures.values(), timeout=timeout)
    results: dict[str, bool] = {}
    for name, future in futures.items():
        if future.done():
            results[name] = future.result()
        else:
            log.warning("readiness_check_timed_out", check=name, timeout_s=timeout)
            results[name] = False
    return results
