"""`make faults`: the whole fault run — 1 000+ signed messages under load while every fault is injected.

Nothing on the machine is disturbed: a private PostgreSQL and a private Redis (no persistence, as on
this machine) are started on their own ports and data directories, and stopped at the end. The
fakes are the project's own (OpenAI-compatible server; Graph server that posts status webhooks, as
Meta does). The Procfile's processes run under the supervisor `make run` uses, which restarts a
process that dies.

It sends `FAULTS_MESSAGES` (1 500) messages at `FAULTS_RATE` (5/s), each from a new customer, and
every `FAULTS_EVERY_S` (40 s: each fault has its 30 s recovery budget before the next one) injects
the next fault:
kill -9 of worker_pipeline, a Redis restart, kill -9 of worker_llm, a fast PostgreSQL restart,
kill -9 of worker_delivery, 20 s of LLM HTTP 500s then timeouts, 20 s of Graph 429/503.
Then it waits for every message to settle and prints one line per fault and a summary:
lost (never in a terminal state, or in one with neither a reply that reached the customer nor a
reason staff can see), closed without a reply (dead-lettered, dropped or handed off, with its
reason), answered twice (the fake Graph server received two replies for one customer), crashed
processes (an exit the run did not cause, or "Unrecoverable error" in a log), processes dead at the
end, and per fault its recovery time: from the fault until the p95 end-to-end latency of the
messages sent in a 5 s window is back under 10 s. Exit code 0 only when lost = closed without a
reply = twice = crashed = dead = 0 and every recovery < 30 s.
"""

from __future__ import annotations

import json
import math
import os
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

from benchmarks.loadgen import Outcome, send_open_loop, text_webhooks
from benchmarks.stack import APP_SECRET, BASE_DIR, Stack, StackSettings, log
from pyloto.supervisor import Supervisor, procfile_commands
from tests.fakes.services import PrivatePostgres, PrivateRedis

PROCESSES = ["web", "worker_pipeline", "worker_llm", "worker_delivery", "beat"]
MESSAGES = int(os.environ.get("FAULTS_MESSAGES", "1500"))
RATE = float(os.environ.get("FAULTS_RATE", "5"))
EVERY_S = float(os.environ.get("FAULTS_EVERY_S", "40"))
FIRST_AT_S = float(os.environ.get("FAULTS_FIRST_AT_S", "15"))
OUTAGE_S = 20.0
# Meta redelivers a webhook that did not get a 200 "with decreasing frequency" for up to 7 days; the
# first retries come within seconds. The run does the same while the load goes on, so a message
# refused during a fault counts in that fault's recovery window instead of waiting for the load's end.
REDELIVER_AFTER_S = (2.0, 4.0, 8.0, 16.0, 30.0)
SETTLE_TIMEOUT_S = float(os.environ.get("FAULTS_SETTLE_S", "600"))
P95_TARGET_S = 10.0
RECOVERY_BUDGET_S = 30.0
WINDOW_S = 5.0
TERMINAL = ("answered", "handed_off", "dropped", "dead_lettered")


@dataclass
class Fault:
    name: str
    at: float = 0.0  # epoch seconds when injected
    detail: str = ""


