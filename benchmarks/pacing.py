"""Pacing load test: a burst of replies from one business number, measured where WhatsApp would count them.

The delivery worker of the Procfile sends against the Graph fake configured with the same limits the
product paces at (WhatsApp's, by default: 80 messages/s per number; one message per 6 s per
recipient with bursts of 5). Every reply is queued at once; the fake counts what it accepted in
every sliding second, per number and per recipient, and what it refused (130429, 131056). One
JSON line on stdout:

    python -m benchmarks.pacing [--messages 1000] [--recipients 1000]   # the number's limit binds
    python -m benchmarks.pacing --recipients 100                         # ten replies each: the pair limit

`BENCH_DATABASE_URL` (dropped and recreated) and `BENCH_REDIS_URL` (flushed) as for `make bench`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

import httpx

from benchmarks.stack import Stack, StackSettings, log
from tests.fakes.graph_server import max_in_window, pair_excess


def run(
    *, messages: int, recipients: int, rate: float, pair_interval_s: float, pair_burst: int, jitter_s: float
) -> dict[str, Any]:
    config = StackSettings.from_env()
    config.sizing = {
        "WHATSAPP_NUMBER_RATE_PER_S": str(rate),
        "WHATSAPP_PAIR_INTERVAL_S": str(pair_interval_s),
        "WHATSAPP_PAIR_BURST": str(pair_burst),
    }
    with Stack(config) as stack:
        # Only the delivery worker: the replies are queued directly, as finalize would.
        stack.start_fakes()
        stack.prepare_database()
        stack.start(["worker_delivery"])
        stack.wait_workers(["worker_delivery"])
        graph = httpx.Client(base_url=stack.graph_url, timeout=30.0)
        graph.post(
            "/_fake/config",
            json={
                "throughput_per_s": rate,
                "pair_interval_s": pair_interval_s,
                "pair_burst": pair_burst,
                "pacing_jitter_s": jitter_s,
            },
        ).raise_for_status()
        os.environ.update(stack.env)
        import django

        django.setup()
        from django.utils import timezone

        from conversations.models import Contact, Conversation, Message
        from pyloto.pipeline.dispatch import reply_send_enqueue

        now = timezone.now()
        ids: list[int] = []
        for index in range(recipients):
            contact = Contact.objects.create(wa_id=f"55119{index:08d}", profile_name=f"Cliente {index}")
            conversation = Conversation.objects.create(contact=contact, last_activity_at=now, last_inbound_at=now)
            rows = [
                Message(
                    conversation=conversation,
                    direction=Message.Direction.OUTBOUND,
                    type="text",
                    text=f"resposta {n}",
                    raw={"kind": "text", "body": f"resposta {n}", "preview_url": False},
                    status=Message.Status.PENDING,
                    purpose="reply",
                )
                for n in range(messages // recipients)
            ]
            ids += [message.pk for message in Message.objects.bulk_create(rows)]
        log(f"queueing {len(ids)} replies to {recipients} customers")
        started = time.monotonic()
        for message_id in ids:
            reply_send_enqueue(message_id=message_id)
        deadline = started + 600
        while time.monotonic() < deadline:
            accepted = graph.get("/_fake/stats").json().get("sent_text", 0)
            if accepted >= len(ids):
                break
            time.sleep(0.5)
        elapsed = time.monotonic() - started
        records = [r for r in graph.get("/_fake/requests", params={"kind": "message"}).json()]
        stats = graph.get("/_fake/stats").json()
    ok = [r for r in records if r.get("response", {}).get("status") == 200]
    by_recipient: dict[str, list[float]] = {}
    for record in ok:
        by_recipient.setdefault(record["json"]["to"], []).append(record["received_at"])
    first, last = min(r["received_at"] for r in ok), max(r["received_at"] for r in ok)
    return {
        "scenario": "pacing_burst",
        "replies": len(ids),
        "recipients": recipients,
        "configured_rate_per_s": rate,
        "configured_pair": {"interval_s": pair_interval_s, "burst": pair_burst},
        "fake_jitter_allowance_s": jitter_s,
        "accepted": len(ok),
        "refused_130429": stats.get("throttled_130429", 0),
        "refused_131056": stats.get("throttled_131056", 0),
        "max_accepted_in_any_1s": max_in_window([r["received_at"] for r in ok], window_s=1.0),
        "max_to_one_recipient_in_any_6s": max(max_in_window(t, window_s=6.0) for t in by_recipient.values()),
        "pair_bucket_breaches": sum(
            pair_excess(t, interval_s=pair_interval_s, burst=pair_burst) for t in by_recipient.values()
        ),
        "first_to_last_s": round(last - first, 2),
        "mean_rate_per_s": round((len(ok) - 1) / (last - first), 1) if last > first else None,
        "all_sent_within_s": round(elapsed, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1000)
    # 1 000 customers with one reply each: the number's limit binds; 100 with ten each: the pair limit binds.
    parser.add_argument("--recipients", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=80.0)
    parser.add_argument("--pair-interval-s", type=float, default=6.0)
    parser.add_argument("--pair-burst", type=int, default=5)
    parser.add_argument("--jitter-s", type=float, default=0.1, help="how early the fake lets a send arrive")
    args = parser.parse_args()
    result = run(
        messages=args.messages,
        recipients=args.recipients,
        rate=args.rate,
        pair_interval_s=args.pair_interval_s,
        pair_burst=args.pair_burst,
        jitter_s=args.jitter_s,
    )
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
