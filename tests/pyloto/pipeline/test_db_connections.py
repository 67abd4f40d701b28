"""A worker drops a database connection the task after it broke (a PostgreSQL restart), not 200 tasks later."""

from types import SimpleNamespace

import pytest
from django.db import OperationalError, connection, connections

from pyloto.pipeline.db_connections import _close_unusable_connections

pytestmark = pytest.mark.django_db(transaction=True)

WORKER_TASK = SimpleNamespace(request=SimpleNamespace(is_eager=False))


def _kill_backend_of_this_connection() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    killer = connections.create_connection("default")
    try:
        with killer.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    finally:
        killer.close()


def test_a_connection_broken_under_a_task_is_closed_after_it_and_the_next_task_works():
    _kill_backend_of_this_connection()  # what a PostgreSQL restart does to every open connection
    with pytest.raises(OperationalError), connection.cursor() as cursor:
        cursor.execute("SELECT 1")  # the one task that pays for the restart

    _close_unusable_connections(task=WORKER_TASK)

    assert connection.connection is None
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)


def test_a_healthy_connection_is_kept_across_tasks():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    kept = connection.connection

    _close_unusable_connections(task=WORKER_TASK)

    assert connection.connection is kept
