"""The fake Graph server itself: it must refuse what Meta refuses, or it would hide our payload bugs."""

import asyncio
import copy
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import httpx
import pytest

from pyloto.supervisor import free_port
from tests.fakes.graph_server import running_graph_server

TOKEN = "fake-token"
PNID = "123456789"
PATH = f"/v23.0/{PNID}/messages"

VALID = {
    "text": {"type": "text", "text": {"preview_url": False, "body": "hi"}},
    "button": {
        "type": "interactive",
        "interactive": {
            "type": "button",
            "header": {"type": "text", "text": "Header"},
            "body": {"text": "Pick"},
            "footer": {"text": "Footer"},
            "action": {
                "buttons": [
                    {"type": "reply", "reply": {"id": "a", "title": "A"}},
                    {"type": "reply", "reply": {"id": "b", "title": "B"}},
                ]
            },
        },
    },
    "list": {
        "type": "interactive",
        "interactive": {
            "type": "list",
            "body": {"text": "Choose"},
            "action": {
                "button": "Options",
                "sections": [
                    {"title": "One", "rows": [{"id": "r1", "title": "Row 1", "description": "d"}]},
                    {"title": "Two", "rows": [{"id": "r2", "title": "Row 2"}]},
                ],
            },
        },
    },
    "image": {"type": "image", "image": {"link": "https://cdn.example.com/a.png", "caption": "c"}},
    "video": {"type": "video", "video": {"link": "https://cdn.example.com/a.mp4"}},
}


def _send_body(kind, recipient=None):
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        **(recipient or {"to": "5511987654321"}),
        **copy.deepcopy(VALID[kind]),
    }


@pytest.fixture(scope="module")
def graph():
    with running_graph_server(access_token=TOKEN, phone_number_id=PNID) as server:
        yield server


