"""Locust for QA: simulated WhatsApp customers posting correctly signed webhooks with a realistic mix.

Each Locust user is one customer with its own wa_id. Its tasks mix texts, button and list replies,
media with a caption, delivery/read statuses for the replies it got, and duplicates (Meta delivers
at least once). Configured from the environment:

- `LOCUST_HOST` — the stack under test (Locust's own variable; `--host` works too);
- `WHATSAPP_APP_SECRET` — signs every body the way Meta does (the stack's secret);
- `LOCUST_USERS` / `LOCUST_SPAWN_RATE` / `LOCUST_RUN_TIME` — how many customers, how fast, how long;
- `LOADTEST_GRAPH_URL` — closed loop: after each message that expects an answer the customer waits
  for its reply at the Graph recorder (`python -m benchmarks.graph_recorder`) and Locust reports the
  end-to-end latency as request type `REPLY`; unset, the customers only post (open loop per user);
- `LOADTEST_REPLY_TIMEOUT_S` (default 30) and `LOADTEST_THINK_S` (default `1,3`: seconds between messages).

`make loadtest` starts the whole stack with the fakes and runs this headless.
"""

import itertools
import logging
import os
import random
import time

import requests
from locust import FastHttpUser, between, events, task

from pyloto.whatsapp import simulator

WEBHOOK_PATH = "/webhooks/whatsapp/"
APP_SECRET = os.environ.get("WHATSAPP_APP_SECRET", "local-app-secret")
GRAPH_URL = os.environ.get("LOADTEST_GRAPH_URL", "").rstrip("/")
REPLY_TIMEOUT_S = float(os.environ.get("LOADTEST_REPLY_TIMEOUT_S", "30"))
THINK_MIN_S, THINK_MAX_S = (float(v) for v in os.environ.get("LOADTEST_THINK_S", "1,3").split(","))
# Distinct customers across runs and Locust worker processes: a random run prefix, then a counter.
_RUN_PREFIX = f"55{random.randint(100, 999)}"  # noqa: S311 - an identifier, not a secret
_customer_numbers = itertools.count(1)
TEXTS = [
    "Olá, bom dia!",
    "Quais serviços vocês oferecem?",
    "Quanto custa o plano básico?",
    "Vocês atendem aos sábados?",
    "Quero falar sobre meu pedido",
    "Obrigado pelas informações",
]


class Customer(FastHttpUser):
    """One WhatsApp customer talking to the assistant."""

    wait_time = between(THINK_MIN_S, THINK_MAX_S)

    def on_start(self) -> None:
        self.wa_id = f"{_RUN_PREFIX}{next(_customer_numbers):07d}"
        self.name = f"Cliente {self.wa_id[-4:]}"
        self.last_raw: bytes | None = None
        self.last_headers: dict[str, str] = {}
        self.reply_wamids: list[str] = []
        self.last_reply_seq = 0
        self.statuses_sent = 0
        # The wait for replies is plain HTTP outside Locust's statistics: only the REPLY event counts.
        self.graph = requests.Session() if GRAPH_URL else None

    # --- the mix (weights: what a day of a customer-service number looks like) ---------------------

    @task(60)
    def text(self) -> None:
        self._message(simulator.message_element(kind="text", text=random.choice(TEXTS), wa_id=self.wa_id), "text")  # noqa: S311

    @task(10)
    def button_reply(self) -> None:
        element = simulator.message_element(
            kind="button_reply", text="Ver serviços", reply_id="services", wa_id=self.wa_id
        )
        self._message(element, "button_reply")

    @task(10)
    def list_reply(self) -> None:
        element = simulator.message_element(
            kind="list_reply", text="Plano básico", reply_id="plan_basic", wa_id=self.wa_id
        )
        self._message(element, "list_reply")

    @task(5)
    def media(self) -> None:
        element = simulator.message_element(kind="image", text="Segue a foto do produto", wa_id=self.wa_id)
        self._message(element, "image")

    @task(10)
    def status(self) -> None:
        """Meta's delivered/read callbacks for a reply this customer got (or a text when none yet)."""
        if not self.reply_wamids:
            self.text()
            return
        # Delivered, then read, for the latest reply: the order Meta reports them in.
        status = "read" if self.statuses_sent % 2 else "delivered"
        self.statuses_sent += 1
        element = simulator.status_element(wamid=self.reply_wamids[-1], status=status, recipient=self.wa_id)
        body = simulator.webhook_body(statuses=[element])
        raw, headers = simulator.signed_request(body, app_secret=APP_SECRET)
        self._post(raw, headers, "status")

    @task(5)
    def duplicate(self) -> None:
        """The same notification again: acknowledged with 200, never answered twice."""
        if self.last_raw is None:
            self.text()
            return
        self._post(self.last_raw, self.last_headers, "duplicate")

    # --- plumbing -----------------------------------------------------------------------------------

    def _message(self, element: dict, kind: str) -> None:
        body = simulator.webhook_body(
            messages=[element], contacts=[simulator.contact_element(wa_id=self.wa_id, name=self.name)]
        )
        raw, headers = simulator.signed_request(body, app_secret=APP_SECRET)
        self.last_raw, self.last_headers = raw, headers
        sent_at = time.time()
        if self._post(raw, headers, kind) and self.graph is not None:
            self._wait_for_reply(sent_at)

    def _post(self, raw: bytes, headers: dict[str, str], kind: str) -> bool:
        # A new connection per delivery, as Meta's many senders do; reusing one across the think time
        # races gunicorn's 2 s keep-alive timeout (the server closes as the client sends: HTTP 0).
        with self.client.post(
            WEBHOOK_PATH,
            data=raw,
            headers={**headers, "Connection": "close"},
            name=f"webhook {kind}",
            catch_response=True,
        ) as response:
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}")
                return False
            return True

    def _wait_for_reply(self, sent_at: float) -> None:
        started = time.perf_counter()
        exception: Exception | None = None
        response_time = 0.0
        try:
            answer = self.graph.get(
                f"{GRAPH_URL}/_bench/wait",
                params={"to": self.wa_id, "after": self.last_reply_seq, "timeout": REPLY_TIMEOUT_S},
                timeout=REPLY_TIMEOUT_S + 5,
            )
            if answer.status_code == 200:
                reply = answer.json()
                self.last_reply_seq = reply["seq"]
                self.reply_wamids = [*self.reply_wamids[-4:], reply["wamid"]]
                response_time = (reply["received_at"] - sent_at) * 1000
            else:
                exception = TimeoutError(f"no reply within {REPLY_TIMEOUT_S:.0f} s")
                response_time = (time.perf_counter() - started) * 1000
        except requests.RequestException as exc:
            exception = exc
            response_time = (time.perf_counter() - started) * 1000
        events.request.fire(
            request_type="REPLY",
            name="end-to-end: webhook to reply at Graph",
            response_time=response_time,
            response_length=0,
            exception=exception,
            context={"wa_id": self.wa_id},
        )


@events.test_start.add_listener
def _announce(environment, **kwargs) -> None:
    mode = f"closed loop (replies from {GRAPH_URL})" if GRAPH_URL else "open loop per customer (no reply wait)"
    logging.getLogger("locustfile").info("pyloto load test: %s", mode)
