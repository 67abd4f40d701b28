"""Business and technical KPIs over a period, read from the database only (the API and the admin's KPIs page).

Every figure is an aggregate query; nothing iterates over the messages table in Python. The one
exception is the response-time percentile on a database other than PostgreSQL (SQLite in `make run`'s
embedded mode), which is computed in Python over a bounded sample of the most recent replies.
Definitions and the roadmap's targets are written down in `docs/operations/monitoring.md` and
`docs/produto/requisitos.md`; `kpi_checks` holds the targets in code.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import connection
from django.db.models import Aggregate, Count, F, FloatField, Func, OuterRef, Q, QuerySet, Subquery, Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from conversations.models import Message, TransitionDecision
from conversations.selectors import TransitionKPI, transition_success_kpi
from conversations.states import State
from institutional.models import GuardViolation, PolicyJudgement
from llm.models import LLMCall

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

# The built-in constraint that blocks a reply stating or implying a closed contract (institutional/builtin.py).
CONTRACT_CONSTRAINT_SLUG = "no-contract-closure"

# On databases without percentile_cont the percentile comes from at most this many recent replies.
RESPONSE_TIME_SAMPLE = 10_000

# Longest period one report may cover: the API refuses more, so one request cannot scan years of rows.
MAX_PERIOD = timedelta(days=366)

_OPEN = (Message.Status.RECEIVED, Message.Status.PROCESSING)


def loss_horizon() -> timedelta:
    """An inbound message still open after this long counts as lost.

    It is the sweeper's dead-letter budget (`SWEEP_DEAD_LETTER_AFTER_S`, 15 minutes by default): by
    then the sweeper should have answered or dead-lettered it, so a message still open is one the
    pipeline lost track of.
    """
    return timedelta(seconds=settings.SWEEP_DEAD_LETTER_AFTER_S)


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


@dataclass(frozen=True)
class InboundFigures:
    """Inbound messages stored in the period, by the status they have now."""

    received: int
    answered: int
    handed_off: int
    dropped: int
    dropped_by_reason: dict[str, int]
    dead_lettered: int
    open: int  # received/processing and younger than the loss horizon: still being answered
    lost: int  # received/processing and older than the loss horizon

    @property
    def loss_rate(self) -> float | None:
        """(dead-lettered + lost) / received; None when nothing was received."""
        return _rate(self.dead_lettered + self.lost, self.received)


@dataclass(frozen=True)
class EscalationFigures:
    """Conversations with an inbound message in the period, and how many of them reached handoff_requested."""

    conversations_active: int
    conversations_escalated: int

    @property
    def rate(self) -> float | None:
        return _rate(self.conversations_escalated, self.conversations_active)


@dataclass(frozen=True)
class ConstraintFigures:
    """What the output guard blocked, and what reached a customer (zero by construction; see `violations_sent`)."""

    blocked: int
    blocked_by_constraint: dict[str, int]
    contract_closure_blocked: int

    # An outbound message is only ever created by `reply_finalize`, after `check_reply` has passed it or
    # replaced it with the constraint's safe text, so no stored reply can carry a blocked sentence. The
    # runtime check of that claim is the post-send audit, `pyloto_constraint_violations_sent_total`.
    violations_sent: int = 0
    contract_closure_sent: int = 0
    # The LLM policy judge (shadow or enforce mode): its verdicts, and how many agreed with the guard.
    judge_verdicts: int = 0
    judge_agreed: int = 0
    judge_disagreed: int = 0
    # Replies the judge itself blocked or handed over (enforce mode; shadow mode only records).
    judge_blocked: int = 0


@dataclass(frozen=True)
class ResponseTimeFigures:
    """From the first inbound message of a run to its reply's `sent_at`, over replies created in the period."""

    replies: int
    p50_seconds: float | None
    p95_seconds: float | None
    # "percentile_cont" (PostgreSQL, every reply) or "sample" (other databases, the most recent replies).
    method: str


@dataclass(frozen=True)
class LLMFigures:
    """LLM calls started in the period (one row per task execution, fallbacks included)."""

    calls: int
    by_outcome: dict[str, int]
    by_task: dict[str, int]
    tokens_in: int
    tokens_out: int
    estimated_cost_usd: Decimal


