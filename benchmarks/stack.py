"""Start, measure and stop the whole local stack for the benchmark and the load test.

The processes are the Procfile's own commands (read by the supervisor's parser, never copied), run by bash so their
`${VAR:-default}` expansions hold, each in its own session so a stop reaches its whole tree. The
fakes (the OpenAI-compatible server and the Graph recorder) run as subprocesses too, so nothing in
the measuring process competes with them for the GIL.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import psutil
import psycopg
import redis

from pyloto.supervisor import free_port, procfile_commands

BASE_DIR = Path(__file__).resolve().parent.parent
WORKERS = ["worker_pipeline", "worker_llm", "worker_delivery", "beat"]

APP_SECRET = "bench-app-secret"  # noqa: S105 - signs fake webhooks on loopback only
ACCESS_TOKEN = "bench-access-token"  # noqa: S105 - the fake Graph server's token
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/pyloto_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/5"
STOP_GRACE_S = 10.0
QUEUES = ("pipeline", "ingest", "llm", "delivery")
WEB_APPLICATION = "config.wsgi:application"
FLOOR_APPLICATION = "benchmarks.floor:application"


def log(message: str) -> None:
    """Progress goes to stderr: stdout carries only the JSON lines (or Locust's summary)."""
    sys.stderr.write(f"[bench {time.strftime('%H:%M:%S')}] {message}\n")
    sys.stderr.flush()


def _tree_cpu_seconds(pid: int) -> float:
    """utime+stime of a process, its live descendants, and the children it already reaped."""
    try:
        root = psutil.Process(pid)
        total = 0.0
        for proc in [root, *root.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                times = proc.cpu_times()
                total += times.user + times.system + times.children_user + times.children_system
        return total
    except psutil.Error:
        return 0.0


def _named_cpu_seconds(name: str) -> float:
    """CPU of the process trees rooted at processes called `name` whose parent is not (PostgreSQL's
    postmaster: it reaps the backends that come and go, so their CPU stays counted)."""
    total = 0.0
    for proc in psutil.process_iter(["name", "ppid"]):
        with contextlib.suppress(psutil.Error):
            if proc.info["name"] == name and psutil.Process(proc.info["ppid"]).name() != name:
                total += _tree_cpu_seconds(proc.pid)
    return total


@dataclass
class StackSettings:
    """What to start and how; every field has an environment override in `from_env`."""

    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str = DEFAULT_REDIS_URL
    llm_latency_ms: float = 800.0
    graph_latency_ms: float = 50.0
    # Sizes for the Procfile's ${VAR:-default}s and the settings (pool sizes), tuned in docs/performance.md.
    sizing: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls) -> StackSettings:
        return cls(
            database_url=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL),
            redis_url=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL),
            llm_latency_ms=float(os.environ.get("BENCH_LLM_LATENCY_MS", "800")),
            graph_latency_ms=float(os.environ.get("BENCH_GRAPH_LATENCY_MS", "50")),
        )


