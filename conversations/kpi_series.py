"""The KPIs over time and in breakdowns (what the dashboard plots and `/api/kpis/` returns under `series`).

Each series is one aggregate query grouped by hour or by day in the server's time zone, so the figures
stay cheap whatever the volume. `conversations_behind` answers the dashboard's click-through: which
conversations make up one figure (a bar, a funnel step, a queue-age band).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import Count, DateTimeField, F, Q, QuerySet, Sum
from django.db.models.functions import TruncDay, TruncHour
from django.utils import timezone

from conversations.kpis import _EpochSeconds, _PercentileCont, _sent_replies, percentile_cont
from conversations.models import Conversation, Message, TransitionDecision
from conversations.selectors import conversations_waiting_for_human
from conversations.states import State
from institutional.hours import BusinessWait, business_waits
from institutional.models import GuardViolation
from llm.models import LLMCall

# Periods up to this long are plotted per hour; longer ones per day.
HOURLY_UP_TO = timedelta(hours=48)
BUCKETS = ("hour", "day")
# The handoff queue's age bands (upper bounds); the last band is open-ended.
QUEUE_AGE_BANDS: tuple[tuple[str, timedelta | None], ...] = (
    ("lt_5m", timedelta(minutes=5)),
    ("5m_15m", timedelta(minutes=15)),
    ("15m_1h", timedelta(hours=1)),
    ("1h_4h", timedelta(hours=4)),
    ("gt_4h", None),
)
# The funnel's steps, in lifecycle order: every state a conversation can reach.
FUNNEL_STATES: tuple[str, ...] = tuple(state.value for state in State)


def bucket_for(*, since: datetime, until: datetime) -> str:
    return "hour" if until - since <= HOURLY_UP_TO else "day"


def _trunc(field: str, bucket: str) -> TruncHour | TruncDay:
    tz = timezone.get_current_timezone()
    kind = TruncHour if bucket == "hour" else TruncDay
    return kind(field, tzinfo=tz, output_field=DateTimeField())


def bucket_starts(*, since: datetime, until: datetime, bucket: str) -> list[datetime]:
    """Every bucket's start from the one holding `since` to the one holding `until` (exclusive)."""
    local = timezone.localtime(since)
    start = local.replace(minute=0, second=0, microsecond=0)
    if bucket == "day":
        start = start.replace(hour=0)
    step = timedelta(hours=1) if bucket == "hour" else timedelta(days=1)
    starts = []
    while start < until:
        starts.append(start)
        # Day steps are taken in local wall time, so a DST change keeps midnights at midnight.
        start = timezone.make_aware(start.replace(tzinfo=None) + step) if bucket == "day" else start + step
    return starts


@dataclass(frozen=True)
class BucketFigures:
    """One hour or day of the period."""

    start: datetime
    messages_in: int
    messages_out: int
    conversations_active: int
    conversations_escalated: int
    bot_decisions: int
    bot_decisions_ok: int
    replies_measured: int
    response_p50_seconds: float | None
    response_p95_seconds: float | None
    llm_cost_usd: Decimal

    @property
    def escalation_rate(self) -> float | None:
        return self.conversations_escalated / self.conversations_active if self.conversations_active else None

    @property
    def fsm_success_rate(self) -> float | None:
        return self.bot_decisions_ok / self.bot_decisions if self.bot_decisions else None


@dataclass(frozen=True)
class KPISeries:
    since: datetime
    until: datetime
    bucket: str
    buckets: list[BucketFigures]
    # Conversations started in the period that reached each state (FUNNEL_STATES order).
    funnel: dict[str, int]
    # Conversations waiting for a person now, by how long they have waited (QUEUE_AGE_BANDS order).
    handoff_queue: dict[str, int]


def _by_bucket(queryset: QuerySet[Any], field: str, bucket: str, **aggregates: Any) -> dict[datetime, dict]:
    rows = queryset.annotate(bucket=_trunc(field, bucket)).values("bucket").annotate(**aggregates).order_by("bucket")
    return {row["bucket"]: row for row in rows}