@dataclass(frozen=True)
class WhatsAppCostFigures:
    """Estimated WhatsApp charges for the period's billable messages (status `pricing`, price table `WHATSAPP_PRICES`).

    Costs are per billing currency (BRL for Brazilian numbers, USD elsewhere by default); a message counts
    once however many statuses reported it billable. `turns` and `bot_messages` give messages per turn.
    """

    billable_messages: int
    by_category: dict[str, int]
    cost_by_currency: dict[str, Decimal]
    cost_by_category: dict[str, dict[str, Decimal]]
    cost_by_day: dict[str, dict[str, Decimal]]
    conversations: int
    llm_cost_usd_per_conversation: Decimal | None
    turns: int
    bot_messages: int

    def cost_per_conversation(self, currency: str) -> Decimal | None:
        if not self.conversations:
            return None
        return self.cost_by_currency.get(currency, Decimal(0)) / self.conversations

    @property
    def messages_per_turn(self) -> float | None:
        """Bot messages per answered turn (runs): 1.0 is the invariant — every extra message is billed."""
        return self.bot_messages / self.turns if self.turns else None


@dataclass(frozen=True)
class ReplyFigures:
    """Outbound messages created in the period, by who wrote them, and how many failed to send."""

    total: int
    by_provider: dict[str, int]
    failed: int

    @property
    def fallback_share(self) -> float | None:
        """Replies written by the offline provider / all replies; None when there were none."""
        return _rate(self.by_provider.get("offline", 0), self.total)


@dataclass(frozen=True)
class KPIReport:
    """Every KPI for `since <= t < until`; `generated_at` is the "now" the loss horizon was measured from."""

    since: datetime
    until: datetime
    generated_at: datetime
    inbound: InboundFigures
    escalation: EscalationFigures
    fsm: TransitionKPI
    constraints: ConstraintFigures
    response_time: ResponseTimeFigures
    llm: LLMFigures
    replies: ReplyFigures
    whatsapp: WhatsAppCostFigures


def kpis_for_period(*, since: datetime, until: datetime, now: datetime | None = None) -> KPIReport:
    """Compute the KPI report for a period (eight aggregate queries, whatever the volume)."""
    if since >= until:
        raise ValueError("since must be before until")
    now = now or timezone.now()
    inbound_rows = Message.objects.filter(
        direction=Message.Direction.INBOUND, created_at__gte=since, created_at__lt=until
    )
    active_conversations, inbound = _inbound(inbound_rows, lost_before=now - loss_horizon())
    return KPIReport(
        since=since,
        until=until,
        generated_at=now,
        inbound=inbound,
        escalation=_escalation(inbound_rows, active=active_conversations, since=since, until=until),
        fsm=transition_success_kpi(since=since, until=until),
        constraints=_constraints(since=since, until=until),
        response_time=_response_time(since=since, until=until),
        llm=(llm := _llm(since=since, until=until)),
        replies=_replies(since=since, until=until),
        whatsapp=_whatsapp(since=since, until=until, llm_cost_usd=llm.estimated_cost_usd),
    )


def _inbound(rows: QuerySet[Message], *, lost_before: datetime) -> tuple[int, InboundFigures]:
    """The inbound figures, and how many distinct conversations those messages belong to."""
    status = Message.Status
    counts = rows.aggregate(
        received=Count("pk"),
        answered=Count("pk", filter=Q(status=status.ANSWERED)),
        handed_off=Count("pk", filter=Q(status=status.HANDED_OFF)),
        dropped=Count("pk", filter=Q(status=status.DROPPED)),
        dead_lettered=Count("pk", filter=Q(status=status.DEAD_LETTERED)),
        open=Count("pk", filter=Q(status__in=_OPEN, created_at__gte=lost_before)),
        lost=Count("pk", filter=Q(status__in=_OPEN, created_at__lt=lost_before)),
        conversations=Count("conversation_id", distinct=True),
    )
    reasons = (
        rows.filter(status=status.DROPPED)
        .values("status_reason")
        .annotate(count=Count("pk"))
        .order_by("-count", "status_reason")
    )
    by_reason = {row["status_reason"] or "unspecified": row["count"] for row in reasons}
    return counts.pop("conversations"), InboundFigures(dropped_by_reason=by_reason, **counts)


def _escalation(rows: QuerySet[Message], *, active: int, since: datetime, until: datetime) -> EscalationFigures:
    active_ids = rows.values("conversation_id")
    escalated = TransitionDecision.objects.filter(
        outcome=TransitionDecision.Outcome.APPLIED,
        proposed_state=State.HANDOFF_REQUESTED,
        created_at__gte=since,
        created_at__lt=until,
        conversation_id__in=active_ids,
    ).aggregate(count=Count("conversation_id", distinct=True))["count"]
    return EscalationFigures(conversations_active=active, conversations_escalated=escalated)