class Stack:
    """The fakes and the Procfile's processes; a context manager that always tears everything down."""

    def __init__(self, config: StackSettings) -> None:
        self.config = config
        # An alternative Procfile (BENCH_PROCFILE) lets a tuning experiment change flags, not the real one.
        self.commands = procfile_commands(Path(os.environ.get("BENCH_PROCFILE", BASE_DIR / "Procfile")))
        # The ingest floor runs on the web's own gunicorn command and settings: only the app differs.
        self.commands["floor"] = self.commands["web"].replace(WEB_APPLICATION, FLOOR_APPLICATION)
        self.workdir = Path(tempfile.mkdtemp(prefix="pyloto-bench-"))
        self.web_port = free_port()
        self.graph_port = free_port()
        self.openai_port = free_port()
        self.web_url = f"http://127.0.0.1:{self.web_port}"
        self.graph_url = f"http://127.0.0.1:{self.graph_port}"
        self.openai_url = f"http://127.0.0.1:{self.openai_port}"
        self.processes: dict[str, subprocess.Popen] = {}
        self.fakes: dict[str, subprocess.Popen] = {}
        self.env = self._environment()

    # --- lifecycle ----------------------------------------------------------------------------------

    def __enter__(self) -> Stack:
        signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop_all()

    def _environment(self) -> dict[str, str]:
        metrics_dir = self.workdir / "prometheus"
        metrics_dir.mkdir()
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.production",
            "DJANGO_SECRET_KEY": "bench-only-secret-key-not-for-production-use-0123456789",
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DJANGO_SECURE_SSL_REDIRECT": "false",
            "DATABASE_URL": self.config.database_url,
            "REDIS_URL": self.config.redis_url,
            "WHATSAPP_APP_SECRET": APP_SECRET,
            "WHATSAPP_VERIFY_TOKEN": "bench-verify-token",
            "WHATSAPP_ACCESS_TOKEN": ACCESS_TOKEN,
            "WHATSAPP_PHONE_NUMBER_ID": "100000000000001",
            "WHATSAPP_API_BASE_URL": self.graph_url,
            "OPENAI_BASE_URL": f"{self.openai_url}/v1",
            "OPENAI_API_KEY": "sk-bench-fake",
            "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
            "BEAT_SCHEDULE_FILE": str(self.workdir / "celerybeat-schedule"),
            "WEB_BIND": "127.0.0.1",
            "WEB_PORT": str(self.web_port),
            "PYTHONUNBUFFERED": "1",
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        env.pop("CELERY_BROKER_URL", None)
        env.pop("CELERY_RESULT_BACKEND", None)
        env.update(self.config.sizing)
        return env

    def _spawn(self, name: str, argv: list[str]) -> subprocess.Popen:
        logfile = (self.workdir / f"{name}.log").open("ab")
        return subprocess.Popen(
            argv,
            cwd=BASE_DIR,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=logfile,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: a stop reaches gunicorn's and Celery's children
        )

    def start_fakes(self) -> None:
        python = sys.executable
        self.fakes["graph"] = self._spawn(
            "fake_graph",
            [
                python,
                "-m",
                "benchmarks.graph_recorder",
                "--port",
                str(self.graph_port),
                "--latency-ms",
                str(self.config.graph_latency_ms),
                "--access-token",
                ACCESS_TOKEN,
            ],
        )
        self.fakes["openai"] = self._spawn(
            "fake_openai",
            [
                python,
                "-m",
                "tests.fakes.openai_server",
                "--port",
                str(self.openai_port),
                "--latency-ms",
                str(self.config.llm_latency_ms),
                "--max-records",
                "2000",
            ],
        )
        _wait_http(f"{self.graph_url}/_fake/stats", "fake Graph server")
        _wait_http(f"{self.openai_url}/healthz", "fake OpenAI server")

    def post_status_webhooks(self) -> None:
        """Have the Graph fake post a signed `sent` and `delivered` webhook per reply to the web, as Meta does.

        They echo each send's callback data: what confirms an ambiguous send.
        """
        httpx.post(
            f"{self.graph_url}/_fake/config",
            json={"emit_statuses": True, "webhook_url": f"{self.web_url}/webhooks/whatsapp/", "app_secret": APP_SECRET},
            timeout=10,
        ).raise_for_status()

    def prepare_database(self) -> None:
        """A fresh benchmark database and Redis db, then migrate and seed the demo content."""
        _recreate_database(self.config.database_url)
        client = redis.Redis.from_url(self.config.redis_url)
        # The same guard for Redis: db 0 is the application's default, never flushed from here.
        if int(client.connection_pool.connection_kwargs.get("db") or 0) == 0:
            raise RuntimeError("refusing to flush Redis db 0: point BENCH_REDIS_URL at a database of its own")
        client.flushdb()
        manage = [sys.executable, str(BASE_DIR / "manage.py")]
        for step in (["migrate", "--noinput", "-v", "0"], ["seed_demo"]):
            result = subprocess.run(
                [*manage, *step], cwd=BASE_DIR, env=self.env, capture_output=True, text=True, check=False
            )
            if result.returncode != 0:
                raise RuntimeError(f"manage.py {' '.join(step)} failed:\n{result.stdout}\n{result.stderr}")

    def start(self, names: Iterable[str]) -> None:
        for name in names:
            if name in self.processes and self.processes[name].poll() is None:
                continue
            self.processes[name] = self._spawn(name, ["bash", "-c", f"exec {self.commands[name]}"])
        log(f"started {', '.join(names)} (logs in the stack's temporary directory)")

    def wait_ready(self, timeout_s: float = 60.0, *, process: str = "web", path: str = "/readyz") -> None:
        """Until the process listening on the web port (the web, or the ingest floor) answers `path`."""
        _wait_http(
            f"{self.web_url}{path}", f"{process} {path}", timeout_s=timeout_s, process=self.processes.get(process)
        )

    def wait_workers(self, names: Iterable[str], timeout_s: float = 90.0) -> None:
        """Until every started Celery worker answers a remote-control ping (consumers on, pool up)."""
        names = list(names)
        expected = {name.removeprefix("worker_") for name in names if name.startswith("worker_")}
        deadline = time.monotonic() + timeout_s
        answered: set[str] = set()
        while time.monotonic() < deadline:
            for name in names:
                if name in self.processes:
                    self._check_alive(name)
            answered = self.workers_answering()
            if expected <= answered:
                return
            time.sleep(0.5)
        raise RuntimeError(f"workers not ready within {timeout_s:.0f} s: {sorted(expected - answered)}")

    def workers_answering(self, timeout_s: float = 3.0) -> set[str]:
        """The Celery workers (by node name: pipeline, llm, delivery) that answer a remote-control ping."""
        celery = Path(sys.executable).with_name("celery")
        result = subprocess.run(
            [str(celery), "-A", "config", "inspect", "ping", "--timeout", f"{timeout_s:g}", "--json"],
            cwd=BASE_DIR,
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
        )
        return {node.split("@")[0] for node in re.findall(r'"([\w.-]+@[^"]+)"', result.stdout)}

    def _check_alive(self, name: str) -> None:
        process = self.processes[name]
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}; its log:\n{self.log_tail(name)}")

    def log_tail(self, name: str, lines: int = 40) -> str:
        path = self.workdir / f"{name}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, names: Iterable[str]) -> None:
        targets = [(name, self.processes.pop(name)) for name in names if name in self.processes]
        _terminate([process for _, process in targets])

    def stop_all(self) -> None:
        # The web first (no new work), then the workers, then the fakes they call.
        self.stop([name for name in ("web", *WORKERS, *list(self.processes)) if name in self.processes])
        _terminate(list(self.fakes.values()))
        self.fakes.clear()
        if os.environ.get("BENCH_KEEP_LOGS"):
            log(f"logs kept in {self.workdir}")
        else:
            shutil.rmtree(self.workdir, ignore_errors=True)

    # --- measurement --------------------------------------------------------------------------------

    def cpu_seconds(self) -> dict[str, float]:
        """Cumulative CPU seconds: each project process tree, then what else shares the machine."""
        sample = {name: _tree_cpu_seconds(process.pid) for name, process in self.processes.items()}
        for name, process in self.fakes.items():
            sample[f"fake_{name}"] = _tree_cpu_seconds(process.pid)
        sample["postgres"] = _named_cpu_seconds("postgres")
        sample["redis"] = _named_cpu_seconds("redis-server")
        times = psutil.Process().cpu_times()
        sample["loadgen"] = times.user + times.system
        return sample

    def wait_quiet(self, names: Iterable[str], *, timeout_s: float = 120.0, busy_below: float = 0.05) -> float:
        """Until these processes use less than `busy_below` of a core (a web still working through
        requests its clients gave up on); how long it took."""
        started = time.monotonic()
        names = list(names)
        before = sum(_tree_cpu_seconds(self.processes[name].pid) for name in names)
        while time.monotonic() - started < timeout_s:
            time.sleep(1.0)
            after = sum(_tree_cpu_seconds(self.processes[name].pid) for name in names)
            if after - before < busy_below:
                break
            before = after
        return time.monotonic() - started

    def queue_lengths(self) -> dict[str, int]:
        client = redis.Redis.from_url(self.config.redis_url)
        return {queue: sum(int(client.llen(key)) for key in _queue_keys(queue)) for queue in QUEUES}

    def purge_queues(self) -> None:
        client = redis.Redis.from_url(self.config.redis_url)
        client.delete(*[key for queue in QUEUES for key in _queue_keys(queue)])

    def sql(self, query: str, params: tuple = ()) -> list[tuple]:
        with psycopg.connect(_libpq_url(self.config.database_url), autocommit=True) as conn:
            cursor = conn.execute(query, params)
            return cursor.fetchall() if cursor.description else []


