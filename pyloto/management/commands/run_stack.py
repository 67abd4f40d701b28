"""`make run`: migrate, load the demo content and start every process of the Procfile, restarting any that dies.

With Redis reachable the real stack runs (gunicorn, one Celery worker per queue, beat, Flower);
without it, the embedded default: gunicorn alone with tasks executed in-process. The database is
PostgreSQL when DATABASE_URL is set, SQLite otherwise.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import redis
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from pyloto.local_stack import StackStartError, drop_tasks_of_another_database, wait_until_answering
from pyloto.supervisor import Supervisor, free_port, procfile_commands

FULL_STACK = ["web", "worker_pipeline", "worker_llm", "worker_delivery", "beat", "flower"]
# The local settings' default token: while it is in use, no real WhatsApp account is configured.
LOCAL_DEFAULT_TOKEN = "local-access-token"  # noqa: S105 - the documented local default, not a secret
LOCAL_GRAPH_PORT = 8091
EMBEDDED_STACK = ["web"]


def redis_answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1).ping())
    except redis.RedisError:
        return False


class Command(BaseCommand):
    help = "Migrate, seed the demo content and start the processes (embedded defaults when no services)."

    def add_arguments(self, parser):
        parser.add_argument("--check", action="store_true", help="Prepare and print the plan, start nothing.")
        parser.add_argument(
            "--pid-file", default="", help="Keep a JSON file of each process's current pid (for fault tests)."
        )

    def handle(self, *args, check: bool = False, pid_file: str = "", **options):
        base_dir = Path(settings.BASE_DIR)
        env = os.environ.copy()
        embedded = not redis_answers(settings.REDIS_URL)
        database = "PostgreSQL" if settings.DATABASES["default"]["ENGINE"].endswith("postgresql") else "SQLite"
        if embedded:
            env["PYLOTO_EMBEDDED"] = "1"
            self.stdout.write(
                self.style.WARNING(
                    f"Embedded mode: no Redis answers at {settings.REDIS_URL}; tasks run in-process inside the "
                    f"web server, no beat or Flower. Database: {database}."
                )
            )
        else:
            self.stdout.write(self.style.SUCCESS(f"Full stack: Redis at {settings.REDIS_URL}, database: {database}."))
        env["WEB_PORT"] = str(settings.PORT)
        # One clock in every line: the supervisor's prefix too (Django's processes log UTC themselves).
        env["TZ"] = "UTC"
        # The Procfile names gunicorn and celery bare: find them in this interpreter's environment.
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
        graph_fake = None
        if not embedded and not check:
            dropped = drop_tasks_of_another_database()
            if dropped:
                self.stdout.write(
                    self.style.WARNING(
                        f"Dropped {dropped} queued task(s) written for another database: they would act on "
                        "the wrong rows here (their messages stay in their own database, whose sweeper "
                        "re-drives them)."
                    )
                )
        sends_to_meta = settings.WHATSAPP_API_BASE_URL == settings.META_GRAPH_API_URL
        if settings.WHATSAPP_ACCESS_TOKEN == LOCAL_DEFAULT_TOKEN and sends_to_meta and not check:
            # Without real credentials, replies go to the local fake Graph server instead of failing at Meta.
            # A WHATSAPP_API_BASE_URL of the user's own (their fake, started by hand) is left alone.
            port = free_port(LOCAL_GRAPH_PORT)
            graph_fake = subprocess.Popen(
                [sys.executable, "-m", "tests.fakes.graph_server", "--port", str(port)], cwd=base_dir, env=env
            )
            env["WHATSAPP_API_BASE_URL"] = f"http://127.0.0.1:{port}"
            try:
                wait_until_answering(f"{env['WHATSAPP_API_BASE_URL']}/_fake/stats", graph_fake)
            except StackStartError as exc:
                graph_fake.kill()
                raise CommandError(f"The local fake Graph server did not start: {exc}.") from None
            moved = "" if port == LOCAL_GRAPH_PORT else f" (port {LOCAL_GRAPH_PORT} is taken, so port {port})"
            self.stdout.write(
                self.style.WARNING(
                    f"No WhatsApp credentials: replies go to the local fake Graph server at "
                    f"{env['WHATSAPP_API_BASE_URL']}{moved} (set WHATSAPP_ACCESS_TOKEN for Meta). "
                    "Try `python manage.py chat` in another terminal."
                )
            )
        # prometheus-client multi-process mode: one directory shared by every process, emptied at start.
        metrics_dir = base_dir / "var" / "prometheus"
        shutil.rmtree(metrics_dir, ignore_errors=True)
        metrics_dir.mkdir(parents=True, exist_ok=True)
        env.setdefault("PROMETHEUS_MULTIPROC_DIR", str(metrics_dir))
        manage = [sys.executable, str(base_dir / "manage.py")]
        subprocess.run([*manage, "migrate", "--noinput"], env=env, check=True)
        subprocess.run([*manage, "seed_demo"], env=env, check=True)
        subprocess.run([*manage, "collectstatic", "--noinput", "-v", "0"], env=env, check=True)
        processes = EMBEDDED_STACK if embedded else FULL_STACK
        self.stdout.write(f"Serving on http://127.0.0.1:{env['WEB_PORT']} — processes: {', '.join(processes)}")
        if check:
            return
        commands = procfile_commands(base_dir / "Procfile")
        supervisor = Supervisor(
            {name: commands[name] for name in processes},
            env=env,
            cwd=base_dir,
            out=sys.stdout,
            pid_file=Path(pid_file) if pid_file else None,
        )
        try:
            supervisor.run()  # until Ctrl-C or SIGTERM; a process that dies is restarted, and said so
        finally:
            if graph_fake is not None:
                graph_fake.terminate()
                graph_fake.wait(timeout=10)
