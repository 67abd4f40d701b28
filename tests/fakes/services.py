"""Private Redis and PostgreSQL servers for fault tests: own port, own data directory, safe to restart.

The machine's shared servers are never touched: every instance binds 127.0.0.1 on a free port, keeps
its data under the directory it is given, and is stopped by whoever started it. PostgreSQL refuses to
run as root, so as root the cluster is created and run as the `postgres` system user.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import redis

from pyloto.supervisor import free_port

START_TIMEOUT_S = 30.0


def _wait(predicate, *, what: str, timeout_s: float = START_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not come up within {timeout_s} s")


class PrivateRedis:
    """A redis-server without persistence (like the machine's), restartable at will."""

    def __init__(self, directory: Path, *, port: int | None = None, appendonly: bool = False) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.appendonly = appendonly
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (Debian: apt-get install redis-server)")
        self.process = subprocess.Popen(
            [
                binary,
                "--bind", "127.0.0.1",
                "--port", str(self.port),
                "--save", "",
                "--appendonly", "yes" if self.appendonly else "no",
                "--dir", str(self.directory),
                "--logfile", str(self.directory / "redis.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        _wait(self.answers, what=f"redis on port {self.port}")

    def answers(self) -> bool:
        try:
            return bool(redis.Redis.from_url(self.url, socket_connect_timeout=0.5, socket_timeout=0.5).ping())
        except redis.RedisError:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()  # a crash, not a shutdown: nothing is saved
            self.process.wait(timeout=10)
        self.process = None

    def restart(self, *, down_s: float = 0.0) -> None:
        self.stop()
        time.sleep(down_s)
        self.start()


class PrivatePostgres:
    """A throwaway PostgreSQL cluster (trust auth on 127.0.0.1), started and fast-restarted by its owner."""

    def __init__(self, directory: Path, *, port: int | None = None) -> None:
        self.directory = Path(directory)
        self.data = self.directory / "data"
        self.log = self.directory / "pg.log"
        self.port = port or free_port()
        self._as_postgres = os.geteuid() == 0

    def url(self, database: str = "postgres") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *command: str, quiet: bool = False) -> subprocess.CompletedProcess:
        prefix = ["runuser", "-u", "postgres", "--"] if self._as_postgres else []
        if quiet:
            # pg_ctl start/restart: the server it leaves running inherits our stdout; a pipe there would
            # never reach EOF and the call would hang. The server's own log goes to its -l file.
            return subprocess.run(
                [*prefix, *command], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False, timeout=120
            )
        return subprocess.run([*prefix, *command], capture_output=True, text=True, check=False, timeout=120)

    def init(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        if self._as_postgres:
            shutil.chown(self.directory, user="postgres", group="postgres")
        result = self._run(
            "initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8"
        )  # fmt: skip
        if result.returncode != 0:
            raise RuntimeError(f"initdb failed: {result.stderr}")

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.directory} -c fsync=off"
        )
        result = self._run(
            "pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.directory / "pg.log"), "-w", "start"
        )
        if result.returncode != 0:
            raise RuntimeError(f"pg_ctl start failed: {result.stderr or result.stdout}")

    def stop(self, *, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def restart(self) -> None:
        """A fast restart: every connection is cut, the server is back within a second or two."""
        result = self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-m", "fast", "-w", "restart", quiet=True
        )
        if result.returncode != 0:
            raise RuntimeError(f"pg_ctl restart failed (exit {result.returncode}); see {self.log}")

    def create_database(self, name: str) -> None:
        self._run("psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-c", f'CREATE DATABASE "{name}"')