def _queue_keys(queue: str) -> list[str]:
    """The Redis lists of one Celery queue: kombu keeps one per priority step besides the plain one."""
    return [queue, *(f"{queue}\x06\x16{step}" for step in (3, 6, 9))]


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _terminate(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_S
    for process in processes:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=max(deadline - time.monotonic(), 0.1))
        # Whatever survived the grace period (or was orphaned in the group) is killed.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=5)


def _wait_http(url: str, what: str, *, timeout_s: float = 30.0, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    last = ""
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what}: the process exited with {process.returncode}")
        try:
            response = httpx.get(url, timeout=2.0)
            if response.status_code == 200:
                return
            last = f"HTTP {response.status_code}: {response.text[:200]}"
        except httpx.HTTPError as exc:
            last = str(exc)
        time.sleep(0.2)
    raise RuntimeError(f"{what} not ready within {timeout_s:.0f} s ({last})")


def _libpq_url(url: str) -> str:
    return url.replace("postgres://", "postgresql://", 1)


def _recreate_database(url: str) -> None:
    parts = urlsplit(_libpq_url(url))
    name = parts.path.lstrip("/")
    # A guard against pointing the benchmark at a database someone needs: it is dropped here.
    if "bench" not in name:
        raise RuntimeError(f"refusing to recreate database {name!r}: its name must contain 'bench'")
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


@contextlib.contextmanager
def running_stack(config: StackSettings, processes: list[str]) -> Iterator[Stack]:
    """Fakes up, database fresh, the named processes started and ready; everything down afterwards."""
    with Stack(config) as stack:
        stack.start_fakes()
        stack.prepare_database()
        stack.start(processes)
        stack.wait_ready()
        stack.wait_workers(processes)
        yield stack
