"""`make run`'s process supervisor: runs the Procfile's processes, restarts one that dies, and says so.

It also holds what every starter of the Procfile's processes shares (`make run`, the benchmarks, the
fault run): reading the Procfile and picking a free port.

honcho (used before) stops every process when one exits, so a worker killed by a Redis restart or
the OOM killer took the whole stack down; a supervisor must bring the dead one back instead. Each
process runs in its own session (a `kill -9` of one is that one's death alone) and its output is
prefixed with its name, as honcho did. A process that dies soon after starting waits longer before
each new start (1 s, 2 s, 4 s… up to 30 s) so a broken one does not spin.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

# A process that ran at least this long before dying gets restarted at once, as a first failure.
STABLE_AFTER_S = 10.0
RESTART_DELAY_MAX_S = 30.0
STOP_GRACE_S = 20.0


def procfile_commands(path: Path) -> dict[str, str]:
    """The Procfile's `name: command` lines, in order."""
    commands = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, command = line.split(":", 1)
            commands[name.strip()] = command.strip()
    return commands


def free_port(preferred: int = 0, *, host: str = "127.0.0.1") -> int:
    """`preferred` when it is free, else a port the operating system picks (0: always the latter)."""
    if preferred:
        with socket.socket() as sock:
            try:
                sock.bind((host, preferred))
            except OSError:
                pass
            else:
                return preferred
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class _Child:
    name: str
    command: str
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    restarts: int = 0
    delay_s: float = 0.0
    due_at: float | None = None
    readers: list[threading.Thread] = field(default_factory=list)


class Supervisor:
    """Start `commands` (name → shell command), keep them running until `stop()` or a signal."""

    def __init__(
        self,
        commands: Mapping[str, str],
        *,
        env: Mapping[str, str],
        cwd: Path,
        out: TextIO,
        pid_file: Path | None = None,
        poll_s: float = 0.2,
        handle_signals: bool = True,
    ) -> None:
        self._children = [_Child(name, command) for name, command in commands.items()]
        self._env = dict(env)
        self._cwd = cwd
        self._out = out
        self._out_lock = threading.Lock()
        self._pid_file = pid_file
        self._poll_s = poll_s
        self._handle_signals = handle_signals
        self._stopping = threading.Event()
        self._width = max((len(name) for name in commands), default=0)

    # --- public -----------------------------------------------------------------------------------
    def run(self) -> None:
        """Start everything, then watch until stopped (SIGINT/SIGTERM or `stop()`); stops everything."""
        # Signal handlers can only be set from the main thread (tests run a supervisor in another one).
        signals = (signal.SIGINT, signal.SIGTERM) if self._handle_signals else ()
        previous = {sig: signal.signal(sig, self._on_signal) for sig in signals}
        try:
            for child in self._children:
                self._start(child)
            while not self._stopping.wait(self._poll_s):
                self._watch()
        finally:
            self._stop_all()
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def stop(self) -> None:
        self._stopping.set()

    def restarts(self) -> dict[str, int]:
        return {child.name: child.restarts for child in self._children}

    # --- internals ----------------------------------------------------------------------------------
    def _on_signal(self, signum: int, frame: object) -> None:
        self.say(f"received {signal.Signals(signum).name}: stopping every process")
        self.stop()

    def say(self, text: str, *, name: str = "supervisor") -> None:
        with self._out_lock:
            self._out.write(f"{name:<{self._width}} | {text}\n")
            self._out.flush()

    def _start(self, child: _Child) -> None:
        child.process = subprocess.Popen(
            ["sh", "-c", f"exec {child.command}"],
            env=self._env,
            cwd=self._cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            start_new_session=True,
        )
        child.started_at = time.monotonic()
        child.due_at = None
        reader = threading.Thread(target=self._relay, args=(child.name, child.process), daemon=True)
        reader.start()
        child.readers = [reader]
        self.say(f"started {child.name} (pid {child.process.pid})")
        self._write_pids()

    def _relay(self, name: str, process: subprocess.Popen) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            self.say(line.rstrip("\n"), name=name)

    def _watch(self) -> None:
        now = time.monotonic()
        for child in self._children:
            if child.due_at is not None:
                if now >= child.due_at:
                    child.restarts += 1
                    self._start(child)
                continue
            assert child.process is not None
            code = child.process.poll()
            if code is None:
                continue
            self._reap_group(child.process.pid)
            ran_s = now - child.started_at
            child.delay_s = 0.0 if ran_s >= STABLE_AFTER_S else min(max(child.delay_s * 2, 1.0), RESTART_DELAY_MAX_S)
            child.due_at = now + child.delay_s
            self.say(
                f"{child.name} (pid {child.process.pid}) exited with {_describe(code)} after {ran_s:.1f} s: "
                f"restarting it in {child.delay_s:g} s (restart #{child.restarts + 1})"
            )

    def _reap_group(self, pid: int) -> None:
        # A killed Celery main process leaves its pool children behind in its session: end them too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)

    def _stop_all(self) -> None:
        running = [c.process for c in self._children if c.process is not None and c.process.poll() is None]
        for process in running:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        for process in running:
            try:
                process.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                self._reap_group(process.pid)
                process.wait(timeout=5)
            self._reap_group(process.pid)
        self.say("every process stopped")

    def _write_pids(self) -> None:
        if self._pid_file is None:
            return
        pids = {c.name: c.process.pid for c in self._children if c.process is not None}
        temporary = self._pid_file.with_suffix(".tmp")
        temporary.write_text(json.dumps(pids))
        temporary.replace(self._pid_file)


def _describe(code: int) -> str:
    if code < 0:
        return f"signal {signal.Signals(-code).name}"
    return f"code {code}"
