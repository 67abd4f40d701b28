"""The ingest floor: the least a webhook endpoint can do (HMAC, `json.loads`, one INSERT), as a WSGI app.

`make bench` serves it with the web's own gunicorn command and settings (only the application is
swapped) and drives it like the real webhook, so the ratio of their CPU per request says what the
project's ingestion costs beyond the unavoidable. No Django request cycle, no ORM: one psycopg
connection per gunicorn thread, autocommit, one statement per request.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import threading
from collections.abc import Callable, Iterable
from typing import Any

import psycopg

TABLE = "bench_floor_webhook"
CREATE_TABLE = f"CREATE TABLE IF NOT EXISTS {TABLE} (id bigserial PRIMARY KEY, body jsonb NOT NULL)"
_INSERT = f"INSERT INTO {TABLE} (body) VALUES (%s)"  # noqa: S608 - a constant table name
_SECRET = os.environ.get("WHATSAPP_APP_SECRET", "").encode()
_local = threading.local()

StartResponse = Callable[[str, list[tuple[str, str]]], Any]


def _connection() -> psycopg.Connection:
    conn = getattr(_local, "conn", None)
    if conn is None or conn.closed:
        url = os.environ["DATABASE_URL"].replace("postgres://", "postgresql://", 1)
        conn = _local.conn = psycopg.connect(url, autocommit=True)
    return conn


def _answer(start_response: StartResponse, status: str, body: bytes) -> list[bytes]:
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    """POST: verify the signature, parse, store the body; 200 after the INSERT returned."""
    if environ.get("REQUEST_METHOD") != "POST":
        # GET is the readiness probe the benchmark waits on before driving load.
        return _answer(start_response, "200 OK", b'{"status": "ready"}')
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length)
    expected = "sha256=" + hmac.new(_SECRET, body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, environ.get("HTTP_X_HUB_SIGNATURE_256", "")):
        return _answer(start_response, "403 Forbidden", b'{"error": "invalid signature"}')
    try:
        json.loads(body)
    except ValueError:
        return _answer(start_response, "400 Bad Request", b'{"error": "body is not JSON"}')
    _connection().execute(_INSERT, (body.decode(),))
    return _answer(start_response, "200 OK", b'{"status": "received"}')