@dataclass
class Run:
    stack: Stack
    redis: PrivateRedis
    postgres: PrivatePostgres
    supervisor: Supervisor
    pid_file: Path
    supervisor_log: Path
    killed: set[int] = field(default_factory=set)
    redelivered: int = 0
    faults: list[Fault] = field(default_factory=list)
    # The machine while the load ran (it is shared): how busy it was, whatever was running.
    machine_busy_pct: float = 0.0
    load_averages: list[float] = field(default_factory=list)

    # --- faults -----------------------------------------------------------------------------------
    def kill(self, name: str) -> str:
        pid = json.loads(self.pid_file.read_text())[name]
        self.killed.add(pid)
        os.kill(pid, signal.SIGKILL)
        return f"pid {pid}"

    def restart_redis(self) -> str:
        self.redis.restart(down_s=2.0)
        return "down 2 s, no persistence"

    def restart_postgres(self) -> str:
        self.postgres.restart()
        return "pg_ctl restart -m fast"

    def llm_outage(self) -> str:
        openai = self.stack.openai_url
        httpx.post(f"{openai}/_fake/config", json={"error_rate": 1.0}, timeout=10)
        time.sleep(OUTAGE_S / 2)
        # Then timeouts: answers slower than LLM_TIMEOUT_S (set to 5 s for this run).
        httpx.post(f"{openai}/_fake/config", json={"error_rate": 0.0, "latency_ms": 8000}, timeout=10)
        time.sleep(OUTAGE_S / 2)
        httpx.post(f"{openai}/_fake/config", json={"latency_ms": LLM_LATENCY_MS}, timeout=10)
        return f"{OUTAGE_S / 2:g} s of HTTP 500, {OUTAGE_S / 2:g} s of timeouts"

    def graph_outage(self) -> str:
        graph = self.stack.graph_url
        httpx.post(
            f"{graph}/_fake/config",
            json={"error_rate": 1.0, "error_codes": [130429, 131000], "retry_after_s": 2, "inject_into": "message"},
            timeout=10,
        )
        time.sleep(OUTAGE_S)
        httpx.post(f"{graph}/_fake/config", json={"error_rate": 0.0}, timeout=10)
        return f"{OUTAGE_S:g} s of 429 (Retry-After 2) and 503 on every send"

    def inject(self, name: str) -> None:
        fault = Fault(name=name, at=time.time())
        self.faults.append(fault)
        log(f"fault: {name}")
        actions = {
            "kill -9 worker_pipeline": lambda: self.kill("worker_pipeline"),
            "redis restart": self.restart_redis,
            "kill -9 worker_llm": lambda: self.kill("worker_llm"),
            "postgresql restart": self.restart_postgres,
            "kill -9 worker_delivery": lambda: self.kill("worker_delivery"),
            "llm outage": self.llm_outage,
            "graph outage": self.graph_outage,
        }
        fault.detail = actions[name]()


FAULT_ORDER = [
    "kill -9 worker_pipeline",
    "redis restart",
    "kill -9 worker_llm",
    "postgresql restart",
    "kill -9 worker_delivery",
    "llm outage",
    "graph outage",
]
LLM_LATENCY_MS = 300.0


def _environment(stack: Stack) -> None:
    stack.env.update(
        {
            # Timeouts an outage can exhaust quickly, so a 20 s outage is a real one for the breaker.
            "LLM_TIMEOUT_S": "5",
            "LLM_SDK_MAX_RETRIES": "0",
            "BEAT_SCHEDULE_FILE": str(stack.workdir / "celerybeat-schedule"),
        }
    )


def _replies(stack: Stack) -> list[list]:
    response = httpx.get(f"{stack.graph_url}/_bench/replies", params={"after": 0}, timeout=60)
    response.raise_for_status()
    return response.json()["replies"]


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(0.95 * len(ordered))) - 1]


def _recovery_s(fault: Fault, latency_by_send: list[tuple[float, float]]) -> float | None:
    """Seconds from the fault until a 5 s window of messages sent has its p95 back under 10 s."""
    step = 1.0
    offset = 0.0
    while offset <= 300:
        start = fault.at + offset
        window = [latency for sent, latency in latency_by_send if start <= sent < start + WINDOW_S]
        if window and _p95(window) < P95_TARGET_S:
            return offset
        offset += step
    return None


def _crashes(run: Run) -> list[str]:
    crashes = []
    for line in run.supervisor_log.read_text(errors="replace").splitlines():
        if line.startswith("supervisor ") and "exited with" in line:
            pid = int(line.split("(pid ", 1)[1].split(")", 1)[0])
            if pid not in run.killed:
                crashes.append(line.split("| ", 1)[1])
        if "Unrecoverable error" in line:
            crashes.append(line)
    return crashes


def _dead_at_end(run: Run) -> list[str]:
    dead = []
    for name, pid in json.loads(run.pid_file.read_text()).items():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            dead.append(name)
    answering = run.stack.workers_answering()
    dead += [f"worker_{name} (no ping answer)" for name in ("pipeline", "llm", "delivery") if name not in answering]
    return dead


