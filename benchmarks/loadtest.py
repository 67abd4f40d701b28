"""`make loadtest`: start the whole local stack with the fakes, run Locust headless (closed loop), print its summary.

Locust's options come from the environment with these defaults: `LOCUST_USERS=50` customers,
`LOCUST_SPAWN_RATE=10` per second, `LOCUST_RUN_TIME=60s`; `LOADTEST_OPEN=1` skips the wait for
replies. The stack is the production topology of the Procfile against the fake OpenAI server
(800 ms per call) and the Graph recorder; everything is stopped afterwards, on Ctrl-C too.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from benchmarks.stack import APP_SECRET, BASE_DIR, WORKERS, StackSettings, log, running_stack


def main() -> int:
    users = os.environ.get("LOCUST_USERS", "50")
    spawn_rate = os.environ.get("LOCUST_SPAWN_RATE", "10")
    run_time = os.environ.get("LOCUST_RUN_TIME", "60s")
    with running_stack(StackSettings.from_env(), ["web", *WORKERS]) as stack:
        env = {**os.environ, "WHATSAPP_APP_SECRET": APP_SECRET, "LOCUST_HOST": stack.web_url}
        if os.environ.get("LOADTEST_OPEN") != "1":
            env["LOADTEST_GRAPH_URL"] = stack.graph_url
        locust = Path(sys.executable).with_name("locust")
        command = [
            str(locust),
            "-f",
            str(BASE_DIR / "locustfile.py"),
            "--headless",
            "--users",
            users,
            "--spawn-rate",
            spawn_rate,
            "--run-time",
            run_time,
            "--stop-timeout",
            "30",
            "--only-summary",
            "--loglevel",
            "WARNING",
        ]
        log(f"locust: {users} customers, spawn {spawn_rate}/s, {run_time}, against {stack.web_url}")
        # Locust writes its summary to stderr: it goes to our stdout. Its exit code is 1 when any request failed.
        return subprocess.run(command, cwd=BASE_DIR, env=env, stderr=subprocess.STDOUT, check=False).returncode


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        log("interrupted: the stack was stopped")
        sys.exit(130)
