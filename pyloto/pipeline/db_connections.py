"""Workers drop a database connection the moment it proves unusable, not after CELERY_DB_REUSE_MAX tasks.

Celery's Django fixup lets a prefork child keep its connection across tasks without ever checking it,
so after a PostgreSQL restart every later task failed on the dead connection until the reuse count ran
out. After each task (success or failure) this does what Django does after each request: a connection
that saw an error and no longer answers is closed, so one task at most pays for a restart and the next
one draws a checked connection from the pool (CONN_HEALTH_CHECKS). Healthy connections are kept.
"""

from typing import Any

from celery.signals import task_postrun
from django.db import connections


@task_postrun.connect(weak=False)
def _close_unusable_connections(task: Any = None, **_: Any) -> None:
    # An eager task (embedded mode, tests) runs inside its caller's connection and transaction:
    # Celery's own fixup leaves those alone, and so does this.
    if task is None or getattr(task.request, "is_eager", False):
        return
    for connection in connections.all(initialized_only=True):
        # Django's close_if_unusable_or_obsolete would also close every healthy connection here (with a
        # pool CONN_MAX_AGE is 0): only the check it makes after an error is wanted.
        if connection.connection is None or not connection.errors_occurred or connection.in_atomic_block:
            continue
        if connection.is_usable():
            connection.errors_occurred = False  # a query error (a constraint, bad SQL), not the connection
        else:
            connection.close()  # the pool discards a broken connection handed back to it
