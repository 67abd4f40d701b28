"""What one answered message costs, step by step, in one process without Celery: SQL, Redis, log lines, CPU.

    .venv/bin/python -m benchmarks.steps                          # 35 new customers after 5 of warm-up
    .venv/bin/python -m benchmarks.steps --messages 60 --warmup 10
    .venv/bin/python -m benchmarks.steps --profile finalize --top 30   # cProfile of one step (or "all")
    .venv/bin/python -m benchmarks.steps --json                   # one JSON line instead of the table
    .venv/bin/python -m benchmarks.steps --messages 3 --queries   # each step's SQL statements

Each message comes from a new customer (the costliest path: a contact and a conversation to create)
and goes through the pipeline's steps in the order the workers run them, each called as the task
body calls it, against the real PostgreSQL and Redis and the fakes (the Graph recorder and the
OpenAI-compatible server, started as subprocesses without latency):

- `store`: the webhook's write (`webhook_store`) and its one publish (`webhook_elements_enqueue`);
- `ingest`: the reading step (`webhook_elements_ingest`) and the run's publish;
- `launch`: `run_launch` and what follows it (`run_step_follow`: the canvas publish, the read receipt);
- `llm`: the three LLM tasks' bodies (decide_state, then write_reply and choose_message_type);
- `finalize`: `run_finalize` (guard, transition, the reply row, the run's end);
- `send`: `finalized_follow` (the send from the finalizing worker, the check for a next run).

CPU is `time.process_time()` of this process only: the fakes, PostgreSQL and Redis run elsewhere,
and Celery's own machinery (receiving, acking, the prefork pipe) is not in it — this measures the
project's work itself. The figures are medians over the measured messages; the warm-up messages
fill the caches a long-running worker has warm (the release, the compiled guard, the HTTP pools).
SQL statements are counted by a Django execute wrapper, Redis commands where redis-py sends them,
log lines where the root handler receives them (rendered as JSON, masked, written to /dev/null).
The machine is shared: quote the load average printed with the figures, and compare runs made
back to back. `valgrind --tool=callgrind` on this module gives instruction counts independent of load.

The database (`BENCH_DATABASE_URL`, its name must contain "bench"; default `pyloto_bench_steps`) is
dropped and recreated, and the Redis database (`BENCH_REDIS_URL`, never db 0) flushed, as for `make bench`.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import logging
import os
import pstats
import statistics
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from benchmarks.stack import Stack, StackSettings, log

STEPS = ("store", "ingest", "launch", "llm", "finalize", "send")
PIPELINE_STEPS = ("ingest", "launch", "finalize", "send")  # the pipeline worker's share (the LLM worker does `llm`)
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/pyloto_bench_steps"
QUESTION = "Oi! Quanto custa o plano Essencial e como faço para contratar?"


@dataclass
class Tally:
    """Counters that every SQL statement, Redis command and log record bumps while the run goes on."""

    sql: int = 0
    redis: int = 0
    log_lines: int = 0
    # The statements themselves, when asked for (`--queries`): each step's of the last message.
    statements: list[str] | None = None

    def snapshot(self) -> tuple[int, int, int]:
        return self.sql, self.redis, self.log_lines


@dataclass
class StepFigures:
    cpu_ms: list[float] = field(default_factory=list)
    sql: list[int] = field(default_factory=list)
    redis: list[int] = field(default_factory=list)
    log_lines: list[int] = field(default_factory=list)


class _LogCounter(logging.Handler):
    def __init__(self, tally: Tally) -> None:
        super().__init__(level=logging.DEBUG)
        self.tally = tally

    def emit(self, record: logging.LogRecord) -> None:
        self.tally.log_lines += 1


def _instrument(tally: Tally) -> None:
    """Count SQL statements, Redis commands and log lines (each costs a Python call: noise, not signal)."""
    from django.db import connection
    from redis.connection import AbstractConnection

    def count_sql(execute: Callable, sql: str, params: Any, many: bool, context: Any) -> Any:
        tally.sql += 1
        if tally.statements is not None:
            tally.statements.append(sql)
        return execute(sql, params, many, context)

    connection.execute_wrappers.append(count_sql)
    send_command, pack_commands = AbstractConnection.send_command, AbstractConnection.pack_commands

    def counted_send_command(self: AbstractConnection, *args: Any, **kwargs: Any) -> Any:
        tally.redis += 1
        return send_command(self, *args, **kwargs)

    def counted_pack_commands(self: AbstractConnection, commands: Any) -> Any:
        commands = list(commands)
        tally.redis += len(commands)  # a pipeline packs its commands here and sends them in one write
        return pack_commands(self, commands)

    AbstractConnection.send_command = counted_send_command  # type: ignore[method-assign]
    AbstractConnection.pack_commands = counted_pack_commands  # type: ignore[method-assign]
    root = logging.getLogger()
    devnull = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process
    for handler in root.handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(devnull)
    root.addHandler(_LogCounter(tally))


class Profiler:
    """Times each step of each message; optionally keeps a cProfile of chosen steps."""

    def __init__(self, tally: Tally, *, profiled: set[str]) -> None:
        self.tally = tally
        self.figures = {name: StepFigures() for name in STEPS}
        self.statements: dict[str, list[str]] = {}
        # Timed by CPU, not by the clock: the waits on PostgreSQL and the fakes are not this process' work.
        self.profiles = {name: cProfile.Profile(time.process_time) for name in profiled}
        self.measuring = False

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        profile = self.profiles.get(name) if self.measuring else None
        sql, redis_commands, lines = self.tally.snapshot()
        if self.tally.statements is not None:
            self.tally.statements = self.statements[name] = []
        if profile is not None:
            profile.enable()
        started = time.process_time()
        try:
            yield
        finally:
            elapsed = time.process_time() - started
            if profile is not None:
                profile.disable()
            if self.tally.statements is not None:
                self.tally.statements = []  # what runs between steps is not the step's
        if self.measuring:
            figures = self.figures[name]
            figures.cpu_ms.append(elapsed * 1000)
            figures.sql.append(self.tally.sql - sql)
            figures.redis.append(self.tally.redis - redis_commands)
            figures.log_lines.append(self.tally.log_lines - lines)


def _webhook(index: int) -> bytes:
    from pyloto.whatsapp import simulator

    wa_id = f"5511{900000000 + index:09d}"
    body = simulator.text_webhook(text=QUESTION, wa_id=wa_id, name=f"Cliente {index}")
    return json.dumps(body, separators=(",", ":")).encode()


def one_message(profiler: Profiler, index: int, outcomes: Counter[str]) -> None:
    """One new customer's message through every step, as the workers would run it."""
    import structlog

    from conversations.services.ingestion import webhook_elements_ingest, webhook_store
    from llm.tasks import choose_message_type, decide_state, write_reply
    from pyloto.observability.correlation import correlation_scope, new_correlation_id
    from pyloto.pipeline import dispatch
    from pyloto.pipeline.finalize import run_finalize
    from pyloto.pipeline.run import run_launch

    structlog.contextvars.clear_contextvars()  # a worker's task starts from a clean context too
    raw = _webhook(index)
    with correlation_scope(new_correlation_id()) as correlation_id:
        with profiler.step("store"):
            element_ids = webhook_store(body=raw, payload=json.loads(raw), correlation_id=correlation_id).ids
            dispatch.webhook_elements_enqueue(element_ids=element_ids)
        with profiler.step("ingest"):
            ingested = webhook_elements_ingest(element_ids=element_ids)
            dispatch.ingested_follow_ups_enqueue(ingested)
        conversation_id = next(iter(ingested.conversations_to_run))
        with profiler.step("launch"):
            launched = run_launch(conversation_id=conversation_id)
            dispatch.run_step_follow(launched)
        outcomes[f"launch:{launched.outcome}"] += 1
        if launched.payload is None:
            return
        with profiler.step("llm"):
            decided = decide_state(launched.payload)
            parts = [write_reply(decided), choose_message_type(decided)]
        with profiler.step("finalize"):
            finalized = run_finalize(
                parts,
                run_key=launched.payload["run_key"],
                conversation_id=conversation_id,
                expected_state=launched.payload["current_state"],
            )
        with profiler.step("send"):
            dispatch.finalized_follow(finalized, conversation_id=conversation_id)
    structlog.contextvars.clear_contextvars()
    message = finalized.message
    if message is not None:
        message.refresh_from_db(fields=["status"])
    outcomes[f"reply:{message.status if message is not None else 'none'}"] += 1


