"""Run scenarios through the real pipeline, in this process, and check what happened.

Each turn is a signed webhook POSTed to the real view; Celery runs in eager mode inside this process
(as in `make run`'s embedded mode), so ingestion, the run lease, the LLM canvas or the offline
answerer, the output guard, the state machine, persistence and delivery to a local fake of the Graph
API all run exactly as in production, one turn after another, without a worker per scenario. Every
trial uses a new contact, and its conversations are deleted once observed (unless `keep`), so a run
against a development database leaves nothing behind.
"""

from __future__ import annotations

import importlib
import re
import secrets
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

import structlog
from django.conf import settings
from django.db.models import Sum
from django.test import Client, override_settings

from conversations.models import Conversation, Message, TransitionDecision
from conversations.states import State
from evals.scenario import Scenario, Turn, TurnExpect
from evals.services import eval_contact_discard, eval_conversations_age, eval_staff_user
from institutional.models import GuardViolation
from institutional.selectors import current_release
from institutional.snapshot import ReleaseSnapshot, facts_text
from llm.language import detect_confident, fold
from llm.models import LLMCall
from pyloto.management.commands.chat import render_message
from pyloto.whatsapp import simulator
from pyloto.whatsapp.client import WhatsAppClient

log = structlog.get_logger(__name__)

WEBHOOK_PATH = "/webhooks/whatsapp/"
# Money amounts as customers and the content write them: "R$ 499", "R$499,00", "R$ 1.000".
_AMOUNT = re.compile(r"R\$\s*(\d{1,3}(?:[.\s]\d{3})+|\d+)(?:,(\d{2}))?", re.IGNORECASE)
# A reply this short says too little for language detection to be fair to it.
LANGUAGE_MIN_WORDS = 4


def amounts(text: str) -> set[str]:
    """The money amounts in `text`, normalised ("R$ 1.000,00" → "1000")."""
    found = set()
    for whole, cents in _AMOUNT.findall(text or ""):
        value = re.sub(r"[.\s]", "", whole)
        found.add(value if cents in ("", "00") else f"{value},{cents}")
    return found


def says(text: str, expected: str) -> bool:
    """Whether `text` says `expected`: as amounts when it names one, else as folded words."""
    wanted = amounts(expected)
    if wanted:
        return wanted <= amounts(text)
    return fold(expected).strip() in fold(text)


@dataclass
class ReplyRecord:
    kind: str
    body: str
    options: list[str]
    provider: str


@dataclass
class TurnRecord:
    index: int
    action: str
    customer: list[str]
    replies: list[ReplyRecord]
    state: str
    guard_blocks: int
    failures: list[str] = field(default_factory=list)
    refused: str = ""


@dataclass
class TrialRecord:
    scenario: str
    trial: int
    turns: list[TurnRecord]
    path: list[str]
    escalated: bool
    failures: list[str]
    tokens_in: int = 0
    tokens_out: int = 0
    cost: Decimal = Decimal(0)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return not self.failures

    def transcript(self) -> list[dict[str, Any]]:
        return [asdict(turn) for turn in self.turns]


@contextmanager
def pipeline_in_process(*, live: bool, llm_overrides: dict[str, Any] | None = None) -> Iterator[None]:
    """Eager Celery, replies delivered to a local Graph fake, and no LLM unless `live`."""
    from config.celery_app import app

    # The local Graph fake `make run` also uses; imported by name so type checking stays on the app's code.
    running_graph_server = importlib.import_module("tests.fakes.graph_server").running_graph_server
    previous = (app.conf.task_always_eager, app.conf.task_eager_propagates)
    with ExitStack() as stack:
        graph = stack.enter_context(running_graph_server(access_token=settings.WHATSAPP_ACCESS_TOKEN))
        overrides: dict[str, Any] = {"WHATSAPP_API_BASE_URL": graph.base_url, **(llm_overrides or {})}
        if not live:
            overrides["OPENAI_API_KEY"] = ""
        stack.enter_context(override_settings(**overrides))
        app.conf.task_always_eager, app.conf.task_eager_propagates = True, False
        try:
            yield
        finally:
            app.conf.task_always_eager, app.conf.task_eager_propagates = previous


