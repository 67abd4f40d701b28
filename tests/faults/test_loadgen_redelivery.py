"""The fault run's load generator redelivers a refused webhook as Meta does, keeping the first attempt's clock."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from aiohttp import web

from benchmarks.loadgen import WEBHOOK_PATH, Webhook, send_open_loop


class RefusingServer:
    """Answers 503 to the first `refusals` posts of each message id, then 200; records every post."""

    def __init__(self, refusals: int) -> None:
        self.refusals = refusals
        self.posts: dict[str, int] = {}
        self.times: dict[str, list[float]] = {}
        self.url = ""
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._serve, daemon=True)

    async def _handle(self, request: web.Request) -> web.Response:
        wamid = (await request.read()).decode()
        self.posts[wamid] = self.posts.get(wamid, 0) + 1
        self.times.setdefault(wamid, []).append(time.time())
        return web.Response(status=503 if self.posts[wamid] <= self.refusals else 200)

    def _serve(self) -> None:
        self._loop = asyncio.new_event_loop()
        app = web.Application()
        app.router.add_post(WEBHOOK_PATH, self._handle)
        self._runner = runner = web.AppRunner(app, shutdown_timeout=0.1)
        self._loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        self._ready.set()
        self._loop.run_forever()

    def __enter__(self) -> RefusingServer:
        self._thread.start()
        assert self._ready.wait(30), "the refusing server did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(30)


def _webhooks(count: int) -> list[Webhook]:
    return [
        Webhook(wa_id=f"5511{i:04d}", wamid=f"wamid.{i}", raw=f"wamid.{i}".encode(), headers={}) for i in range(count)
    ]


@pytest.mark.parametrize("refusals", [0, 2])
def test_a_refused_webhook_is_posted_again_until_it_is_accepted(refusals):
    with RefusingServer(refusals) as server:
        outcomes = send_open_loop(server.url, _webhooks(3), rate=100, redeliver_after_s=(0.01, 0.01, 0.01))
    assert sorted(o.status for o in outcomes) == [200, 200, 200]
    assert {o.attempts for o in outcomes} == {refusals + 1}
    assert server.posts == {f"wamid.{i}": refusals + 1 for i in range(3)}


def test_redelivery_stops_after_its_last_delay_and_keeps_the_refusal_and_the_first_clock():
    with RefusingServer(refusals=10) as server:
        outcomes = send_open_loop(server.url, _webhooks(1), rate=100, redeliver_after_s=(0.05, 0.05))
    (outcome,) = outcomes
    assert outcome.status == 503
    assert outcome.attempts == 3
    assert server.posts == {"wamid.0": 3}
    first, *_, last = server.times["wamid.0"]
    # The customer's clock starts at the first attempt, not at a redelivery: sleeps only add time,
    # so the last post comes at least both delays after the clock started.
    assert outcome.sent_at <= first
    assert last - outcome.sent_at >= 0.1


def test_without_redelivery_a_refusal_is_reported_at_once():
    with RefusingServer(refusals=1) as server:
        outcomes = send_open_loop(server.url, _webhooks(2), rate=100)
    assert [o.status for o in outcomes] == [503, 503]
    assert server.posts == {"wamid.0": 1, "wamid.1": 1}