def _median(values: list[float] | list[int]) -> float:
    return float(statistics.median(values)) if values else 0.0


def report(profiler: Profiler, *, load_before: tuple[float, ...], load_after: tuple[float, ...]) -> dict[str, Any]:
    steps = {}
    for name, figures in profiler.figures.items():
        steps[name] = {
            "cpu_ms_median": round(_median(figures.cpu_ms), 2),
            "cpu_ms_min": round(min(figures.cpu_ms), 2) if figures.cpu_ms else 0,
            "cpu_ms_p90": round(statistics.quantiles(figures.cpu_ms, n=10)[-1], 2) if len(figures.cpu_ms) > 1 else 0,
            "sql": _median(figures.sql),
            "redis": _median(figures.redis),
            "log_lines": _median(figures.log_lines),
        }
    pipeline = [steps[name] for name in PIPELINE_STEPS]
    return {
        "scenario": "steps",
        "messages": len(profiler.figures["ingest"].cpu_ms),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in load_after],
        "steps": steps,
        "pipeline_cpu_ms": round(sum(s["cpu_ms_median"] for s in pipeline), 2),
        "pipeline_sql": sum(s["sql"] for s in pipeline),
        "all_cpu_ms": round(sum(s["cpu_ms_median"] for s in steps.values()), 2),
    }


