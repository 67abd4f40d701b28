"""`make run`'s embedded default on SQLite: a customer's message is stored, read, answered and sent.

The rest of the suite runs on PostgreSQL, so SQL that only PostgreSQL speaks would pass it and still
break the first command of the README on a machine without DATABASE_URL. This runs the real code in
a process of its own: SQLite, tasks in-process (PYLOTO_EMBEDDED), no LLM key (the offline answerer),
the replies to the fake Graph server.
"""

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from tests.support import E2E_TIMEOUT_S

pytestmark = pytest.mark.e2e

APP_SECRET = "embedded-test-secret"  # signs a fake webhook on loopback only
CUSTOMER = "5511966660001"

# Posts one signed webhook through Django's own handler, as gunicorn would hand it over.
DRIVER = f"""
import json
from django.conf import settings
from django.test import Client
from pyloto.whatsapp import simulator

settings.ALLOWED_HOSTS = ["testserver"]
text = "Olá! Quais serviços vocês oferecem?"
body = simulator.text_webhook(text=text, wa_id="{CUSTOMER}", wamid=simulator.new_wamid())
raw, headers = simulator.signed_request(body, app_secret="{APP_SECRET}")
response = Client().post("/webhooks/whatsapp/", data=raw, content_type="application/json", headers=headers)
print(json.dumps({{"status": response.status_code}}))
"""


def _manage(args: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=E2E_TIMEOUT_S * 6,
        check=False,
    )
    assert done.returncode == 0, f"manage.py {args[0]} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def test_a_customer_is_answered_on_sqlite_with_tasks_in_process(tmp_path: Path, fake_graph):
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DATABASE_", "REDIS_", "CELERY_", "OPENAI_", "WHATSAPP_", "DJANGO_"))
    }
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.local",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        PYLOTO_EMBEDDED="1",
        OPENAI_API_KEY="",
        WHATSAPP_APP_SECRET=APP_SECRET,
        WHATSAPP_API_BASE_URL=fake_graph.base_url,
        WHATSAPP_ACCESS_TOKEN=settings.WHATSAPP_ACCESS_TOKEN,
        WHATSAPP_PHONE_NUMBER_ID=settings.WHATSAPP_PHONE_NUMBER_ID,
        # Its own directory: prometheus-client writes its files wherever this points, even when empty.
        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
    )
    _manage(["migrate", "--verbosity=0"], env)
    _manage(["seed_demo"], env)

    out = _manage(["shell", "-c", DRIVER], env)

    assert json.loads(out.strip().splitlines()[-1]) == {"status": 200}
    sent = fake_graph.wait_for_sent(1, timeout_s=E2E_TIMEOUT_S)
    assert [message["to"] for message in sent] == [CUSTOMER]
    assert sent[0]["type"] in {"text", "interactive"}
    # Meta got it, and the database says so: a reply left `sending` would be resent by the sweeper.
    with sqlite3.connect(tmp_path / "db.sqlite3") as db:
        outbound = db.execute("SELECT status, wamid FROM conversations_message WHERE direction = 'out'").fetchall()
    assert [status for status, _wamid in outbound] == ["sent"] and outbound[0][1].startswith("wamid.")