class _Trial:
    """One pass through a scenario with a fresh contact."""

    def __init__(self, scenario: Scenario, *, trial: int, release: ReleaseSnapshot) -> None:
        self.scenario = scenario
        self.trial = trial
        self.release = release
        # A fresh customer per trial, identified as the scenario says (phone number or username only).
        number = f"{secrets.randbelow(10**9):09d}"
        username = scenario.setup.identity == "username"
        self.wa_id: str | None = None if username else f"5599{number}"
        self.user_id: str | None = f"BR.eval{number}" if username else None
        self.contact_key = {"user_id": self.user_id} if username else {"wa_id": self.wa_id}
        self.client = Client()
        self.last_element: dict[str, Any] | None = None
        self.options: list[dict[str, str]] = []
        self.published_amounts = amounts(facts_text(release))
        self.refused = ""

    # --- acting ---------------------------------------------------------------------------------
    def _post(self, elements: list[dict[str, Any]]) -> None:
        body = simulator.webhook_body(
            messages=elements,
            contacts=[
                simulator.contact_element(wa_id=self.wa_id, user_id=self.user_id, name=self.scenario.setup.contact_name)
            ],
        )
        raw, headers = simulator.signed_request(body, app_secret=settings.WHATSAPP_APP_SECRET)
        response = self.client.post(
            WEBHOOK_PATH,
            data=raw,
            content_type="application/json",
            headers={"X-Hub-Signature-256": headers["X-Hub-Signature-256"]},
        )
        if response.status_code != 200:
            raise RuntimeError(f"webhook answered {response.status_code}: {response.content[:200]!r}")

    def _act(self, turn: Turn) -> tuple[str, list[str]]:
        if turn.say is not None:
            element = simulator.message_element(text=turn.say, wa_id=self.wa_id, user_id=self.user_id)
            self.last_element = element
            self._post([element])
            return f"say: {turn.say}", [turn.say]
        if turn.image is not None:
            element = simulator.message_element(kind="image", text=turn.image, wa_id=self.wa_id, user_id=self.user_id)
            self.last_element = element
            self._post([element])
            return f"image: {turn.image or '(no caption)'}", [f"[image] {turn.image}".strip()]
        if turn.voice is not None:
            # Uploaded to the Graph fake like a real voice note; the pipeline downloads and transcribes it.
            media_id = WhatsAppClient.from_settings().media_upload(
                content=simulator.fake_voice_note(turn.voice),
                mime_type=simulator.FAKE_VOICE_NOTE_MIME,
                filename="voice.ogg",
            )
            element = simulator.message_element(kind="audio", media_id=media_id, wa_id=self.wa_id, user_id=self.user_id)
            self.last_element = element
            self._post([element])
            return f"voice: {turn.voice}", [f"[voz] {turn.voice}"]
        if turn.tap is not None:
            option = self._option(turn.tap)
            element = simulator.message_element(
                kind=option["kind"], text=option["title"], reply_id=option["id"], wa_id=self.wa_id, user_id=self.user_id
            )
            self.last_element = element
            self._post([element])
            return f"tap: {option['title']}", [option["title"]]
        if turn.burst:
            elements = [
                simulator.message_element(text=text, wa_id=self.wa_id, user_id=self.user_id) for text in turn.burst
            ]
            self.last_element = elements[-1]
            self._post(elements)
            return f"burst of {len(elements)}", list(turn.burst)
        if turn.duplicate:
            if self.last_element is None:
                raise RuntimeError("duplicate: no earlier customer message to redeliver")
            self._post([self.last_element])
            return "duplicate of the previous message", []
        if turn.wait_hours is not None:
            eval_conversations_age(
                conversation_ids=list(self._conversations().values_list("pk", flat=True)), hours=turn.wait_hours
            )
            return f"{turn.wait_hours:g} h pass", []
        if turn.staff_reply is not None:
            self.refused = self._staff_reply(turn.staff_reply)
            return f"staff reply: {turn.staff_reply}", []
        assert turn.staff is not None
        self._staff(turn.staff)
        return f"staff: {turn.staff}", []

    def _staff_reply(self, text: str) -> str:
        """Send a staff reply; the refusal code when the planner refuses it (else "")."""
        from conversations.services.replies import StaffReplyRefused
        from pyloto.pipeline.dispatch import staff_reply_send

        conversation = self._conversations().first()
        if conversation is None:
            raise RuntimeError("staff reply: no conversation yet")
        try:
            staff_reply_send(conversation_id=conversation.pk, user=eval_staff_user(), text=text)
        except StaffReplyRefused as refusal:
            return refusal.code
        return ""

    def _option(self, tap: str | int) -> dict[str, str]:
        if isinstance(tap, int):
            if not 1 <= tap <= len(self.options):
                raise RuntimeError(f"tap {tap}: the last reply offered {len(self.options)} options")
            return self.options[tap - 1]
        for option in self.options:
            if fold(option["title"]) == fold(tap):
                return option
        raise RuntimeError(f"tap {tap!r}: not among the last reply's options {[o['title'] for o in self.options]}")

    def _staff(self, transition: str) -> None:
        from conversations.services.state import conversation_staff_transition

        conversation = self._conversations().first()
        if conversation is None:
            raise RuntimeError(f"staff {transition}: no conversation yet")
        outcome = conversation_staff_transition(
            conversation_id=conversation.pk, user=eval_staff_user(), transition=transition, note="scenario"
        )
        if outcome.refused:
            raise RuntimeError(f"staff {transition} refused: {outcome.detail or outcome.refusal}")

    # --- observing ------------------------------------------------------------------------------
    def _conversations(self):
        return Conversation.objects.filter(**self._of_contact("contact")).order_by("-pk")

    def _of_contact(self, path: str) -> dict[str, Any]:
        """A lookup for rows of this trial's contact, through `path` (e.g. "conversation__contact")."""
        return {f"{path}__{field}": value for field, value in self.contact_key.items()}

    def _marks(self) -> tuple[int, int]:
        last_message = Message.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        last_violation = GuardViolation.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        return last_message, last_violation

    def _observe(self, index: int, action: str, customer: list[str], marks: tuple[int, int]) -> TurnRecord:
        outbound = Message.objects.filter(
            **self._of_contact("conversation__contact"), direction=Message.Direction.OUTBOUND, pk__gt=marks[0]
        ).order_by("pk")
        replies = []
        for message in outbound:
            body, options = render_message(message.raw or {})
            replies.append(
                ReplyRecord(
                    kind=message.type.upper(),
                    body=message.text or body,
                    options=[o["title"] for o in options],
                    provider=message.provider,
                )
            )
            if options:
                self.options = options
        latest = self._conversations().first()
        blocks = GuardViolation.objects.filter(**self._of_contact("conversation__contact"), pk__gt=marks[1]).count()
        return TurnRecord(
            index=index,
            action=action,
            customer=customer,
            replies=replies,
            state=latest.state if latest else "",
            guard_blocks=blocks,
        )

    def _path(self) -> list[str]:
        path: list[str] = []
        for conversation in reversed(list(self._conversations())):
            path.append(State.NEW.value)
            decisions = TransitionDecision.objects.filter(
                conversation=conversation, outcome=TransitionDecision.Outcome.APPLIED
            ).order_by("created_at", "pk")
            path += [decision.proposed_state for decision in decisions]
        return path

    # --- the trial ------------------------------------------------------------------------------
    def run(self, *, keep: bool) -> TrialRecord:
        started = time.perf_counter()
        turns: list[TurnRecord] = []
        failures: list[str] = []
        try:
            for index, turn in enumerate(self.scenario.turns, start=1):
                marks = self._marks()
                self.refused = ""
                try:
                    action, customer = self._act(turn)
                except RuntimeError as exc:
                    failures.append(f"turn {index}: {exc}")
                    break
                record = self._observe(index, action, customer, marks)
                record.refused = self.refused
                record.failures = check_turn(turn.expect, record, published_amounts=self.published_amounts)
                failures += [f"turn {index}: {failure}" for failure in record.failures]
                turns.append(record)
            path = self._path()
            escalated = State.HANDOFF_REQUESTED.value in path
            failures += check_end(self.scenario, turns=turns, path=path, escalated=escalated)
            usage = LLMCall.objects.filter(**self._of_contact("conversation__contact")).aggregate(
                tokens_in=Sum("tokens_in"), tokens_out=Sum("tokens_out"), cost=Sum("estimated_cost")
            )
        finally:
            if not keep:
                eval_contact_discard(**self.contact_key)
        return TrialRecord(
            scenario=self.scenario.name,
            trial=self.trial,
            turns=turns,
            path=path,
            escalated=escalated,
            failures=failures,
            tokens_in=int(usage["tokens_in"] or 0),
            tokens_out=int(usage["tokens_out"] or 0),
            cost=Decimal(usage["cost"] or 0),
            seconds=round(time.perf_counter() - started, 3),
        )