def _constraints(*, since: datetime, until: datetime) -> ConstraintFigures:
    rows = (
        GuardViolation.objects.filter(created_at__gte=since, created_at__lt=until)
        .values("constraint_slug")
        .annotate(count=Count("pk"), by_judge=Count("pk", filter=Q(layer=GuardViolation.Layer.JUDGE)))
        .order_by("-count", "constraint_slug")
    )
    by_constraint = {row["constraint_slug"]: row["count"] for row in rows}
    judge_blocked = sum(row["by_judge"] for row in rows)
    judged = PolicyJudgement.objects.filter(created_at__gte=since, created_at__lt=until).aggregate(
        total=Count("pk"), agreed=Count("pk", filter=Q(agreed=True))
    )
    return ConstraintFigures(
        blocked=sum(by_constraint.values()),
        blocked_by_constraint=by_constraint,
        contract_closure_blocked=by_constraint.get(CONTRACT_CONSTRAINT_SLUG, 0),
        judge_verdicts=judged["total"],
        judge_agreed=judged["agreed"],
        judge_disagreed=judged["total"] - judged["agreed"],
        judge_blocked=judge_blocked,
    )


class _PercentileCont(Aggregate):
    """PostgreSQL's ordered-set aggregate `percentile_cont(f) WITHIN GROUP (ORDER BY expr)`."""

    function = "percentile_cont"
    name = "PercentileCont"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression: object, *, fraction: float) -> None:
        # The fraction is our own constant, formatted as a number: it never comes from a request.
        super().__init__(expression, fraction=f"{float(fraction):.6f}")


class _EpochSeconds(Func):
    """Seconds in a PostgreSQL interval."""

    template = "EXTRACT(EPOCH FROM %(expressions)s)"
    output_field = FloatField()


def _sent_replies(*, since: datetime, until: datetime) -> QuerySet[Any]:
    """Replies created in the period that were sent, each with the time its run's first message arrived."""
    first_inbound = (
        Message.objects.filter(run_key=OuterRef("run_key"), direction=Message.Direction.INBOUND)
        .order_by("created_at")
        .values("created_at")[:1]
    )
    return (
        Message.objects.filter(
            direction=Message.Direction.OUTBOUND,
            created_at__gte=since,
            created_at__lt=until,
            sent_at__isnull=False,
        )
        .exclude(run_key="")
        .annotate(first_inbound_at=Subquery(first_inbound))
        .filter(first_inbound_at__isnull=False)
    )


def _response_time(*, since: datetime, until: datetime) -> ResponseTimeFigures:
    replies = _sent_replies(since=since, until=until)
    if connection.vendor == "postgresql":
        seconds = _EpochSeconds(F("sent_at") - F("first_inbound_at"))
        row = replies.aggregate(
            count=Count("pk"),
            p50=_PercentileCont(seconds, fraction=0.5),
            p95=_PercentileCont(seconds, fraction=0.95),
        )
        return ResponseTimeFigures(
            replies=row["count"], p50_seconds=row["p50"], p95_seconds=row["p95"], method="percentile_cont"
        )
    return response_time_from_sample(replies)


def response_time_from_sample(replies: QuerySet[Any], *, limit: int = RESPONSE_TIME_SAMPLE) -> ResponseTimeFigures:
    """The percentiles in Python over the `limit` most recent replies (databases without percentile_cont)."""
    pairs = replies.order_by("-created_at", "-pk").values_list("sent_at", "first_inbound_at")[:limit]
    seconds = sorted((sent_at - first).total_seconds() for sent_at, first in pairs)
    return ResponseTimeFigures(
        replies=len(seconds),
        p50_seconds=percentile_cont(seconds, 0.5),
        p95_seconds=percentile_cont(seconds, 0.95),
        method="sample",
    )


def percentile_cont(ordered: Sequence[float], fraction: float) -> float | None:
    """PostgreSQL's percentile_cont over sorted values: linear interpolation between the closest ranks."""
    if not ordered:
        return None
    position = fraction * (len(ordered) - 1)
    lower = math.floor(position)
    upper = math.ceil(position)
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (position - lower)