def _table(result: dict[str, Any], outcomes: Counter[str]) -> str:
    lines = [
        f"{result['messages']} messages, load average {result['load_average_before']} -> "
        f"{result['load_average_after']}; outcomes {dict(outcomes)}",
        f"{'step':<10}{'CPU ms (median)':>17}{'min':>8}{'p90':>8}{'SQL':>6}{'Redis':>7}{'log lines':>11}",
    ]
    for name, step in result["steps"].items():
        lines.append(
            f"{name:<10}{step['cpu_ms_median']:>17.2f}{step['cpu_ms_min']:>8.2f}{step['cpu_ms_p90']:>8.2f}"
            f"{step['sql']:>6.0f}{step['redis']:>7.0f}{step['log_lines']:>11.0f}"
        )
    lines.append(
        f"pipeline steps ({' + '.join(PIPELINE_STEPS)}): {result['pipeline_cpu_ms']:.2f} ms, "
        f"{result['pipeline_sql']:.0f} SQL; every step: {result['all_cpu_ms']:.2f} ms"
    )
    return "\n".join(lines)


def run(*, messages: int, warmup: int, profiled: set[str], top: int, as_json: bool, queries: bool) -> None:
    config = StackSettings.from_env()
    config.database_url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL)
    config.llm_latency_ms = 0.0
    config.graph_latency_ms = 0.0
    with Stack(config) as stack:
        stack.start_fakes()
        stack.prepare_database()
        os.environ.update(stack.env)
        import django

        django.setup()
        tally = Tally(statements=[] if queries else None)
        _instrument(tally)
        profiler = Profiler(tally, profiled=profiled)
        outcomes: Counter[str] = Counter()
        base = uuid.uuid4().int % 10_000_000
        log(f"{warmup} warm-up and {messages} measured messages, each from a new customer")
        load_before = os.getloadavg()
        for index in range(warmup + messages):
            profiler.measuring = index >= warmup
            one_message(profiler, base + index, outcomes)
            stack.purge_queues()  # nothing consumes the publishes: keep the broker's lists short
        load_after = os.getloadavg()
    result = report(profiler, load_before=load_before, load_after=load_after)
    if as_json:
        sys.stdout.write(json.dumps({**result, "outcomes": dict(outcomes)}) + "\n")
    else:
        sys.stdout.write(_table(result, outcomes) + "\n")
    for name, statements in profiler.statements.items():
        sys.stdout.write(f"=== SQL of {name} (the last message)\n" + "".join(f"{sql}\n" for sql in statements))
    for name, profile in profiler.profiles.items():
        out = io.StringIO()
        stats = pstats.Stats(profile, stream=out).strip_dirs()
        stats.sort_stats("cumulative").print_stats(top)
        stats.sort_stats("tottime").print_stats(top)
        sys.stdout.write(f"=== cProfile of {name}, CPU time (the figures above include its overhead)\n")
        sys.stdout.write(out.getvalue())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=35)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--profile", action="append", default=[], choices=[*STEPS, "all"], help="cProfile a step")
    parser.add_argument("--top", type=int, default=25, help="functions shown per cProfile listing")
    parser.add_argument("--json", action="store_true", help="one JSON line instead of the table")
    parser.add_argument("--queries", action="store_true", help="print each step's SQL (of the last message)")
    args = parser.parse_args()
    profiled = set(STEPS) if "all" in args.profile else set(args.profile)
    run(
        messages=args.messages,
        warmup=args.warmup,
        profiled=profiled,
        top=args.top,
        as_json=args.json,
        queries=args.queries,
    )


if __name__ == "__main__":
    main()
