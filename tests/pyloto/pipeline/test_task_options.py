"""Every task of the project states its queue, acknowledges late, has time limits and retries only transient errors."""

import pytest
from django.db import InterfaceError, OperationalError

from config.celery_app import app
from pyloto.errors import TransientError
from pyloto.queues import Queue, route_by_declared_queue
from pyloto.whatsapp.errors import WhatsAppTransientError

PROJECT_PREFIXES = ("pyloto.", "conversations.", "institutional.", "llm.", "inbox.", "dashboard.")


def _project_tasks() -> dict:
    app.loader.import_default_modules()
    return {name: task for name, task in app.tasks.items() if name.startswith(PROJECT_PREFIXES)}


def test_the_project_has_its_tasks():
    names = set(_project_tasks())
    assert {
        "pyloto.pipeline.tasks.run_conversation",
        "pyloto.pipeline.tasks.finalize_reply",
        "pyloto.pipeline.tasks.send_reply",
        "llm.tasks.decide_state",
        "llm.tasks.write_reply",
        "llm.tasks.choose_message_type",
    } <= names


@pytest.mark.parametrize("name", sorted(_project_tasks()))
def test_task_options(name):
    task = _project_tasks()[name]
    assert isinstance(getattr(task, "route_queue", None), Queue), f"{name} names no queue"
    route = route_by_declared_queue(name, (), {}, {}, task=task)
    assert route is not None and route["queue"] == str(task.route_queue)
    assert task.acks_late is True, f"{name} must acknowledge after it ran (a killed worker's task is redelivered)"
    assert task.soft_time_limit and task.time_limit, f"{name} has no time limits"
    assert task.soft_time_limit < task.time_limit, f"{name}: the soft limit must come first, to clean up"
    retried = tuple(getattr(task, "autoretry_for", ()) or ())
    for error in retried:
        # Ours, or a dropped database connection (the step reads again on a fresh one).
        transient = (TransientError, WhatsAppTransientError, OperationalError, InterfaceError)
        assert issubclass(error, transient), f"{name} retries {error.__name__}"
    if retried or task.max_retries:
        assert task.max_retries is not None and task.max_retries <= 20, f"{name} retries without a bound"


@pytest.mark.parametrize(
    "name",
    [
        "pyloto.pipeline.tasks.ingest_webhook",
        "pyloto.pipeline.tasks.run_conversation",
        "pyloto.pipeline.tasks.finalize_reply",
        "pyloto.pipeline.tasks.record_shadow_run",
        "pyloto.pipeline.tasks.store_handoff_summary",
    ],
)
def test_the_steps_a_postgresql_restart_interrupts_retry_on_a_dropped_connection(name):
    # Without it one failed finalize left its run "queued" until the sweeper reclaimed it minutes later.
    task = _project_tasks()[name]
    assert {OperationalError, InterfaceError} <= set(task.autoretry_for)
    assert task.retry_jitter and task.max_retries
