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


def test_workers_send_events_for_flower_and_each_listens_to_one_queue():
    workers = {name: cmd for name, cmd in procfile().items() if name.startswith("worker_")}
    assert {cmd.split("-Q ")[1].split()[0] for cmd in workers.values()} == {"pipeline", "llm", "delivery"}
    assert all(" -E " in cmd for cmd in workers.values())


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