def _llm(*, since: datetime, until: datetime) -> LLMFigures:
    rows = list(
        LLMCall.objects.filter(started_at__gte=since, started_at__lt=until)
        .values("task", "outcome")
        .annotate(
            count=Count("pk"),
            tokens_in=Sum("tokens_in"),
            tokens_out=Sum("tokens_out"),
            cost=Sum("estimated_cost"),
        )
        .order_by("task", "outcome")
    )
    # At most tasks x outcomes (3 x 6) grouped rows: summing them here is not a loop over calls.
    by_outcome: dict[str, int] = {}
    by_task: dict[str, int] = {}
    for row in rows:
        by_outcome[row["outcome"]] = by_outcome.get(row["outcome"], 0) + row["count"]
        by_task[row["task"]] = by_task.get(row["task"], 0) + row["count"]
    return LLMFigures(
        calls=sum(row["count"] for row in rows),
        by_outcome=by_outcome,
        by_task=by_task,
        tokens_in=sum(row["tokens_in"] or 0 for row in rows),
        tokens_out=sum(row["tokens_out"] or 0 for row in rows),
        estimated_cost_usd=sum((Decimal(row["cost"] or 0) for row in rows), Decimal(0)),
    )


def _price_table() -> list[tuple[str, dict[str, Any]]]:
    """(dialling prefix, row) longest prefix first, then ("", the default row)."""
    table = settings.WHATSAPP_PRICES
    rows = [(str(row.get("prefix", "")), row) for key, row in table.items() if key != "default" and row.get("prefix")]
    rows.sort(key=lambda item: -len(item[0]))
    return [*rows, ("", table.get("default", {"currency": "USD"}))]


def message_price(*, wa_id: str, category: str) -> tuple[str, Decimal]:
    """(currency, estimated price) of one billable message to `wa_id` in Meta's pricing `category`."""
    for prefix, row in _price_table():
        if wa_id.startswith(prefix):
            return str(row.get("currency", "USD")), Decimal(str(row.get(category.lower(), row.get("service", 0))))
    return "USD", Decimal(0)


def _whatsapp(*, since: datetime, until: datetime, llm_cost_usd: Decimal) -> WhatsAppCostFigures:
    from django.db.models.functions import Substr, TruncDate

    from conversations.models import DeliveryStatus

    billable = DeliveryStatus.objects.filter(
        pricing_billable=True, message__isnull=False, received_at__gte=since, received_at__lt=until
    )
    # One row per (day, prefix, category): the messages are counted in SQL, priced here per group.
    rows = list(
        billable.annotate(day=TruncDate("received_at"), prefix=Substr("message__conversation__contact__wa_id", 1, 3))
        .values("day", "prefix", "pricing_category")
        .annotate(messages=Count("message_id", distinct=True))
    )
    by_category: dict[str, int] = {}
    by_currency: dict[str, Decimal] = {}
    by_category_cost: dict[str, dict[str, Decimal]] = {}
    by_day: dict[str, dict[str, Decimal]] = {}
    for row in rows:
        category = row["pricing_category"] or "service"
        currency, price = message_price(wa_id=row["prefix"] or "", category=category)
        cost = price * row["messages"]
        by_category[category] = by_category.get(category, 0) + row["messages"]
        by_currency[currency] = by_currency.get(currency, Decimal(0)) + cost
        per_category = by_category_cost.setdefault(category, {})
        per_category[currency] = per_category.get(currency, Decimal(0)) + cost
        per_day = by_day.setdefault(row["day"].isoformat(), {})
        per_day[currency] = per_day.get(currency, Decimal(0)) + cost
    conversations = billable.values("message__conversation_id").distinct().count()
    outbound = Message.objects.filter(
        direction=Message.Direction.OUTBOUND, created_at__gte=since, created_at__lt=until
    ).exclude(run_key="")
    counts = outbound.aggregate(turns=Count("run_key", distinct=True), messages=Count("pk"))
    llm_conversations = (
        LLMCall.objects.filter(started_at__gte=since, started_at__lt=until).values("conversation_id").distinct().count()
    )
    return WhatsAppCostFigures(
        billable_messages=sum(by_category.values()),
        by_category=by_category,
        cost_by_currency=by_currency,
        cost_by_category=by_category_cost,
        cost_by_day=dict(sorted(by_day.items())),
        conversations=conversations,
        llm_cost_usd_per_conversation=llm_cost_usd / llm_conversations if llm_conversations else None,
        turns=counts["turns"],
        bot_messages=counts["messages"],
    )


