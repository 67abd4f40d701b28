"""Shared fixtures: compiled translations, a clean Redis database per test and common factories."""

import gettext as gettext_module
import os
import shutil
from pathlib import Path

import pytest
import redis
import structlog
from django.conf import settings
from django.core.management import call_command
from django.utils.translation import trans_real

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


@pytest.fixture(autouse=True)
def _clean_log_context():
    """Each test starts with an empty structlog context: a test that fires a bare task_prerun (as a worker
    would) binds task ids that no postrun clears, and they would follow the thread into later tests."""
    structlog.contextvars.clear_contextvars()
    yield
    structlog.contextvars.clear_contextvars()


@pytest.fixture(scope="session", autouse=True)
def _compiled_translations():
    """Pages are asserted in Portuguese: compile the catalogue when its .mo is missing or older than the .po.

    `make test` compiles it first; this covers a bare `pytest` run after editing the .po.
    """
    for po in Path(settings.BASE_DIR, "locale").glob("*/LC_MESSAGES/*.po"):
        mo = po.with_suffix(".mo")
        if not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime:
            call_command("compilemessages", locale=[po.parent.parent.name], ignore=[".venv"], verbosity=0)
            # A catalogue loaded before the compile (at import) would hide the new one for the session:
            # drop Django's per-language cache and the standard library's per-file one.
            trans_real._translations = {}
            trans_real._default = None
            gettext_module._translations.clear()  # type: ignore[attr-defined]
