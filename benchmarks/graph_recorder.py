"""The fake Graph server with a compact reply log for load tests: who was answered, when, and a long-poll.

It is `tests.fakes.graph_server` unchanged (same validation, latency and error injection, same
`/_fake/*` control API) plus a middleware that notes every accepted message send, so a benchmark or
a Locust user can ask cheaply:

- `GET /_bench/replies?after=SEQ` — `[seq, to, received_at, wamid, type]` rows after SEQ, oldest first;
- `GET /_bench/wait?to=WA_ID&after=SEQ&timeout=S` — the first reply to WA_ID after SEQ (204 on timeout);
- `GET /_bench/count` and `DELETE /_bench/replies`.

`received_at` is when the send reached the fake, before its configured latency: the moment the
customer would see the reply.

    python -m benchmarks.graph_recorder --port 8091 --latency-ms 50
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import logging
import time
from collections import defaultdict
from typing import Any

from aiohttp import web

from tests.fakes.graph_server import MESSAGES_PATH, FakeGraphConfig, build_app

log = logging.getLogger(__name__)

MAX_WAIT_S = 120.0


class ReplyLog:
    """Accepted sends in arrival order, indexed by recipient; waiters are futures resolved on arrival."""

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self.sequence = itertools.count(1)
        self.rows: list[list[Any]] = []
        self.by_recipient: dict[str, list[list[Any]]] = defaultdict(list)
        self.reads = 0
        self.waiters: dict[str, list[asyncio.Future]] = defaultdict(list)

    def add(self, to: str, received_at: float, wamid: str, kind: str) -> None:
        row = [next(self.sequence), to, received_at, wamid, kind]
        self.rows.append(row)
        self.by_recipient[to].append(row)
        for waiter in self.waiters.pop(to, []):
            if not waiter.done():
                waiter.set_result(row)

    def first_after(self, to: str, after: int) -> list[Any] | None:
        return next((row for row in self.by_recipient.get(to, []) if row[0] > after), None)


REPLIES_KEY = web.AppKey("replies", ReplyLog)


@web.middleware
async def record_replies(request: web.Request, handler: Any) -> web.StreamResponse:
    received_at = time.time()
    response = await handler(request)
    if request.method != "POST" or response.status != 200 or not MESSAGES_PATH.match(request.path):
        return response
    replies = request.app[REPLIES_KEY]
    # aiohttp keeps the body the handler read, so this costs no second read from the socket.
    body = json.loads(await request.read())
    if "status" in body:
        replies.reads += 1
        return response
    answer = json.loads(response.body)  # type: ignore[attr-defined]
    to = body.get("to") or body.get("recipient") or ""
    replies.add(to, received_at, answer["messages"][0]["id"], body.get("type", "text"))
    return response


async def _replies(request: web.Request) -> web.Response:
    replies = request.app[REPLIES_KEY]
    after = int(request.query.get("after", "0"))
    # Rows are in sequence order with seq == index + 1, so the tail is a slice.
    rows = replies.rows[after:] if after >= 0 else replies.rows
    return web.json_response({"replies": rows, "reads": replies.reads})


async def _count(request: web.Request) -> web.Response:
    replies = request.app[REPLIES_KEY]
    return web.json_response({"replies": len(replies.rows), "reads": replies.reads})


async def _clear(request: web.Request) -> web.Response:
    request.app[REPLIES_KEY].clear()
    return web.json_response({"cleared": True})


async def _wait(request: web.Request) -> web.Response:
    replies = request.app[REPLIES_KEY]
    to = request.query["to"]
    after = int(request.query.get("after", "0"))
    timeout = min(float(request.query.get("timeout", "30")), MAX_WAIT_S)
    row = replies.first_after(to, after)
    if row is None:
        waiter = asyncio.get_running_loop().create_future()
        replies.waiters[to].append(waiter)
        try:
            row = await asyncio.wait_for(waiter, timeout)
        except TimeoutError:
            return web.Response(status=204)
        finally:
            with contextlib.suppress(ValueError):
                replies.waiters.get(to, []).remove(waiter)
    return web.json_response({"seq": row[0], "received_at": row[2], "wamid": row[3], "type": row[4]})


def build_recorder_app(config: FakeGraphConfig) -> web.Application:
    app = build_app(config)
    app[REPLIES_KEY] = ReplyLog()
    app.middlewares.append(record_replies)
    app.router.add_get("/_bench/replies", _replies)
    app.router.add_delete("/_bench/replies", _clear)
    app.router.add_get("/_bench/count", _count)
    app.router.add_get("/_bench/wait", _wait)
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Fake Graph API with a reply log for load tests")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8091)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--error-rate", type=float, default=0.0)
    parser.add_argument("--access-token", default="local-access-token")
    parser.add_argument("--max-records", type=int, default=20_000)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    config = FakeGraphConfig(
        access_token=args.access_token,
        latency_ms=args.latency_ms,
        error_rate=args.error_rate,
        max_records=args.max_records,
    )
    log.info("graph_recorder_listening port=%s latency_ms=%s", args.port, args.latency_ms)
    web.run_app(build_recorder_app(config), host=args.host, port=args.port, backlog=2048, access_log=None, print=None)


if __name__ == "__main__":
    main()
