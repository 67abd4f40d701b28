"""make run's supervisor: a process that dies is restarted and the death is said; the others live on; free ports."""

import io
import json
import os
import signal
import socket
import sys
import threading

from django.conf import settings

from pyloto.supervisor import Supervisor, free_port, procfile_commands
from tests.support import wait_until

SLEEPER = f"{sys.executable} -c 'import time; print(\"up\", flush=True); time.sleep(600)'"


def _pids(pid_file) -> dict[str, int]:
    try:
        return json.loads(pid_file.read_text())
    except (FileNotFoundError, ValueError):
        return {}


def test_a_killed_process_is_restarted_and_said_so_while_the_others_keep_running(tmp_path):
    out = io.StringIO()
    pid_file = tmp_path / "pids.json"
    supervisor = Supervisor(
        {"worker_a": SLEEPER, "worker_b": SLEEPER},
        env=os.environ,
        cwd=tmp_path,
        out=out,
        pid_file=pid_file,
        handle_signals=False,
    )
    runner = threading.Thread(target=supervisor.run)
    runner.start()
    try:
        first = wait_until(lambda: (p := _pids(pid_file)) and len(p) == 2 and p, timeout=30)
        wait_until(lambda: out.getvalue().count("| up") == 2, timeout=30)

        os.kill(first["worker_a"], signal.SIGKILL)

        second = wait_until(lambda: (p := _pids(pid_file))["worker_a"] != first["worker_a"] and p, timeout=30)
        assert second["worker_b"] == first["worker_b"]
        os.kill(second["worker_b"], 0)  # still alive
        wait_until(lambda: out.getvalue().count("| up") == 3, timeout=30)
        said = out.getvalue()
        assert f"worker_a (pid {first['worker_a']}) exited with signal SIGKILL" in said
        assert "restarting it in" in said and "(restart #1)" in said
        assert supervisor.restarts() == {"worker_a": 1, "worker_b": 0}
    finally:
        supervisor.stop()
        runner.join(timeout=60)
    assert not runner.is_alive()
    for pid in _pids(pid_file).values():
        wait_until(lambda pid=pid: not _alive(pid), timeout=30)
    assert "every process stopped" in out.getvalue()


def _supervise_until(commands: dict[str, str], tmp_path, condition) -> str:
    """Run a supervisor in a thread until `condition(supervisor, output)`; its whole output."""
    out = io.StringIO()
    supervisor = Supervisor(commands, env=os.environ, cwd=tmp_path, out=out, handle_signals=False)
    runner = threading.Thread(target=supervisor.run)
    runner.start()
    try:
        wait_until(lambda: condition(supervisor, out.getvalue()), timeout=30)
    finally:
        supervisor.stop()
        runner.join(timeout=60)
    assert not runner.is_alive()
    return out.getvalue()


def test_a_process_that_keeps_dying_at_start_waits_longer_each_time(tmp_path):
    said = _supervise_until({"broken": "sh -c 'exit 3'"}, tmp_path, lambda sup, _: sup.restarts()["broken"] >= 2)
    assert "exited with code 3" in said
    assert "restarting it in 1 s" in said and "restarting it in 2 s" in said


def test_make_run_supervises_exactly_the_procfile_lines():
    commands = procfile_commands(settings.BASE_DIR / "Procfile")
    assert list(commands)[:2] == ["web", "worker_pipeline"]
    assert commands["worker_pipeline"].startswith("celery -A config worker -Q pipeline,maintenance")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its parent) is not alive.
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(")")[-1].split()[0] != "Z"


def test_supervisor_output_names_each_line_by_process(tmp_path):
    said = _supervise_until({"web": "echo hello"}, tmp_path, lambda _, output: "web | hello" in output)
    assert "every process stopped" in said


def test_free_port_keeps_the_preferred_one_when_free_and_moves_when_taken():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        moved = free_port(busy)
        assert moved != busy
    assert free_port(moved) == moved
