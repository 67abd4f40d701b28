"""Browser tests: Playwright for Python driving Debian's Chromium against a live server.

The live server is pytest-django's (a real WSGI server in a thread of the test process), with the fake
Graph API and, where a test needs delivery, a real Celery worker. Every test saves screenshots of the
pages it visits under `var/test-artifacts/browser/` (gitignored). Waits use Playwright's auto-waiting
with generous timeouts, never sleeps: the machine may be loaded.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import Browser, Page, expect, sync_playwright

# Playwright's sync API runs an event loop in this thread; the test's own ORM calls are still
# synchronous and serial, which is what Django's guard exists to ensure.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

ARTIFACTS = Path(settings.BASE_DIR) / "var" / "test-artifacts" / "browser"
TIMEOUT_MS = 30_000
PASSWORD = "senha-de-teste-123"

pytestmark = pytest.mark.browser


def chromium_path() -> str:
    """Debian's Chromium (`make test` installs it); no Playwright browser download."""
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    raise RuntimeError("Chromium is not installed: run `bash scripts/ensure_chromium.sh` (or `make test`).")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # Per module, not per session: Playwright's loop must be gone before other tests call asyncio.run().
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium_path(), headless=True, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser, request) -> Iterator[Page]:
    context = browser.new_context(
        locale="pt-BR", timezone_id="America/Sao_Paulo", viewport={"width": 1280, "height": 900}
    )
    context.set_default_timeout(TIMEOUT_MS)
    expect.set_options(timeout=TIMEOUT_MS)
    opened = context.new_page()
    yield opened
    # Whatever the outcome, the last page the test saw (the first thing to look at when one fails).
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    opened.screenshot(path=str(ARTIFACTS / f"{_test_name(request)}--last.png"), full_page=True)
    context.close()


def _test_name(request) -> str:
    return re.sub(r"[^\w]+", "-", request.node.name).strip("-")


@pytest.fixture
def shot(page: Page, request):
    """`shot("queue")` saves a full-page screenshot named after the test and the step."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    test_name = _test_name(request)

    def take(step: str) -> Path:
        path = ARTIFACTS / f"{test_name}--{step}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


@pytest.fixture
def log_in(page: Page, live_server):
    """Log in through the staff login page, as a person would (right password: never trips a lockout)."""

    def go(user, *, next_url: str = "/inbox/") -> None:
        page.goto(f"{live_server.url}/accounts/login/?next={next_url}")
        page.get_by_label("Usuário").fill(user.get_username())
        page.get_by_label("Senha").fill(PASSWORD)
        page.get_by_role("button", name="Acessar").click()
        page.wait_for_url(re.compile(re.escape(next_url)))

    return go
