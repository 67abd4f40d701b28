"""`manage.py chat` finds the server like `make run` and says in one line what to do when it cannot."""

import contextlib
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.management import CommandError, call_command


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.django_db
def test_without_url_it_targets_port_like_make_run_and_says_what_to_do_when_nothing_answers(settings):
    settings.PORT = _closed_port()
    with pytest.raises(CommandError) as caught:
        call_command("chat")
    message = str(caught.value)
    assert f"Nothing answers at http://127.0.0.1:{settings.PORT}" in message
    assert "make run" in message and "\n" not in message


class _AcceptsEverything(BaseHTTPRequestHandler):
    """A server that answers 200 and keeps nothing: one storing messages in another database."""

    post_status = 200

    def do_GET(self):
        self._answer(200)

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self._answer(self.post_status)

    def _answer(self, status):
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


class _ChecksAnotherSecret(_AcceptsEverything):
    """What a server started with another WHATSAPP_APP_SECRET answers every signed webhook."""

    post_status = 403


@contextlib.contextmanager
def _serving(handler):
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def elsewhere_server():
    with _serving(_AcceptsEverything) as url:
        yield url


@pytest.mark.django_db
def test_a_server_on_another_database_is_named_instead_of_waiting_silently(elsewhere_server, monkeypatch):
    typed = iter(["Olá", "/quit"])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(typed))
    with pytest.raises(CommandError) as caught:
        call_command("chat", url=elsewhere_server, wait=0.2)
    assert "another database" in str(caught.value)
    assert "DATABASE_URL" in str(caught.value)


@pytest.mark.django_db
def test_a_server_checking_another_app_secret_is_named(monkeypatch):
    typed = iter(["Olá", "/quit"])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(typed))
    with _serving(_ChecksAnotherSecret) as url, pytest.raises(CommandError) as caught:
        call_command("chat", url=url, wait=0.2)
    assert "WHATSAPP_APP_SECRET" in str(caught.value)
