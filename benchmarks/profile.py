"""Profile the stack under load with py-spy: where each project process spends its CPU.

    .venv/bin/python -m benchmarks.profile            # 15 msgs/s for 20 s, every project process
    PROFILE_RATE=25 PROFILE_DURATION_S=30 PROFILE_PROCESSES=worker_pipeline .venv/bin/python -m benchmarks.profile

It starts the production topology like `make bench`, warms it up, runs one open-loop scenario while
`py-spy record --gil --subprocesses` samples each process (only threads holding the GIL: CPU, not
waiting), then prints the scenario's JSON line and, per process, the functions with the largest
share of samples (inclusive) and the hottest leaves (self). py-spy needs ptrace rights (root, or
CAP_SYS_PTRACE). Busy, many-threaded processes (the LLM worker's 64 threads) are undersampled:
trust the CPU seconds of the JSON line for totals, and the profile for the split.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from benchmarks import run
from benchmarks.stack import WORKERS, Stack, StackSettings, log

PROCESSES = ["web", "worker_pipeline", "worker_llm", "worker_delivery"]
# Frames that only say "a Celery worker / gunicorn is running": hiding them leaves the useful part.
SCAFFOLDING_FILES = {
    "threading.py",
    "thread.py",
    "gthread.py",
    "wsgi.py",
    "exception.py",
    "celery",
    "__main__.py",
    "core.py",
    "bootsteps.py",
    "worker.py",
    "pool.py",
    "process.py",
    "context.py",
    "asynpool.py",
    "prefork.py",
    "popen_fork.py",
    "decorators.py",
    "consumer.py",
    "loops.py",
    "hub.py",
    "trace.py",
}


def _frame_name(frame: str) -> str:
    function, _, where = frame.partition(" (")
    return f"{function} ({where.split(':')[0].rsplit('/', 1)[-1]}" if where else function


def summarize(collapsed: Path, *, top: int = 25) -> str:
    """Inclusive and self shares of py-spy's raw (collapsed) output."""
    inclusive: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        samples = int(count)
        frames = [_frame_name(frame) for frame in stack.split(";")[1:]]
        if not frames:
            continue
        total += samples
        for name in set(frames):
            inclusive[name] += samples
        leaves[frames[-1]] += samples
    lines = [f"{total} samples holding the GIL", "inclusive:"]
    shown = [
        (name, n)
        for name, n in inclusive.most_common()
        if not name.startswith("process ") and name.rpartition("(")[2] not in SCAFFOLDING_FILES
    ]
    lines += [f"  {100 * n / max(total, 1):5.1f}%  {name}" for name, n in shown[:top]]
    lines.append("self:")
    lines += [f"  {100 * n / max(total, 1):5.1f}%  {name}" for name, n in leaves.most_common(top // 2)]
    return "\n".join(lines)


def main() -> None:
    rate = float(os.environ.get("PROFILE_RATE", "15"))
    duration_s = float(os.environ.get("PROFILE_DURATION_S", "20"))
    names = os.environ.get("PROFILE_PROCESSES", ",".join(PROCESSES)).split(",")
    spy = Path(sys.executable).with_name("py-spy")
    out_dir = Path(tempfile.mkdtemp(prefix="pyloto-profile-"))
    config = StackSettings.from_env()
    with Stack(config) as stack:
        stack.start_fakes()
        stack.prepare_database()
        stack.start(["web", *WORKERS])
        stack.wait_ready()
        stack.wait_workers(WORKERS)
        run.warm_up(stack, llm_latency_ms=config.llm_latency_ms)
        spies = {
            name: subprocess.Popen(
                [
                    str(spy),
                    "record",
                    "--pid",
                    str(stack.processes[name].pid),
                    "--subprocesses",
                    "--gil",
                    "--nonblocking",
                    "--rate",
                    "200",
                    "--duration",
                    str(int(duration_s)),
                    "--format",
                    "raw",
                    "-o",
                    str(out_dir / f"{name}.txt"),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for name in names
        }
        log(f"profiling {', '.join(names)} at {rate:.0f} msgs/s for {duration_s:.0f} s")
        run.emit(
            run.end_to_end(
                stack,
                scenario="profile",
                prefix="5540",
                rate=rate,
                count=int(rate * duration_s),
                drain_s=30.0,
                llm_latency_ms=config.llm_latency_ms,
            )
        )
        for process in spies.values():
            process.wait(timeout=60)
    for name in names:
        path = out_dir / f"{name}.txt"
        body = summarize(path) if path.exists() else "no profile (py-spy needs ptrace rights)"
        sys.stdout.write(f"\n=== {name}\n{body}\n")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        log("interrupted: the stack was stopped")
        sys.exit(130)