@pytest.fixture
def http(graph):
    graph.reset()
    with httpx.Client(base_url=graph.base_url, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        yield client


@pytest.mark.parametrize("kind", VALID)
def test_valid_raw_payloads_are_accepted(http, graph, kind):
    response = http.post(PATH, json=_send_body(kind))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["messaging_product"] == "whatsapp"
    assert body["contacts"] == [{"input": "5511987654321", "wa_id": "5511987654321"}]
    assert body["messages"][0]["id"].startswith("wamid.")
    assert graph.sent_messages() == [_send_body(kind)]


def _set(path, value):
    def mutate(body):
        target = body
        for key in path[:-1]:
            target = target[key]
        if value is _DELETE:
            del target[path[-1]]
        else:
            target[path[-1]] = value

    return mutate


_DELETE = object()
I = "interactive"  # noqa: E741
BUTTONS = (I, "action", "buttons")
SECTIONS = (I, "action", "sections")

OVER_LIMIT = {
    "text body 4097": ("text", _set(("text", "body"), "x" * 4097), 131009),
    "text body empty": ("text", _set(("text", "body"), ""), 131009),
    "text body not a string": ("text", _set(("text", "body"), 5), 100),
    "text missing": ("text", _set(("text",), _DELETE), 100),
    "text unknown key": ("text", _set(("text", "bodyy"), "x"), 100),
    "wrong product": ("text", _set(("messaging_product",), "sms"), 100),
    "no recipient": ("text", _set(("to",), _DELETE), 100),
    "to not a phone": ("text", _set(("to",), "alice"), 100),
    "bad bsuid": ("text", lambda b: (b.pop("to"), b.update(recipient="not-a-bsuid")), 100),
    "unknown top-level key": ("text", _set(("colour",), "red"), 100),
    "unsupported type": ("text", _set(("type",), "sticker"), 100),
    "4 buttons": (
        "button",
        lambda b: b[I]["action"]["buttons"].extend(
            [{"type": "reply", "reply": {"id": f"x{i}", "title": f"X{i}"}} for i in range(2)]
        ),
        131009,
    ),
    "button title 21": ("button", _set((*BUTTONS, 0, "reply", "title"), "t" * 21), 131009),
    "button id 257": ("button", _set((*BUTTONS, 0, "reply", "id"), "i" * 257), 131009),
    "button ids repeated": ("button", _set((*BUTTONS, 1, "reply", "id"), "a"), 131009),
    "button titles repeated": ("button", _set((*BUTTONS, 1, "reply", "title"), "A"), 131009),
    "button type not reply": ("button", _set((*BUTTONS, 0, "type"), "url"), 100),
    "button body 1025": ("button", _set((I, "body", "text"), "b" * 1025), 131009),
    "button footer 61": ("button", _set((I, "footer", "text"), "f" * 61), 131009),
    "button header 61": ("button", _set((I, "header", "text"), "h" * 61), 131009),
    "interactive body missing": ("button", _set((I, "body"), _DELETE), 100),
    "list 11 rows": (
        "list",
        lambda b: b[I]["action"]["sections"][1]["rows"].extend([{"id": f"x{i}", "title": f"X{i}"} for i in range(9)]),
        131009,
    ),
    "list 11 sections": (
        "list",
        lambda b: b[I]["action"]["sections"].extend(
            [{"title": f"S{i}", "rows": [{"id": f"s{i}", "title": "t"}]} for i in range(9)]
        ),
        131009,
    ),
    "list row title 25": ("list", _set((*SECTIONS, 0, "rows", 0, "title"), "t" * 25), 131009),
    "list row description 73": ("list", _set((*SECTIONS, 0, "rows", 0, "description"), "d" * 73), 131009),
    "list row id 201": ("list", _set((*SECTIONS, 0, "rows", 0, "id"), "r" * 201), 131009),
    "list row ids repeated": ("list", _set((*SECTIONS, 1, "rows", 0, "id"), "r1"), 131009),
    "list section title 25": ("list", _set((*SECTIONS, 0, "title"), "s" * 25), 131009),
    "list untitled among two": ("list", _set((*SECTIONS, 0, "title"), _DELETE), 131009),
    "list empty section": ("list", _set((*SECTIONS, 0, "rows"), []), 131009),
    "list button label 21": ("list", _set((I, "action", "button"), "l" * 21), 131009),
    "list body 1025": ("list", _set((I, "body", "text"), "b" * 1025), 131009),
    "image http link": ("image", _set(("image", "link"), "http://cdn.example.com/a.png"), 131009),
    "image caption 1025": ("image", _set(("image", "caption"), "c" * 1025), 131009),
    "image no link": ("image", _set(("image", "link"), _DELETE), 100),
    "video http link": ("video", _set(("video", "link"), "http://cdn.example.com/a.mp4"), 131009),
    "video caption 1025": ("video", _set(("video", "caption"), "c" * 1025), 131009),
}


@pytest.mark.parametrize("name", OVER_LIMIT)
def test_fake_rejects_what_meta_rejects(http, graph, name):
    kind, mutate, code = OVER_LIMIT[name]
    body = _send_body(kind)
    mutate(body)
    response = http.post(PATH, json=body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert {"message", "type", "code", "error_subcode", "fbtrace_id"} <= set(error)
    assert graph.sent_messages() == []
    [record] = graph.requests()
    assert record["response"]["status"] == 400


def test_bsuid_recipient_is_answered_with_user_id(http):
    response = http.post(PATH, json=_send_body("text", {"recipient": "US.ENT.11815799212886844830"}))
    assert response.status_code == 200, response.text
    assert response.json()["contacts"] == [
        {"input": "US.ENT.11815799212886844830", "user_id": "US.ENT.11815799212886844830"}
    ]


def test_phone_number_wins_when_both_recipients_are_given(http):
    response = http.post(PATH, json=_send_body("text", {"to": "5511987654321", "recipient": "BR.1234"}))
    assert response.json()["contacts"][0]["wa_id"] == "5511987654321"


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}])
def test_missing_or_wrong_token_is_refused(graph, headers):
    graph.reset()
    response = httpx.post(graph.base_url + PATH, json=_send_body("text"), headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == 190
    assert graph.sent_messages() == []


def test_unknown_phone_number_id_and_bad_json_are_refused(http):
    unknown = http.post("/v23.0/999/messages", json=_send_body("text"))
    assert unknown.status_code == 400
    assert unknown.json()["error"]["error_subcode"] == 33
    not_json = http.post(PATH, content=b"{not json", headers={"Content-Type": "application/json"})
    assert not_json.status_code == 400
    assert not_json.json()["error"]["code"] == 100
    assert http.post("/v23.0/messages", json=_send_body("text")).status_code == 400


@pytest.mark.parametrize(
    ("body", "ok"),
    [
        ({"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.A"}, True),
        (
            {
                "messaging_product": "whatsapp",
                "status": "read",
                "message_id": "wamid.A",
                "typing_indicator": {"type": "text"},
            },
            True,
        ),
        ({"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.A", "typing_indicator": True}, False),
        ({"messaging_product": "whatsapp", "status": "delivered", "message_id": "wamid.A"}, False),
        ({"messaging_product": "whatsapp", "status": "read"}, False),
        ({"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.A", "to": "5511"}, False),
    ],
)
def test_read_receipts_are_validated(http, graph, body, ok):
    response = http.post(PATH, json=body)
    assert (response.status_code == 200) is ok, response.text
    if ok:
        assert response.json() == {"success": True}
    assert graph.read_receipts() == ([body] if ok else [])
    assert graph.sent_messages() == []


def test_scripted_errors_answer_the_next_requests_in_order(http, graph):
    graph.configure(script=[130429, None, {"code": 131000, "status": 503}, 131047])
    statuses = [http.post(PATH, json=_send_body("text")) for _ in range(5)]
    assert [(r.status_code, r.json().get("error", {}).get("code")) for r in statuses] == [
        (429, 130429),
        (200, None),
        (503, 131000),
        (400, 131047),
        (200, None),
    ]
    assert graph.stats()["injected"] == 3
    assert len(graph.sent_messages()) == 2


def test_error_rate_injects_throttling_with_retry_after(http, graph):
    graph.configure(error_rate=1.0, error_codes=[130429], retry_after_s=2)
    response = http.post(PATH, json=_send_body("text"))
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "2"
    graph.configure(error_rate=0.5, seed=7)
    outcomes = {http.post(PATH, json=_send_body("text")).status_code for _ in range(40)}
    assert outcomes == {200, 429}


def test_control_endpoints(http, graph):
    http.post(PATH, json=_send_body("text"))
    http.post(PATH, json={"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.A"})
    recorded = http.get("/_fake/requests").json()
    assert [r["kind"] for r in recorded] == ["message", "read"]
    assert all(r["received_at"] <= r["responded_at"] for r in recorded)
    assert recorded[0]["response"]["status"] == 200
    assert [r["kind"] for r in http.get("/_fake/requests", params={"kind": "read"}).json()] == ["read"]
    assert http.post("/_fake/config", json={"latency_ms": 25}).json()["latency_ms"] == 25
    assert http.post("/_fake/config", json={"no_such_knob": 1}).status_code == 400
    assert http.delete("/_fake/requests").status_code == 200
    assert http.get("/_fake/requests").json() == []
    graph.reset()
    assert graph.config()["latency_ms"] == 0


def test_latency_is_applied(http, graph):
    graph.configure(latency_ms=150)
    started = time.perf_counter()
    http.post(PATH, json=_send_body("text"))
    assert time.perf_counter() - started >= 0.15


def test_holds_hundreds_of_concurrent_requests(graph):
    graph.reset()
    concurrency = 500
    # Nothing is answered until all are in flight together: a one-at-a-time server would time the hold out.
    graph.configure(hold_in_flight=concurrency, hold_timeout_s=60)

    async def burst():
        # aiohttp's client, because httpx's async pool is itself slow past a few hundred connections.
        connector = aiohttp.TCPConnector(limit=concurrency)
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with aiohttp.ClientSession(graph.base_url, connector=connector, headers=headers) as session:

            async def one():
                async with session.post(PATH, json=_send_body("text")) as response:
                    return response.status, await response.json()

            return await asyncio.gather(*(one() for _ in range(concurrency)))

    responses = asyncio.run(burst())
    failed = [body for status, body in responses if status != 200]
    assert not failed, failed[0]
    assert len({body["messages"][0]["id"] for _, body in responses}) == concurrency
    records = graph.requests()
    assert max(r["received_at"] for r in records) <= min(r["responded_at"] for r in records)
    assert graph.stats()["accepted"] == concurrency


def test_a_hold_that_never_fills_fails_loudly_naming_the_counts(http, graph):
    graph.configure(hold_in_flight=2, hold_timeout_s=0.2)
    response = http.post(PATH, json=_send_body("text"))
    assert response.status_code == 400
    assert "only 1 arrived" in response.json()["error"]["error_data"]["details"]


def test_runs_as_a_command():
    port = free_port()
    root = Path(__file__).resolve().parents[3]
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.fakes.graph_server",
            "--port",
            str(port),
            "--latency-ms",
            "50",
            "--error-rate",
            "0.0",
            "--access-token",
            TOKEN,
        ],
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        # Generous: a cold interpreter start on a loaded 2-core machine; it only bounds a failure.
        deadline = time.monotonic() + 60
        while True:
            try:
                config = httpx.get(base + "/_fake/config").json()
                break
            except httpx.ConnectError:
                assert process.poll() is None, f"the fake exited with code {process.returncode}"
                assert time.monotonic() < deadline, "the fake did not start within 60 s"
                time.sleep(0.05)
        assert config["latency_ms"] == 50
        response = httpx.post(base + PATH, json=_send_body("text"), headers={"Authorization": f"Bearer {TOKEN}"})
        assert response.status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=10)
