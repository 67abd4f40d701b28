"""The process declarations agree: Procfile, docker-compose, `make run` and CI."""

from pathlib import Path

import yaml

from pyloto.management.commands.run_stack import EMBEDDED_STACK, FULL_STACK

ROOT = Path(__file__).resolve().parent.parent


def procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line.strip() and not line.startswith("#"))


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_every_procfile_process_runs_in_compose_with_the_same_command():
    services = compose()["services"]
    for name, command in procfile().items():
        assert name in services, f"{name} missing from docker-compose.yml"
        shell = services[name]["command"]
        assert shell[:2] == ["sh", "-c"]
        # Compose interpolates ${...} itself; $$ passes a literal $ through to the container's shell.
        assert shell[2].replace("$$", "$") == command


def test_make_run_starts_exactly_the_procfile_processes():
    assert set(FULL_STACK) == set(procfile())
    assert set(EMBEDDED_STACK) <= set(FULL_STACK)


def test_workers_send_no_events_until_flower_asks_and_each_owns_one_queue_and_two_share_the_loss_guards():
    workers = {name: cmd for name, cmd in procfile().items() if name.startswith("worker_")}
    queues = {name: cmd.split("-Q ")[1].split()[0].split(",") for name, cmd in workers.items()}
    assert {own[0] for own in queues.values()} == {"pipeline", "llm", "delivery"}
    # The sweeper must not depend on one worker staying alive: two database workers consume it.
    assert sorted(name for name, own in queues.items() if "maintenance" in own) == [
        "worker_delivery",
        "worker_pipeline",
    ]
    # The webhook's reading step runs on the delivery worker's threads, never on the pipeline's
    # processes: a stream of webhooks must not take the processes that started runs need to finish.
    assert [name for name, own in queues.items() if "ingest" in own] == ["worker_delivery"]
    # Task events cost three publishes per task: off unless Flower (its enable_events control) asks.
    assert not any(" -E " in cmd for cmd in workers.values())


def test_every_long_running_compose_service_restarts_unless_stopped():
    services = compose()["services"]
    for name in [*procfile(), "postgres", "redis"]:
        assert services[name].get("restart") == "unless-stopped", name
    assert services["migrate"].get("restart") in (None, "no")


def test_the_beat_sends_the_loss_guards_to_the_maintenance_queue_and_drops_stale_ones():
    from django.conf import settings

    for entry in settings.CELERY_BEAT_SCHEDULE.values():
        assert entry["options"]["queue"] == "maintenance"
        assert 0 < entry["options"]["expires"] <= 2 * entry["schedule"]


def test_flower_requires_basic_auth_and_services_have_healthchecks():
    services = compose()["services"]
    assert "--basic-auth=" in procfile()["flower"]
    assert "FLOWER_BASIC_AUTH:?" in (ROOT / "docker-compose.yml").read_text()
    for name in ("postgres", "redis", "web", "worker_pipeline", "worker_llm", "worker_delivery"):
        assert "healthcheck" in services[name], name


def test_ci_runs_exactly_make_test():
    script = (ROOT / ".ci" / "run").read_text()
    assert [line for line in script.splitlines() if line.strip() and not line.startswith(("#", "set ", "cd "))] == [
        "make test"
    ]
