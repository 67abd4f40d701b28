"""Shared fixtures: a clean Redis database per test and common factories."""

import os
import shutil
from pathlib import Path

import pytest
import redis
from django.conf import settings

# Where scripts/ensure_promtool.sh puts promtool when none is on PATH.
PROMTOOL_DIR = Path(__file__).resolve().parent.parent / "var" / "tools" / "bin"

pytest_plugins = ["tests.fakes.graph_fixtures", "tests.fakes.openai_server", "tests.pipeline_fixtures"]


@pytest.fixture(autouse=True)
def _clean_redis():
    """Each test starts with an empty Redis test database (cache, broker queues, breaker state)."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.flushdb()
    yield
    client.flushdb()


@pytest.fixture(scope="session")
def promtool() -> str:
    """The promtool binary: on PATH, or where `make test` fetched it."""
    path = shutil.which("promtool", path=os.pathsep.join([os.environ.get("PATH", ""), str(PROMTOOL_DIR)]))
    if path is None:
        pytest.fail("promtool is not installed: run `make test` (scripts/ensure_promtool.sh fetches it)")
    return path
