"""The log pipeline: JSON lines with timestamp/level/logger/event/correlation_id, PII masked last."""

import json
import logging
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
import structlog

from pyloto.observability.correlation import HTTP_HEADER, correlation_scope
from pyloto.observability.logging import logging_settings
from pyloto.observability.testing import capture_rendered_logs

log = structlog.get_logger("tests.observability")


def test_structlog_lines_are_json_with_the_correlation_id_and_masked_pii():
    with capture_rendered_logs() as lines, correlation_scope("cid-logging-1"):
        log.info("reply_sent", to="5511987654321", contact_email="maria@example.com", chars=42)
    records = [json.loads(line) for line in lines]
    record = next(r for r in records if r["event"] == "reply_sent")
    assert list(record)[:5] == ["timestamp", "level", "logger", "event", "correlation_id"]
    assert record["correlation_id"] == "cid-logging-1"
    assert record["level"] == "info"
    assert record["logger"] == "tests.observability"
    assert record["to"] == "*********4321"
    assert record["contact_email"] == "m***@***.com"
    assert record["chars"] == 42
    assert "5511987654321" not in lines[0]
    assert "maria@example.com" not in lines[0]


def test_stdlib_records_and_tracebacks_are_structured_and_masked_too():
    stdlib_logger = logging.getLogger("celery.worker.strategy")
    with capture_rendered_logs() as lines, correlation_scope("cid-logging-2"):
        stdlib_logger.warning("Task for %s rejected", "+55 (11) 98765-4321")
        try:
            raise ValueError("customer cpf 529.982.247-25 and joao@empresa.com.br")
        except ValueError:
            log.exception("run_failed")
    records = [json.loads(line) for line in lines]
    foreign = next(r for r in records if r["logger"] == "celery.worker.strategy")
    assert foreign["event"] == "Task for +55*******4321 rejected"
    assert foreign["correlation_id"] == "cid-logging-2"
    failed = next(r for r in records if r["event"] == "run_failed")
    assert "ValueError: customer cpf ***.***.***-25 and j***@***.br" in failed["exception"]
    joined = "\n".join(lines)
    assert "529.982.247-25" not in joined
    assert "98765-4321" not in joined


def test_lines_outside_a_run_still_carry_the_key():
    with capture_rendered_logs() as lines:
        log.info("sweeper_tick")
    assert json.loads(lines[-1])["correlation_id"] is None


def test_logging_settings_select_json_or_console_rendering():
    json_formatter = logging_settings(json=True)["formatters"]["structured"]
    console_formatter = logging_settings(json=False, level="WARNING")
    assert json_formatter == {"()": "pyloto.observability.logging.build_formatter", "json": True}
    assert console_formatter["formatters"]["structured"]["json"] is False
    assert console_formatter["root"]["level"] == "WARNING"
    with capture_rendered_logs(json=False) as lines:
        log.info("console_line", to="5511987654321")
    assert "console_line" in lines[0]
    assert "to=*********4321" in lines[0]
    assert not lines[0].startswith("{")


def test_each_request_gets_a_correlation_id_in_the_header_and_in_its_log_lines(client):
    with capture_rendered_logs() as lines:
        first = client.get("/healthz")
        second = client.get("/healthz")
    cid = first[HTTP_HEADER]
    assert len(cid) == 32
    assert second[HTTP_HEADER] != cid
    records = [json.loads(line) for line in lines]
    request_lines = [r for r in records if r["event"] == "request_finished"]
    # One line per request, carrying its own id: nothing of the first leaks into the second.
    assert [r["correlation_id"] for r in request_lines] == [cid, second[HTTP_HEADER]]
    assert request_lines[0]["code"] == 200 and request_lines[0]["request"] == "GET /healthz"
    assert request_lines[0]["level"] == "info" and isinstance(request_lines[0]["duration_ms"], float)
    assert "user_id" not in request_lines[0]


@pytest.mark.django_db
def test_a_request_line_says_who_was_signed_in_and_is_louder_when_the_request_failed(client, django_user_model):
    staff = django_user_model.objects.create_user("ana", password="x", is_staff=True)
    client.force_login(staff)
    with capture_rendered_logs() as lines:
        client.get("/healthz?phone=5511987654321")
        client.get("/no-such-page/")
    records = [json.loads(line) for line in lines if '"request_finished"' in line]
    found, missing = records
    assert found["user_id"] == staff.pk and found["request"] == "GET /healthz"  # never the query string
    assert missing["code"] == 404 and missing["level"] == "warning"


def test_every_process_keeps_the_os_clock_in_utc_whatever_the_machine_zone(tmp_path):
    # Celery beat prints its start-up banner with the OS local time; Django sets the OS zone to TIME_ZONE
    # (-03:00). A real beat process, started in a machine zone of São Paulo, must still print UTC.
    env = {**os.environ, "TZ": "America/Sao_Paulo", "DJANGO_SETTINGS_MODULE": "config.settings.test"}
    command = [sys.executable, "-m", "celery", "-A", "config", "beat", "--schedule", str(tmp_path / "schedule")]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        banner_time = None
        for line in process.stdout:
            if "LocalTime ->" in line:
                banner_time = datetime.fromisoformat(line.split("->", 1)[1].strip()).replace(tzinfo=UTC)
                break
    finally:
        process.kill()
        process.wait()
    assert banner_time is not None, "celery beat printed no start-up banner"
    # The zones differ by three hours; within one hour of UTC now means the banner is in UTC.
    assert abs(datetime.now(UTC) - banner_time) < timedelta(hours=1), banner_time
