"""Writes of the evals app: record a run, clean up a trial's conversations, save a real conversation as a scenario."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import structlog
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import F
from django_fsm_log.models import StateLog

from conversations.models import Contact, Conversation, DeliveryStatus, Message
from conversations.states import Perm
from evals.models import EvalResult, EvalRun
from evals.models import Scenario as ScenarioRow
from institutional.models import GuardViolation
from llm.models import LLMCall
from pyloto.observability.masking import mask_pii

if TYPE_CHECKING:
    from django.contrib.auth.models import User

log = structlog.get_logger(__name__)

EVAL_STAFF_USERNAME = "pyloto-eval-staff"


def eval_staff_user() -> User:
    """The staff actor of scenario turns (take, return to bot): it may handle conversations, nothing more."""
    # The same kind of non-login service user the bot and the system act as.
    from conversations.services.state import _service_user

    return _service_user(EVAL_STAFF_USERNAME, permissions=(Perm.HANDLE,))


@transaction.atomic
def eval_contact_discard(*, wa_id: str | None = None, user_id: str | None = None) -> int:
    """Delete a scenario trial's contact and everything it produced, so KPIs never count test traffic."""
    contacts = Contact.objects.filter(wa_id=wa_id) if wa_id else Contact.objects.filter(user_id=user_id)
    if not (wa_id or user_id):
        raise ValueError("a contact is named by wa_id or user_id")
    conversation_ids = list(Conversation.objects.filter(contact__in=contacts).values_list("pk", flat=True))
    message_ids = list(Message.objects.filter(conversation_id__in=conversation_ids).values_list("pk", flat=True))
    LLMCall.objects.filter(conversation_id__in=conversation_ids).delete()
    GuardViolation.objects.filter(conversation_id__in=conversation_ids).delete()
    DeliveryStatus.objects.filter(message_id__in=message_ids).delete()
    StateLog.objects.filter(
        content_type=ContentType.objects.get_for_model(Conversation), object_id__in=conversation_ids
    ).delete()
    Conversation.objects.filter(pk__in=conversation_ids).delete()
    contacts.delete()
    return len(conversation_ids)


def eval_conversations_age(*, conversation_ids: list[int], hours: float) -> int:
    """Make a trial's conversations `hours` older (the customer's last message, the last activity): time passing."""
    delta = timedelta(hours=hours)
    return Conversation.objects.filter(pk__in=conversation_ids).update(
        last_inbound_at=F("last_inbound_at") - delta, last_activity_at=F("last_activity_at") - delta
    )


@dataclass
class ScenarioOutcome:
    """One scenario's trials, as the report and the admin show them."""

    name: str
    category: str
    safety: bool
    trials: int
    passes: int
    failures: list[str]
    transcript: list[dict[str, Any]]
    tokens_in: int = 0
    tokens_out: int = 0
    cost: Decimal = field(default_factory=Decimal)

    @property
    def pass_hat_k(self) -> float:
        """τ-bench's pass^k with n = k trials: 1.0 only when every trial passed."""
        return 1.0 if self.trials and self.passes == self.trials else 0.0

    @property
    def pass_rate(self) -> float:
        return self.passes / self.trials if self.trials else 0.0


@transaction.atomic
def eval_run_record(
    *,
    mode: str,
    trials: int,
    variant: str,
    model: str,
    outcomes: list[ScenarioOutcome],
    summary: dict[str, Any],
    passed: bool,
    started_at: datetime,
    finished_at: datetime,
) -> EvalRun:
    run = EvalRun.objects.create(
        mode=mode,
        trials=trials,
        variant=variant,
        model=model,
        scenarios_total=len(outcomes),
        scenarios_passed=sum(outcome.pass_hat_k == 1.0 for outcome in outcomes),
        passed=passed,
        summary=summary,
        tokens_in=sum(outcome.tokens_in for outcome in outcomes),
        tokens_out=sum(outcome.tokens_out for outcome in outcomes),
        estimated_cost=sum((outcome.cost for outcome in outcomes), Decimal(0)),
        started_at=started_at,
        finished_at=finished_at,
    )
    EvalResult.objects.bulk_create(
        EvalResult(
            run=run,
            scenario=outcome.name,
            category=outcome.category,
            safety=outcome.safety,
            trials=outcome.trials,
            passes=outcome.passes,
            pass_hat_k=outcome.pass_hat_k,
            passed=outcome.pass_hat_k == 1.0,
            failures=outcome.failures[:50],
            transcript=outcome.transcript,
            tokens_in=outcome.tokens_in,
            tokens_out=outcome.tokens_out,
            estimated_cost=outcome.cost,
        )
        for outcome in outcomes
    )
    log.info("eval_run_recorded", run_id=run.pk, scenarios=len(outcomes), passed=passed)
    return run


def scenario_from_conversation(*, conversation_id: int) -> ScenarioRow:
    """Turn a real conversation into a scenario, PII masked, with today's behaviour as its expectations.

    Each inbound message becomes a turn (a tapped button stays a tap), expecting the number and type
    of replies the assistant sent before the next customer message and the state it left. The product
    team then edits it in the admin: what must and must not be said is theirs to write.
    """
    from evals.scenario import Scenario, scenario_to_yaml

    conversation = Conversation.objects.get(pk=conversation_id)
    messages = list(Message.objects.filter(conversation=conversation).order_by("created_at", "pk"))
    decisions = list(conversation.decisions.filter(outcome="applied").order_by("created_at", "pk"))
    turns: list[dict[str, Any]] = []
    for message in messages:
        if message.direction == Message.Direction.INBOUND:
            text = mask_pii(message.text or "")
            if not text:
                continue
            tapped = message.type in {"interactive", "button"}
            turns.append({"tap" if tapped else "say": text, "expect": {"replies": 0}, "_at": message.created_at})
        elif turns and message.provider != "staff":
            expect = turns[-1]["expect"]
            expect["replies"] += 1
            expect["type"] = message.type.upper()
    for position, turn in enumerate(turns):
        until = turns[position + 1]["_at"] if position + 1 < len(turns) else None
        applied = [d for d in decisions if d.created_at >= turn["_at"] and (until is None or d.created_at < until)]
        if applied:
            turn["expect"]["state"] = applied[-1].proposed_state
    for turn in turns:
        turn.pop("_at")
    if not turns:
        raise ValueError("the conversation has no customer text to replay")
    name = f"conversa-{conversation.pk}"
    data = {
        "name": name,
        "class": "faq",
        "description": f"Salvo da conversa #{conversation.pk}; revise as expectativas antes de confiar nele.",
        "turns": turns,
        "expect": {"state": conversation.state},
    }
    # Validated before saving: what the admin stores always runs.
    scenario = Scenario.model_validate(data)
    row, _created = ScenarioRow.objects.update_or_create(
        name=name, defaults={"text": scenario_to_yaml(scenario), "origin_conversation_id": conversation.pk}
    )
    log.info("eval_scenario_saved", scenario=name, conversation_id=conversation.pk, turns=len(turns))
    return row