def _escalated_by_bucket(*, since: datetime, until: datetime, bucket: str) -> dict[datetime, int]:
    """Per bucket, conversations that reached handoff_requested and had an inbound message in that bucket.

    The same rule as the period's escalation figure, applied to each bucket, so a bucket's rate is at
    most 1. Two grouped queries; the pairs they return are (bucket, conversation), one per active one.
    """
    in_period = {"created_at__gte": since, "created_at__lt": until}
    escalations = set(
        TransitionDecision.objects.filter(
            outcome=TransitionDecision.Outcome.APPLIED, proposed_state=State.HANDOFF_REQUESTED, **in_period
        )
        .annotate(bucket=_trunc("created_at", bucket))
        .values_list("bucket", "conversation_id")
        .distinct()
    )
    if not escalations:
        return {}
    active = set(
        Message.objects.filter(direction=Message.Direction.INBOUND, **in_period)
        .annotate(bucket=_trunc("created_at", bucket))
        .values_list("bucket", "conversation_id")
        .distinct()
    )
    counts: dict[datetime, int] = {}
    for start, _conversation in escalations & active:
        counts[start] = counts.get(start, 0) + 1
    return counts


def _response_times(*, since: datetime, until: datetime, bucket: str) -> dict[datetime, dict]:
    replies = _sent_replies(since=since, until=until)
    if connection.vendor == "postgresql":
        seconds = _EpochSeconds(F("sent_at") - F("first_inbound_at"))
        return _by_bucket(
            replies,
            "created_at",
            bucket,
            count=Count("pk"),
            p50=_PercentileCont(seconds, fraction=0.5),
            p95=_PercentileCont(seconds, fraction=0.95),
        )
    # Other databases (SQLite in the embedded mode): the percentiles in Python, per bucket.
    grouped: dict[datetime, list[float]] = {}
    for start, sent_at, first in replies.annotate(bucket=_trunc("created_at", bucket)).values_list(
        "bucket", "sent_at", "first_inbound_at"
    ):
        grouped.setdefault(start, []).append((sent_at - first).total_seconds())
    result = {}
    for start, values in grouped.items():
        values.sort()
        result[start] = {
            "count": len(values),
            "p50": percentile_cont(values, 0.5),
            "p95": percentile_cont(values, 0.95),
        }
    return result


def kpi_series(
    *, since: datetime, until: datetime, bucket: str | None = None, now: datetime | None = None
) -> KPISeries:
    """Per-bucket figures for the period, the state funnel and the handoff queue's ages (about nine queries)."""
    if since >= until:
        raise ValueError("since must be before until")
    bucket = bucket or bucket_for(since=since, until=until)
    if bucket not in BUCKETS:
        raise ValueError(f"bucket is one of {', '.join(BUCKETS)}")
    in_period = {"created_at__gte": since, "created_at__lt": until}
    messages = _by_bucket(
        Message.objects.filter(**in_period),
        "created_at",
        bucket,
        incoming=Count("pk", filter=Q(direction=Message.Direction.INBOUND)),
        outgoing=Count("pk", filter=Q(direction=Message.Direction.OUTBOUND)),
        conversations=Count("conversation_id", distinct=True, filter=Q(direction=Message.Direction.INBOUND)),
    )
    escalated = _escalated_by_bucket(since=since, until=until, bucket=bucket)
    decisions = _by_bucket(
        TransitionDecision.objects.filter(actor_kind=TransitionDecision.ActorKind.BOT, **in_period),
        "created_at",
        bucket,
        total=Count("pk"),
        ok=Count("pk", filter=~Q(outcome=TransitionDecision.Outcome.REFUSED)),
    )
    responses = _response_times(since=since, until=until, bucket=bucket)
    costs = _by_bucket(
        LLMCall.objects.filter(started_at__gte=since, started_at__lt=until),
        "started_at",
        bucket,
        cost=Sum("estimated_cost"),
    )
    buckets = []
    for start in bucket_starts(since=since, until=until, bucket=bucket):
        message_row = messages.get(start, {})
        decision_row = decisions.get(start, {})
        response_row = responses.get(start, {})
        buckets.append(
            BucketFigures(
                start=start,
                messages_in=message_row.get("incoming", 0),
                messages_out=message_row.get("outgoing", 0),
                conversations_active=message_row.get("conversations", 0),
                conversations_escalated=escalated.get(start, 0),
                bot_decisions=decision_row.get("total", 0),
                bot_decisions_ok=decision_row.get("ok", 0),
                replies_measured=response_row.get("count", 0),
                response_p50_seconds=response_row.get("p50"),
                response_p95_seconds=response_row.get("p95"),
                llm_cost_usd=Decimal(costs.get(start, {}).get("cost") or 0),
            )
        )
    return KPISeries(
        since=since,
        until=until,
        bucket=bucket,
        buckets=buckets,
        funnel=state_funnel(since=since, until=until),
        handoff_queue=handoff_queue_ages(now=now),
    )


def _started_in(since: datetime, until: datetime) -> QuerySet[Conversation]:
    return Conversation.objects.filter(started_at__gte=since, started_at__lt=until)