@dataclass(frozen=True)
class BudgetFigures:
    """This calendar month's spend (WhatsApp's estimated charges + the LLM's) against the monthly budget, in BRL.

    Amounts billed in USD (WhatsApp abroad, the LLM) are converted at the budget's own rate. `budget_brl`
    is None when no budget is set (the alerts then stay silent).
    """

    month: str  # "2026-12"
    since: datetime
    until: datetime
    budget_brl: Decimal | None
    usd_to_brl: Decimal
    whatsapp_brl: Decimal
    llm_brl: Decimal

    @property
    def spent_brl(self) -> Decimal:
        return self.whatsapp_brl + self.llm_brl

    @property
    def used_ratio(self) -> float | None:
        """Spent / budget (0.8 and 1.0 are the alert thresholds); None without a budget."""
        return float(self.spent_brl / self.budget_brl) if self.budget_brl else None


def month_spend(*, now: datetime | None = None) -> BudgetFigures:
    """What the assistant cost since the 1st of this month (server time zone), beside the monthly budget."""
    from institutional.models import SpendingBudget

    now = now or timezone.now()
    since = timezone.localtime(now).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    budget = SpendingBudget.objects.filter(pk=SpendingBudget.SINGLETON_ID).first() or SpendingBudget()
    rate = Decimal(budget.usd_to_brl)
    whatsapp = _whatsapp(since=since, until=now, llm_cost_usd=Decimal(0)).cost_by_currency
    # The price table bills in BRL (Brazilian numbers) or USD (everywhere else, by default).
    whatsapp_brl = sum((cost if currency == "BRL" else cost * rate for currency, cost in whatsapp.items()), Decimal(0))
    return BudgetFigures(
        month=since.strftime("%Y-%m"),
        since=since,
        until=now,
        budget_brl=Decimal(budget.monthly_limit_brl) or None,
        usd_to_brl=rate,
        whatsapp_brl=whatsapp_brl.quantize(Decimal("0.000001")),
        llm_brl=(_llm(since=since, until=now).estimated_cost_usd * rate).quantize(Decimal("0.000001")),
    )


def _replies(*, since: datetime, until: datetime) -> ReplyFigures:
    rows = list(
        Message.objects.filter(direction=Message.Direction.OUTBOUND, created_at__gte=since, created_at__lt=until)
        .values("provider")
        .annotate(count=Count("pk"), failed=Count("pk", filter=Q(status=Message.Status.FAILED)))
        .order_by("provider")
    )
    return ReplyFigures(
        total=sum(row["count"] for row in rows),
        by_provider={row["provider"] or "unknown": row["count"] for row in rows},
        failed=sum(row["failed"] for row in rows),
    )


# --- Targets ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KPICheck:
    """One figure next to the roadmap's target: `met` is None when the period has no data for it."""

    key: str
    label: StrOrPromise  # a lazy translation: str() it where a plain string is needed
    value: float | None
    unit: str  # "ratio" (0..1), "seconds" or "count"
    target: str
    met: bool | None


def _check(
    key: str, label: StrOrPromise, value: float | None, unit: str, target: str, ok: Callable[[float], bool]
) -> KPICheck:
    return KPICheck(
        key=key, label=label, value=value, unit=unit, target=target, met=None if value is None else ok(value)
    )


def kpi_checks(report: KPIReport) -> list[KPICheck]:
    """The roadmap's KPIs with their targets ("Success Metrics", rollback triggers), in display order."""
    inbound, constraints, response = report.inbound, report.constraints, report.response_time
    return [
        _check("message_loss_rate", _("Message loss"), inbound.loss_rate, "ratio", "0 %", lambda v: v == 0),
        _check(
            "messages_lost", _("Messages lost (open past the horizon)"), inbound.lost, "count", "0", lambda v: v == 0
        ),
        _check("escalation_rate", _("Escalation rate"), report.escalation.rate, "ratio", "< 5 %", lambda v: v < 0.05),
        _check(
            "fsm_transition_success",
            _("FSM transition success"),
            report.fsm.success_rate,
            "ratio",
            "≥ 99 %",
            lambda v: v >= 0.99,
        ),
        _check(
            "constraint_violations_sent",
            _("Constraint violations sent"),
            constraints.violations_sent,
            "count",
            "0",
            lambda v: v == 0,
        ),
        _check(
            "contract_closure_sent",
            _("Contract closure attempts sent"),
            constraints.contract_closure_sent,
            "count",
            "0",
            lambda v: v == 0,
        ),
        _check(
            "response_time_p50",
            _("Response time P50"),
            response.p50_seconds,
            "seconds",
            "≤ 3 s",
            lambda v: v <= 3,
        ),
        _check(
            "response_time_p95",
            _("Response time P95"),
            response.p95_seconds,
            "seconds",
            "≤ 5 s",
            lambda v: v <= 5,
        ),
    ]
