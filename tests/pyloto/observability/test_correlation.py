"""Correlation ids travel from the publisher into every task of chain(a, chord([b, c], d)) on a real worker."""

import json
import threading

import pytest
import structlog
from celery import chain, chord
from celery.contrib.testing.worker import start_worker

from config.celery_app import app
from pyloto.observability.correlation import (
    TASK_HEADER,
    bind_correlation_id,
    clear_correlation_id,
    correlation_scope,
    current_correlation_id,
    new_correlation_id,
)
from pyloto.observability.testing import capture_rendered_logs

log = structlog.get_logger(__name__)
_seen: list[tuple[str, str, str]] = []
_seen_lock = threading.Lock()


def _record(step: str, tag: str) -> None:
    cid = current_correlation_id()
    with _seen_lock:
        _seen.append((tag, step, cid))
    log.info("canvas_step_ran", step=step, tag=tag)


@app.task(name="tests.observability.decide", ignore_result=False)
def decide(tag: str) -> str:
    _record("decide", tag)
    return tag


@app.task(name="tests.observability.header", ignore_result=False)
def header(tag: str, step: str) -> str:
    _record(step, tag)
    return step


@app.task(name="tests.observability.finalize", ignore_result=False)
def finalize(results: list[str], tag: str) -> list[str]:
    _record("finalize", tag)
    return sorted(results)


def _canvas(tag: str):
    return chain(
        decide.s(tag),
        chord([header.s("write_reply"), header.s("choose_message_type")], finalize.s(tag)),
    )


@pytest.fixture
def worker():
    _seen.clear()
    with start_worker(app, pool="threads", concurrency=4, perform_ping_check=False, shutdown_timeout=20) as w:
        yield w


def test_scope_binds_restores_and_new_ids_are_unique():
    assert current_correlation_id() == ""
    with correlation_scope("outer"):
        with correlation_scope() as inner:
            assert current_correlation_id() == inner
            assert len(inner) == 32
        assert current_correlation_id() == "outer"
    assert current_correlation_id() == ""
    bind_correlation_id("bound")
    assert current_correlation_id() == "bound"
    clear_correlation_id()
    assert current_correlation_id() == ""
    assert new_correlation_id() != new_correlation_id()


def test_publishing_copies_the_bound_id_into_the_task_header():
    captured: dict = {}

    def _spy(headers=None, **kwargs):
        captured.update(headers or {})

    from celery.signals import before_task_publish

    before_task_publish.connect(_spy, weak=False)
    try:
        with correlation_scope("cid-publish"):
            decide.apply_async(("x",), queue="tests-observability-unconsumed")
    finally:
        before_task_publish.disconnect(_spy)
    assert captured[TASK_HEADER] == "cid-publish"


def test_every_task_of_a_chain_and_chord_sees_the_publishers_id(worker):
    first, second = "cid-canvas-first", "cid-canvas-second"
    with capture_rendered_logs() as lines:
        with correlation_scope(first):
            result_a = _canvas("a").apply_async()
        with correlation_scope(second):
            result_b = _canvas("b").apply_async()
        assert result_a.get(timeout=30) == ["choose_message_type", "write_reply"]
        assert result_b.get(timeout=30) == ["choose_message_type", "write_reply"]
        # A task published outside any scope must not inherit an id left behind on a worker thread.
        assert decide.delay("bare").get(timeout=30) == "bare"

    by_tag: dict[str, dict[str, str]] = {}
    for tag, step, cid in _seen:
        by_tag.setdefault(tag, {})[step] = cid
    expected_steps = {"decide", "write_reply", "choose_message_type", "finalize"}
    assert by_tag["a"] == dict.fromkeys(expected_steps, first)
    assert by_tag["b"] == dict.fromkeys(expected_steps, second)
    assert by_tag["bare"] == {"decide": ""}

    # The worker's log lines carry the id too, as rendered JSON.
    step_lines = [json.loads(line) for line in lines if "canvas_step_ran" in line]
    logged = {(r["tag"], r["step"]): r["correlation_id"] for r in step_lines}
    assert {logged[("a", step)] for step in expected_steps} == {first}
    assert {logged[("b", step)] for step in expected_steps} == {second}
    assert logged[("bare", "decide")] is None


def test_eager_tasks_keep_the_callers_id_and_leave_its_context_as_it_was():
    _seen.clear()
    with correlation_scope("cid-eager"):
        assert decide.apply(("eager",)).get() == "eager"
        context = structlog.contextvars.get_contextvars()
        assert context["correlation_id"] == "cid-eager"
        assert "task_id" not in context
    assert _seen == [("eager", "decide", "cid-eager")]