def _settle(run: Run, count: int, prefix: str) -> None:
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while time.monotonic() < deadline:
        open_inbound = run.stack.sql(
            "SELECT count(*) FROM conversations_message m JOIN conversations_conversation v "
            "ON v.id = m.conversation_id JOIN conversations_contact c ON c.id = v.contact_id "
            "WHERE c.wa_id LIKE %s AND m.direction = 'in' "
            "AND m.status IN ('received', 'processing')",
            (f"{prefix}%",),
        )[0][0]
        unsent = run.stack.sql(
            "SELECT count(*) FROM conversations_message WHERE direction = 'out' AND status IN ('pending', 'sending')"
        )[0][0]
        answered = len({row[1] for row in _replies(run.stack) if str(row[1]).startswith(prefix)})
        log(f"settling: {answered}/{count} customers answered, {open_inbound} inbound open, {unsent} replies unsent")
        if open_inbound == 0 and unsent == 0 and answered >= count:
            return
        time.sleep(5.0)
    log("settle deadline reached")


def report(run: Run, outcomes: list[Outcome], prefix: str) -> int:
    replies = [row for row in _replies(run.stack) if str(row[1]).startswith(prefix)]
    by_customer: dict[str, list[float]] = {}
    for _, to, received_at, _, _ in replies:
        by_customer.setdefault(to, []).append(received_at)
    rows = run.stack.sql(
        "SELECT c.wa_id, m.status, m.status_reason FROM conversations_message m JOIN conversations_conversation v "
        "ON v.id = m.conversation_id JOIN conversations_contact c ON c.id = v.contact_id "
        "WHERE m.direction = 'in' AND c.wa_id LIKE %s",
        (f"{prefix}%",),
    )
    statuses = {wa_id: status for wa_id, status, _ in rows}
    reasons = {wa_id: reason for wa_id, _, reason in rows}
    accepted = [o for o in outcomes if o.status == 200]
    refused = [o for o in outcomes if o.status != 200]
    # Lost: no terminal status, or a terminal status with neither a reply that reached the customer
    # nor a reason staff can see (a dead letter, a drop, a handoff says why).
    lost = [
        o.wa_id
        for o in accepted
        if statuses.get(o.wa_id) not in TERMINAL or (o.wa_id not in by_customer and not reasons.get(o.wa_id))
    ]
    # Not lost, but not answered either: in a fault run every customer should get a reply.
    unanswered = [o.wa_id for o in accepted if o.wa_id not in by_customer and o.wa_id not in lost]
    twice = {to: len(times) for to, times in by_customer.items() if len(times) > 1}
    latency_by_send = sorted(
        (o.sent_at, min(by_customer[o.wa_id]) - o.sent_at) for o in accepted if o.wa_id in by_customer
    )
    # Kept with the run's files (FAULTS_KEEP_FILES): when each message was sent and how long its reply took.
    (run.pid_file.parent / "latencies.json").write_text(json.dumps(latency_by_send))
    crashes = _crashes(run)
    dead = _dead_at_end(run)
    ambiguous = run.stack.sql(
        "SELECT count(*) FILTER (WHERE status_reason LIKE 'resent:%%'), "
        "count(*) FILTER (WHERE status_reason = 'confirmed by a status webhook') "
        "FROM conversations_message WHERE direction = 'out'"
    )[0]
    dead_letters = run.stack.sql("SELECT count(*) FROM conversations_deadletter")[0][0]
    offline = run.stack.sql(
        "SELECT count(*) FROM conversations_message WHERE direction = 'out' AND provider = 'offline'"
    )[0][0]

    recoveries = []
    out = sys.stdout
    out.write("\nfault                      injected  recovery  p95 of messages sent in the next 30 s\n")
    for fault in run.faults:
        recovery = _recovery_s(fault, latency_by_send)
        recoveries.append(recovery)
        during = [lat for sent, lat in latency_by_send if fault.at <= sent < fault.at + RECOVERY_BUDGET_S]
        p95 = f"{_p95(during):6.1f} s" if during else "     -"
        rec = f"{recovery:5.0f} s" if recovery is not None else "  never"
        out.write(f"{fault.name:<26} +{fault.at - outcomes[0].sent_at:6.0f} s  {rec}   {p95}   ({fault.detail})\n")
    all_latencies = [lat for _, lat in latency_by_send]
    first_fault_at = run.faults[0].at if run.faults else math.inf
    before_faults = [lat for sent, lat in latency_by_send if sent < first_fault_at]
    loads = run.load_averages or [0.0]
    out.write(
        f"\nmessages sent: {len(outcomes)} at {RATE:g}/s; webhooks redelivered after a non-200 (as Meta does): "
        f"{run.redelivered}; still refused: {len(refused)}\n"
        f"lost: {len(lost)}\n"
        f"closed without a reply (a reason staff can see): {len(unanswered)}\n"
        f"answered twice: {len(twice)}\n"
        f"crashed processes: {len(crashes)}\n"
        f"processes dead at the end: {len(dead)}\n"
        f"supervisor restarts: {run.supervisor.restarts()}\n"
        f"end-to-end latency: p50 {_p95_at(all_latencies, 0.5):.1f} s, p95 {_p95(all_latencies):.1f} s, "
        f"max {max(all_latencies):.1f} s; before the first fault: "
        f"p95 {_p95(before_faults) if before_faults else math.nan:.1f} s\n"
        f"machine (shared) during the load: {run.machine_busy_pct:.0f} % CPU busy, 1-min load average "
        f"{min(loads):.1f}-{max(loads):.1f} on {os.cpu_count()} cores\n"
        f"replies written offline (breaker/LLM outage): {offline}; dead letters: {dead_letters}; "
        f"ambiguous sends resent: {ambiguous[0]}, confirmed by a status webhook: {ambiguous[1]}\n"
    )
    for line in crashes[:10]:
        out.write(f"  crash: {line}\n")
    if lost:
        out.write(f"  lost (first 10): {lost[:10]} statuses {[statuses.get(w) for w in lost[:10]]}\n")
    if unanswered:
        out.write(f"  closed without a reply (first 10): {[(statuses[w], reasons[w]) for w in unanswered[:10]]}\n")
    if twice:
        out.write(f"  answered twice (first 10): {list(twice.items())[:10]}\n")
    if dead:
        out.write(f"  dead: {dead}\n")
    slow = [r for r in recoveries if r is None or r >= RECOVERY_BUDGET_S]
    ok = not lost and not unanswered and not twice and not crashes and not dead and not slow
    out.write(f"\nresult: {'PASS' if ok else 'FAIL'}\n")
    out.flush()
    return 0 if ok else 1


