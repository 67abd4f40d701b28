"""Readiness checks of the process's dependencies, each bounded by a short timeout."""

import redis
from django.conf import settings
from django.db import connection
from django.db.migrations.executor import MigrationExecutor


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except Exception:  # noqa: BLE001 - any failure means "not ready"
        return False


def _migrations_applied() -> bool:
    try:
        executor = MigrationExecutor(connection)
        return not executor.migration_plan(executor.loader.graph.leaf_nodes())
    except Exception:  # noqa: BLE001
        return False


def _redis_ok(url: str) -> bool:
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
        return bool(client.ping())
    except Exception:  # noqa: BLE001
        return False


def check_readiness() -> dict[str, bool]:
    # Embedded mode runs tasks in-process with a local cache: there is no Redis or broker to wait for.
    embedded = settings.EMBEDDED
    return {
        "database": _database_ok(),
        "migrations": _migrations_applied(),
        "redis": embedded or _redis_ok(settings.REDIS_URL),
        "broker": embedded or _redis_ok(settings.CELERY_BROKER_URL),
    }
