"""What Celery alone costs a worker per message: four plain tasks against the run's chain and chord.

    .venv/bin/python -m benchmarks.canvas                 # 400 messages of each shape, two rounds
    .venv/bin/python -m benchmarks.canvas --messages 1000 --payload-kb 2 --shapes canvas

It starts one worker with the LLM worker's own Procfile command (threads pool, its concurrency,
`config.settings.production`, the project's broker transport and signal handlers) on a queue of its
own, and publishes Celery's built-in `celery.accumulate` (it returns its arguments, so the task's own
work is nil) in two shapes, each carrying a run-sized payload:

- `plain`: four independent tasks;
- `canvas`: the run's shape — `chain(task(payload), chord([task, task], task))`, the header tasks
  keeping their results for the chord, as decide_state, write_reply, choose_message_type and
  finalize_reply do.

It prints one JSON line per shape and round: the worker's CPU (utime+stime) per message, and the
publisher's. The difference between the two shapes is what the chain and the chord cost beyond the
tasks themselves. The database (`BENCH_DATABASE_URL`, its name must contain "bench") is recreated and
the Redis database (`BENCH_REDIS_URL`) flushed, as for `make bench`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

from benchmarks.stack import Stack, StackSettings, _tree_cpu_seconds, log

QUEUE = "bench_canvas"
WORKER = "worker_canvas"


def _payload(size_kb: float) -> dict[str, Any]:
    """A run payload's shape (messages, templates, history) of about `size_kb` kilobytes of JSON."""
    text = "Oi! Quanto custa o plano Essencial e como faço para contratar? "
    payload: dict[str, Any] = {"messages": [], "templates": {}, "history": []}
    while len(json.dumps(payload)) < size_kb * 1024:
        index = len(payload["messages"])
        payload["messages"].append({"role": "customer", "text": text})
        payload["templates"][f"modelo_{index}"] = {"version": 1, "text": text * 2}
        payload["history"].append({"source_state": "new", "proposed_state": "answering", "reason": text[:40]})
    return payload


def _publishers(payload: dict[str, Any]) -> dict[str, Callable[[], None]]:
    from celery import chain, chord
    from celery import current_app as app

    task = app.tasks["celery.accumulate"]

    def plain() -> None:
        for _ in range(4):
            task.apply_async((payload,), queue=QUEUE)

    def canvas() -> None:
        header = [task.s().set(queue=QUEUE, ignore_result=False) for _ in range(2)]
        chain(task.s(payload).set(queue=QUEUE), chord(header, task.s().set(queue=QUEUE))).apply_async()

    return {"plain": plain, "canvas": canvas}


def _drained(stack: Stack, *, settle_s: float = 2.0, timeout_s: float = 300.0) -> None:
    import redis

    client = redis.Redis.from_url(stack.config.redis_url)
    deadline = time.monotonic() + timeout_s
    while client.llen(QUEUE) and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(settle_s)  # the last messages' chord parts and bodies run after the list emptied
    if client.llen(QUEUE):
        raise RuntimeError(f"the {QUEUE} queue did not drain within {timeout_s:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--payload-kb", type=float, default=5.0, help="JSON size of the payload each message carries")
    parser.add_argument("--shapes", default="plain,canvas", help="which shapes to publish, in order")
    args = parser.parse_args()

    with Stack(StackSettings.from_env()) as stack:
        command = stack.commands["worker_llm"].replace("-Q llm", f"-Q {QUEUE}").replace("llm@%h", "canvas@%h")
        stack.commands[WORKER] = command
        stack.prepare_database()
        stack.start([WORKER])
        stack.wait_workers([WORKER])
        os.environ.update(stack.env)
        import django

        django.setup()
        every_shape = _publishers(_payload(args.payload_kb))
        publishers = {shape: every_shape[shape] for shape in args.shapes.split(",")}
        worker_pid = stack.processes[WORKER].pid
        for round_number in range(1, args.rounds + 1):
            for shape, publish in publishers.items():
                for _ in range(20):  # warm-up: connections, the chord's keys, the pool's threads
                    publish()
                _drained(stack)
                worker_before, publisher_before = _tree_cpu_seconds(worker_pid), time.process_time()
                for _ in range(args.messages):
                    publish()
                publisher_s = time.process_time() - publisher_before
                _drained(stack)
                worker_s = _tree_cpu_seconds(worker_pid) - worker_before
                line = {
                    "scenario": "canvas",
                    "shape": shape,
                    "round": round_number,
                    "messages": args.messages,
                    "payload_kb": args.payload_kb,
                    "worker_cpu_ms_per_msg": round(1000 * worker_s / args.messages, 2),
                    "publisher_cpu_ms_per_msg": round(1000 * publisher_s / args.messages, 2),
                    "load_average": [round(value, 2) for value in os.getloadavg()],
                }
                sys.stdout.write(json.dumps(line) + "\n")
                sys.stdout.flush()
                log(f"{shape}: {line['worker_cpu_ms_per_msg']} ms of worker CPU per message")


if __name__ == "__main__":
    main()