def _busy_pct(before: Any, after: Any) -> float:
    idle = (after.idle + getattr(after, "iowait", 0.0)) - (before.idle + getattr(before, "iowait", 0.0))
    total = sum(after) - sum(before)
    return 100.0 * (1 - idle / total) if total > 0 else 0.0


def _p95_at(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


def main() -> int:
    workdir = Path(tempfile.mkdtemp(prefix="pyloto-faults-"))
    workdir.chmod(0o755)  # the private PostgreSQL runs as the postgres user when this runs as root
    redis_server = PrivateRedis(workdir / "redis")
    postgres = PrivatePostgres(workdir / "postgres")
    log(f"private Redis on {redis_server.port}, private PostgreSQL on {postgres.port}, files in {workdir}")
    postgres.init()
    postgres.start()
    redis_server.start()
    config = StackSettings(
        database_url=postgres.url("pyloto_faults_bench"),
        redis_url=f"redis://127.0.0.1:{redis_server.port}/1",
        llm_latency_ms=LLM_LATENCY_MS,
        graph_latency_ms=20.0,
    )
    supervisor_log = workdir / "supervisor.log"
    pid_file = workdir / "pids.json"
    try:
        with Stack(config) as stack:
            _environment(stack)
            stack.start_fakes()
            stack.prepare_database()
            stack.post_status_webhooks()
            commands = procfile_commands(BASE_DIR / "Procfile")
            with supervisor_log.open("w") as out:
                supervisor = Supervisor(
                    {name: commands[name] for name in PROCESSES},
                    env=stack.env,
                    cwd=BASE_DIR,
                    out=out,
                    pid_file=pid_file,
                    handle_signals=False,
                )
                runner = threading.Thread(target=supervisor.run, daemon=True)
                runner.start()
                run = Run(stack, redis_server, postgres, supervisor, pid_file, supervisor_log)
                try:
                    stack.wait_ready(timeout_s=120)
                    stack.wait_workers(PROCESSES, timeout_s=120)
                    code = _drive(run)
                finally:
                    supervisor.stop()
                    runner.join(timeout=120)
            return code
    finally:
        redis_server.stop()
        postgres.stop(mode="immediate")
        if not os.environ.get("FAULTS_KEEP_FILES"):
            import shutil

            shutil.rmtree(workdir, ignore_errors=True)
        else:
            log(f"files kept in {workdir}")


def _redeliver_refused(run: Run, webhooks: list, outcomes: list[Outcome]) -> None:
    """Webhooks still refused after the load's own redeliveries get more, later ones (Meta retries for days)."""
    by_wamid = {webhook.wamid: webhook for webhook in webhooks}
    for attempt in range(1, 6):
        refused = [o for o in outcomes if o.status != 200]
        if not refused:
            return
        log(f"redelivering {len(refused)} refused webhooks (attempt {attempt}), as Meta would")
        time.sleep(5.0 * attempt)
        retried = send_open_loop(run.stack.web_url, [by_wamid[o.wamid] for o in refused], rate=RATE, timeout_s=60.0)
        answered = {o.wamid: o for o in retried}
        for index, outcome in enumerate(outcomes):
            again = answered.get(outcome.wamid)
            if outcome.status != 200 and again is not None:
                # The customer's clock starts at the first attempt: a refusal costs its latency.
                outcomes[index] = Outcome(
                    outcome.wa_id, outcome.wamid, outcome.sent_at, again.status, again.latency_ms, outcome.attempts + 1
                )
                run.redelivered += 1


def _drive(run: Run) -> int:
    prefix = "55119"
    webhooks = text_webhooks(prefix=prefix, count=MESSAGES, app_secret=APP_SECRET)
    outcomes: list[Outcome] = []

    def load() -> None:
        outcomes.extend(
            send_open_loop(run.stack.web_url, webhooks, rate=RATE, timeout_s=60.0, redeliver_after_s=REDELIVER_AFTER_S)
        )

    sender = threading.Thread(target=load)
    started = time.time()
    cpu_before = psutil.cpu_times()
    sender.start()
    for index, name in enumerate(FAULT_ORDER):
        due = started + FIRST_AT_S + index * EVERY_S
        time.sleep(max(0.0, due - time.time()))
        run.load_averages.append(os.getloadavg()[0])
        if not sender.is_alive():
            log(f"load ended before fault {name!r}: raise FAULTS_MESSAGES or lower FAULTS_EVERY_S")
            break
        try:
            run.inject(name)
        except Exception as exc:  # noqa: BLE001 - a fault that could not be injected is reported, not fatal
            log(f"fault {name!r} could not be injected: {exc!r}")
            run.faults[-1].detail = f"NOT INJECTED: {exc!r}"
    sender.join()
    run.redelivered = sum(outcome.attempts - 1 for outcome in outcomes)
    run.machine_busy_pct = _busy_pct(cpu_before, psutil.cpu_times())
    run.load_averages.append(os.getloadavg()[0])
    _redeliver_refused(run, webhooks, outcomes)
    log(f"load done: {len(outcomes)} webhooks in {time.time() - started:.0f} s; settling")
    _settle(run, len(outcomes), prefix)
    outcomes.sort(key=lambda o: o.sent_at)
    return report(run, outcomes, prefix)


if __name__ == "__main__":
    sys.exit(main())