def state_funnel(*, since: datetime, until: datetime) -> dict[str, int]:
    """Of the conversations started in the period, how many ever reached each state (one grouped query)."""
    started = _started_in(since, until)
    reached = (
        TransitionDecision.objects.filter(outcome=TransitionDecision.Outcome.APPLIED, conversation__in=started)
        .values("proposed_state")
        .annotate(count=Count("conversation_id", distinct=True))
    )
    counts = {row["proposed_state"]: row["count"] for row in reached}
    counts[State.NEW.value] = started.count()
    return {state: counts.get(state, 0) for state in FUNNEL_STATES}


def _queue_band_filters(now: datetime) -> dict[str, Q]:
    filters = {}
    lower: timedelta = timedelta(0)
    for key, upper in QUEUE_AGE_BANDS:
        condition = Q(handoff_requested_at__lte=now - lower)
        if upper is not None:
            condition &= Q(handoff_requested_at__gt=now - upper)
            lower = upper
        filters[key] = condition
    return filters


def handoff_queue_ages(*, now: datetime | None = None) -> dict[str, int]:
    """Conversations waiting for a person now, by age band (one query)."""
    now = now or timezone.now()
    counts = conversations_waiting_for_human().aggregate(
        **{key: Count("pk", filter=condition) for key, condition in _queue_band_filters(now).items()}
    )
    return {key: counts[key] for key, _ in QUEUE_AGE_BANDS}


def handoff_queue_business_waits(*, now: datetime | None = None) -> list[BusinessWait]:
    """How long each conversation waiting for a person has waited, in opening hours only (the SLA's clock)."""
    now = now or timezone.now()
    starts = list(conversations_waiting_for_human().values_list("handoff_requested_at", "started_at"))
    return business_waits([requested or started for requested, started in starts], until=now)


# --- Click-through: the conversations behind one figure ------------------------------------------------

FIGURES = ("messages", "escalated", "fsm_refused", "guard", "response_time", "llm_cost", "funnel", "queue_age")


def conversations_behind(
    *, figure: str, since: datetime, until: datetime, key: str = "", now: datetime | None = None
) -> QuerySet[Conversation]:
    """The conversations a figure counts, for the same period (a bucket's start/end narrows it to one bar).

    Raises ValueError for an unknown figure or key, so a hand-edited link gets a clear error.
    """
    in_period = {"created_at__gte": since, "created_at__lt": until}
    ids: QuerySet[Any, Any]
    if figure == "messages":
        ids = Message.objects.filter(**in_period).values("conversation_id")
    elif figure == "escalated":
        # As the escalation figure counts them: escalated in the period and active in it (an inbound message).
        active = Message.objects.filter(direction=Message.Direction.INBOUND, **in_period).values("conversation_id")
        ids = TransitionDecision.objects.filter(
            outcome=TransitionDecision.Outcome.APPLIED,
            proposed_state=State.HANDOFF_REQUESTED,
            conversation_id__in=active,
            **in_period,
        ).values("conversation_id")
    elif figure == "fsm_refused":
        ids = TransitionDecision.objects.filter(
            actor_kind=TransitionDecision.ActorKind.BOT, outcome=TransitionDecision.Outcome.REFUSED, **in_period
        ).values("conversation_id")
    elif figure == "guard":
        violations = GuardViolation.objects.filter(**in_period)
        ids = (violations.filter(constraint_slug=key) if key else violations).values("conversation_id")
    elif figure == "response_time":
        ids = _sent_replies(since=since, until=until).values("conversation_id")
    elif figure == "llm_cost":
        ids = LLMCall.objects.filter(started_at__gte=since, started_at__lt=until).values("conversation_id")
    elif figure == "funnel":
        if key not in FUNNEL_STATES:
            raise ValueError(f"unknown state {key!r}")
        started = _started_in(since, until)
        if key == State.NEW.value:
            return started.select_related("contact").order_by("-last_activity_at", "-pk")
        ids = TransitionDecision.objects.filter(
            outcome=TransitionDecision.Outcome.APPLIED, proposed_state=key, conversation__in=started
        ).values("conversation_id")
    elif figure == "queue_age":
        bands = _queue_band_filters(now or timezone.now())
        if key not in bands:
            raise ValueError(f"unknown queue-age band {key!r}")
        return conversations_waiting_for_human().filter(bands[key])
    else:
        raise ValueError(f"unknown figure {figure!r}; one of {', '.join(FIGURES)}")
    return (
        Conversation.objects.filter(pk__in=ids)  # type: ignore[misc] # a subquery of ids, which the stubs do not model
        .select_related("contact")
        .order_by("-last_activity_at", "-pk")
    )