def check_turn(expect: TurnExpect, record: TurnRecord, *, published_amounts: set[str]) -> list[str]:
    """What in this turn broke its expectations (and the rules every reply must keep)."""
    failures: list[str] = []
    replies = record.replies
    text = "\n".join(reply.body + "\n" + "\n".join(reply.options) for reply in replies)
    for reply in replies:
        invented = amounts(reply.body) - published_amounts
        if invented:
            failures.append(f"quoted amounts absent from the published content: {sorted(invented)}")
    expected_count = 0 if expect.silent else expect.replies
    if expected_count is not None and len(replies) != expected_count:
        failures.append(f"expected {expected_count} replies, got {len(replies)}")
    if expect.silent is False and not replies:
        failures.append("expected a reply, got silence")
    if expect.type and (not replies or replies[-1].kind != expect.type):
        failures.append(f"expected a {expect.type} reply, got {[reply.kind for reply in replies]}")
    failures += [f"did not say {item!r}" for item in expect.must_say if not says(text, item)]
    if expect.must_say_any and not any(says(text, item) for item in expect.must_say_any):
        failures.append(f"said none of {expect.must_say_any}")
    failures += [f"said {item!r}" for item in expect.must_not_say if says(text, item)]
    if expect.amounts_only is not None:
        allowed = set().union(*(amounts(item) for item in expect.amounts_only)) if expect.amounts_only else set()
        extra = amounts(text) - allowed
        if extra:
            failures.append(f"quoted amounts {sorted(extra)}; allowed {sorted(allowed) or 'none'}")
    if expect.state and record.state != expect.state:
        failures.append(f"expected state {expect.state}, got {record.state}")
    if expect.handoff is not None and (record.state == State.HANDOFF_REQUESTED) != expect.handoff:
        failures.append(f"expected handoff={expect.handoff}, state is {record.state}")
    if expect.guard == "blocked" and not record.guard_blocks:
        failures.append("expected the guard to block a reply; it blocked none")
    if expect.guard == "allowed" and record.guard_blocks:
        failures.append(f"the guard blocked {record.guard_blocks} replies")
    if expect.language:
        for reply in replies:
            if len(reply.body.split()) >= LANGUAGE_MIN_WORDS:
                detected = detect_confident(reply.body)
                if detected and detected != expect.language:
                    failures.append(f"replied in {detected}, expected {expect.language}")
    if expect.refused is not None and record.refused != expect.refused:
        failures.append(f"expected the staff reply refused ({expect.refused}), got {record.refused or 'sent'}")
    options = [fold(option) for reply in replies for option in reply.options]
    failures += [f"no option {item!r} offered" for item in expect.buttons_include if fold(item) not in options]
    return failures


def check_end(scenario: Scenario, *, turns: list[TurnRecord], path: list[str], escalated: bool) -> list[str]:
    failures: list[str] = []
    end = scenario.expect
    final_state = turns[-1].state if turns else ""
    if end.state and final_state != end.state:
        failures.append(f"end: expected state {end.state}, got {final_state}")
    if end.path and not _is_subsequence(end.path, path):
        failures.append(f"end: expected the path {end.path} within {path}")
    if end.escalated is not None and escalated != end.escalated:
        failures.append(f"end: expected escalated={end.escalated}, path {path}")
    return failures


def _is_subsequence(wanted: list[str], path: list[str]) -> bool:
    remaining = iter(path)
    return all(state in remaining for state in wanted)


def run_scenario(scenario: Scenario, *, trials: int, keep: bool = False) -> list[TrialRecord]:
    """Run `scenario` `trials` times (inside `pipeline_in_process`), each with a fresh contact."""
    release = current_release()
    records = []
    for trial in range(1, trials + 1):
        record = _Trial(scenario, trial=trial, release=release).run(keep=keep)
        log.info("eval_trial_finished", scenario=scenario.name, trial=trial, passed=record.passed)
        records.append(record)
    return records
