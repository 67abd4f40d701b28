"""Open-loop webhook load with aiohttp: signed bodies sent on a fixed schedule, whatever the server does.

Open loop means a slow server does not slow the sender down (no coordinated omission): request i
starts at `start + i / rate`. Bodies are built and signed before the clock starts, so the generator
spends its CPU on HTTP alone.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass

import aiohttp

from pyloto.whatsapp import simulator

WEBHOOK_PATH = "/webhooks/whatsapp/"


@dataclass
class Webhook:
    """One prepared POST: who sends it, its message id, the exact bytes and headers Meta would send."""

    wa_id: str
    wamid: str
    raw: bytes
    headers: dict[str, str]


@dataclass
class Outcome:
    wa_id: str
    wamid: str
    sent_at: float  # epoch seconds, comparable with the Graph recorder's received_at
    status: int  # 0 when the request failed without an HTTP answer
    latency_ms: float
    attempts: int = 1  # more than one when a refusal was redelivered (`redeliver_after_s`)


def text_webhooks(*, prefix: str, count: int, app_secret: str) -> list[Webhook]:
    """`count` first messages, each from its own customer, so each expects exactly one reply."""
    webhooks = []
    for index in range(count):
        wa_id = f"{prefix}{index:06d}"
        wamid = f"wamid.BENCH{wa_id}"
        body = simulator.text_webhook(
            text=f"Olá, gostaria de saber mais sobre os serviços ({index})", wa_id=wa_id, wamid=wamid
        )
        raw, headers = simulator.signed_request(body, app_secret=app_secret)
        webhooks.append(Webhook(wa_id=wa_id, wamid=wamid, raw=raw, headers=headers))
    return webhooks


BURST_TEXTS = ("Oi", "tudo bem?", "quanto custa o plano Essencial?")


def burst_webhooks(*, prefix: str, customers: int, gap_s: float, rate: float, app_secret: str) -> list[Webhook]:
    """Each customer sends `BURST_TEXTS` one after the other, `gap_s` apart, when sent open loop at `rate`.

    The uniform schedule of `send_open_loop` gives the gaps: customers go in blocks of `rate * gap_s`,
    the block's first messages, then its second ones, then its third.
    """
    block = max(1, round(rate * gap_s))
    webhooks = []
    for first in range(0, customers, block):
        members = range(first, min(first + block, customers))
        for position, text in enumerate(BURST_TEXTS):
            for index in members:
                wa_id = f"{prefix}{index:06d}"
                wamid = f"wamid.BENCH{wa_id}.{position}"
                body = simulator.text_webhook(text=text, wa_id=wa_id, wamid=wamid)
                raw, headers = simulator.signed_request(body, app_secret=app_secret)
                webhooks.append(Webhook(wa_id=wa_id, wamid=wamid, raw=raw, headers=headers))
    return webhooks


async def _post(
    session: aiohttp.ClientSession,
    url: str,
    webhook: Webhook,
    outcomes: list[Outcome],
    redeliver_after_s: tuple[float, ...] = (),
) -> None:
    """POST one webhook; a refusal is posted again after each delay of `redeliver_after_s`, as Meta does.

    The outcome keeps the first attempt's `sent_at`: the customer's clock starts when they wrote,
    so a refusal costs the message its redelivery delay.
    """
    sent_at = time.time()
    attempts = 0
    for delay in (0.0, *redeliver_after_s):
        if delay:
            await asyncio.sleep(delay)
        attempts += 1
        started = time.perf_counter()
        status = 0
        try:
            async with session.post(url, data=webhook.raw, headers=webhook.headers) as response:
                await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError):
            status = 0
        if status == 200:
            break
    latency_ms = (time.perf_counter() - started) * 1000
    outcomes.append(Outcome(webhook.wa_id, webhook.wamid, sent_at, status, latency_ms, attempts))


async def _run(
    base_url: str,
    webhooks: list[Webhook],
    rate: float,
    connections: int,
    timeout_s: float,
    redeliver_after_s: tuple[float, ...],
) -> list[Outcome]:
    url = base_url.rstrip("/") + WEBHOOK_PATH
    outcomes: list[Outcome] = []
    connector = aiohttp.TCPConnector(limit=connections, force_close=False)
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        loop = asyncio.get_running_loop()
        tasks: list[asyncio.Task] = []
        start = loop.time()
        launched = 0
        while launched < len(webhooks):
            due = len(webhooks) if math.isinf(rate) else min(len(webhooks), int((loop.time() - start) * rate) + 1)
            while launched < due:
                tasks.append(asyncio.create_task(_post(session, url, webhooks[launched], outcomes, redeliver_after_s)))
                launched += 1
            if launched < len(webhooks):
                # Until the next one is due, not a fixed tick: a 2 ms tick cost the load generator a few
                # per cent of a core at 5/s, on the cores the stack it measures runs on.
                await asyncio.sleep(max(0.0, start + launched / rate - loop.time()))
        await asyncio.gather(*tasks)
    return outcomes


def send_open_loop(
    base_url: str,
    webhooks: list[Webhook],
    *,
    rate: float,
    connections: int = 256,
    timeout_s: float = 30.0,
    redeliver_after_s: tuple[float, ...] = (),
) -> list[Outcome]:
    """POST every webhook at `rate` per second (math.inf: all at once); one outcome per webhook.

    `redeliver_after_s`: the delays before posting a refused webhook again (none by default, so a
    benchmark sees every refusal); the fault run passes Meta-like backoff.
    """
    return asyncio.run(_run(base_url, webhooks, rate, connections, timeout_s, redeliver_after_s))
