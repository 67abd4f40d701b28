"""The dashboard pages: the KPIs and their series for a chosen period, plotted, and the conversations behind a figure.

Thin: the figures come from the same selectors as `GET /api/kpis/` (`kpis_for_period`, `kpi_series`),
read through the same period rules (`KPIQuerySerializer`); this module only turns them into charts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET

from conversations.api import KPIQuerySerializer
from conversations.kpi_series import (
    FUNNEL_STATES,
    BucketFigures,
    KPISeries,
    conversations_behind,
    handoff_queue_business_waits,
    kpi_series,
)
from conversations.kpis import KPICheck, KPIReport, kpi_checks, kpis_for_period
from conversations.states import State
from dashboard.charts import Point, Series, Target, bar_chart, hbar_chart, line_chart
from inbox.templatetags.inbox import duration
from institutional.hours import business_hours_status

# The period chooser's presets; any since/until pair works too.
PERIODS: dict[str, timedelta] = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
DEFAULT_PERIOD = "24h"
LIST_LIMIT = 200


def staff_view(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Logged in and staff (the product team and the support staff), as `/api/kpis/` requires."""

    def check(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_staff:
            raise PermissionDenied
        return view(request, *args, **kwargs)

    check.__name__ = view.__name__
    check.__doc__ = view.__doc__
    return login_required(check)


@dataclass(frozen=True)
class Period:
    since: datetime
    until: datetime
    bucket: str | None
    preset: str = ""
    errors: dict[str, list[str]] = field(default_factory=dict)


def _period(request: HttpRequest) -> Period:
    """The period from `?period=` or `?since=&until=[&bucket=]`, by the API's own rules (a bad one: the default)."""
    if "since" in request.GET or "until" in request.GET:
        query = KPIQuerySerializer(data=request.GET)
        if query.is_valid():
            data = query.validated_data
            return Period(since=data["since"], until=data["until"], bucket=data["bucket"])
        errors = {key: [str(e) for e in value] for key, value in query.errors.items()}
        preset = DEFAULT_PERIOD
    else:
        errors = {}
        preset = request.GET.get("period", DEFAULT_PERIOD)
        if preset not in PERIODS:
            errors = {"period": [_("Unknown period; choose 24 h, 7 days or 30 days.")]}
            preset = DEFAULT_PERIOD
    until = timezone.now()
    return Period(since=until - PERIODS[preset], until=until, bucket=None, preset=preset, errors=errors)


def _iso(moment: datetime) -> str:
    return timezone.localtime(moment).isoformat()


def _behind(figure: str, since: datetime, until: datetime, key: str = "") -> str:
    query = {"figure": figure, "since": _iso(since), "until": _iso(until)}
    if key:
        query["key"] = key
    return f"{reverse('dashboard:conversations')}?{urlencode(query)}"


def _bucket_label(bucket: BucketFigures, kind: str) -> str:
    return date_format(timezone.localtime(bucket.start), "H\\h" if kind == "hour" else "d/m")


def _bucket_end(series: KPISeries, index: int) -> datetime:
    following = series.buckets[index + 1].start if index + 1 < len(series.buckets) else series.until
    return min(following, series.until)


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f} %".replace(".", ",")


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f} s".replace(".", ",")


def _usd(value: float) -> str:
    return f"US$ {value:.4f}".replace(".", ",")


def _per_bucket(
    series: KPISeries,
    read: Callable[[BucketFigures], float | None],
    show: Callable[[float | None], str],
    figure: str,
) -> list[Point]:
    points = []
    for index, bucket in enumerate(series.buckets):
        start = max(bucket.start, series.since)
        value = read(bucket)
        points.append(
            Point(
                key=_iso(bucket.start),
                label=_bucket_label(bucket, series.bucket),
                value=value,
                text=show(value),
                href=_behind(figure, start, _bucket_end(series, index)),
            )
        )
    return points


def _count(value: float | None) -> str:
    return "—" if value is None else str(int(value))


def _checks(report: KPIReport) -> dict[str, KPICheck]:
    return {check.key: check for check in kpi_checks(report)}


def _charts(report: KPIReport, series: KPISeries) -> list[dict[str, Any]]:
    since, until = report.since, report.until
    checks = _checks(report)
    per = _("per hour") if series.bucket == "hour" else _("per day")
    charts: list[dict[str, Any]] = [
        {
            "id": "messages",
            "title": _("Messages %(per)s") % {"per": per},
            "headline": _("%(received)d received, %(sent)d sent")
            % {"received": report.inbound.received, "sent": report.replies.total},
            "svg": bar_chart(
                "chart-messages",
                _("Messages %(per)s") % {"per": per},
                [
                    Series(_("received"), _per_bucket(series, lambda b: b.messages_in, _count, "messages")),
                    Series(_("sent"), _per_bucket(series, lambda b: b.messages_out, _count, "messages")),
                ],
                axis_text=_("messages"),
            ),
            "legend": [_("received"), _("sent")],
        },
        {
            "id": "escalation",
            "title": _("Escalation rate"),
            "check": checks["escalation_rate"],
            "headline": _percent(report.escalation.rate),
            "href": _behind("escalated", since, until),
            "svg": line_chart(
                "chart-escalation",
                _("Escalation rate"),
                [Series(_("escalation"), _per_bucket(series, lambda b: b.escalation_rate, _percent, "escalated"))],
                axis_text="%",
                targets=[Target(0.05, _("target < 5 %"))],
            ),
        },
        {
            "id": "fsm",
            "title": _("State machine transition success"),
            "check": checks["fsm_transition_success"],
            "headline": _percent(report.fsm.success_rate),
            "href": _behind("fsm_refused", since, until),
            "svg": line_chart(
                "chart-fsm",
                _("State machine transition success"),
                [Series(_("success"), _per_bucket(series, lambda b: b.fsm_success_rate, _percent, "fsm_refused"))],
                axis_text="%",
                targets=[Target(0.99, _("target ≥ 99 %"))],
            ),
        },
        {
            "id": "guard",
            "title": _("Replies blocked by the guard, per rule"),
            "headline": _("%(count)d blocked; 0 violations sent") % {"count": report.constraints.blocked},
            "href": _behind("guard", since, until),
            "svg": hbar_chart(
                "chart-guard",
                _("Replies blocked by the guard, per rule"),
                [
                    Point(slug, slug, count, str(count), _behind("guard", since, until, slug))
                    for slug, count in report.constraints.blocked_by_constraint.items()
                ],
                color="#b42318",
            ),
            "empty": not report.constraints.blocked_by_constraint,
        },
        {
            "id": "response",
            "title": _("Response time P50 / P95"),
            "check": checks["response_time_p95"],
            "headline": _("P50 %(p50)s · P95 %(p95)s")
            % {"p50": _seconds(report.response_time.p50_seconds), "p95": _seconds(report.response_time.p95_seconds)},
            "href": _behind("response_time", since, until),
            "svg": line_chart(
                "chart-response",
                _("Response time P50 / P95"),
                [
                    Series("P50", _per_bucket(series, lambda b: b.response_p50_seconds, _seconds, "response_time")),
                    Series("P95", _per_bucket(series, lambda b: b.response_p95_seconds, _seconds, "response_time")),
                ],
                axis_text="s",
                targets=[Target(3, _("P50 target ≤ 3 s")), Target(5, _("P95 target ≤ 5 s"))],
            ),
            "legend": ["P50", "P95"],
        },
        {
            "id": "cost",
            "title": _("LLM cost %(per)s") % {"per": per},
            "headline": _usd(float(report.llm.estimated_cost_usd)),
            "href": _behind("llm_cost", since, until),
            "svg": bar_chart(
                "chart-cost",
                _("LLM cost %(per)s") % {"per": per},
                [
                    Series(
                        _("LLM (estimated)"),
                        _per_bucket(series, lambda b: float(b.llm_cost_usd), lambda v: _usd(v or 0), "llm_cost"),
                    )
                ],
                axis_text="US$",
            ),
        },
        {
            "id": "funnel",
            "title": _("State funnel (conversations started in the period)"),
            "headline": _("%(count)d conversations started") % {"count": series.funnel[State.NEW.value]},
            "svg": hbar_chart(
                "chart-funnel",
                _("State funnel"),
                [
                    Point(state, str(State(state).label), count, str(count), _behind("funnel", since, until, state))
                    for state, count in series.funnel.items()
                ],
            ),
        },
        {
            "id": "queue",
            "title": _("Handoff queue: how long customers have waited (now)"),
            "headline": _("%(count)d waiting") % {"count": sum(series.handoff_queue.values())},
            "note": _queue_sla_note(),
            "svg": hbar_chart(
                "chart-queue",
                _("Handoff queue age"),
                [
                    Point(key, str(QUEUE_BAND_LABELS[key]), count, str(count), _behind("queue_age", since, until, key))
                    for key, count in series.handoff_queue.items()
                ],
                color="#b54708",
            ),
        },
        _whatsapp_chart(report),
    ]
    return charts


def _queue_sla_note() -> str:
    """The SLA's view of the queue: the longest wait in opening hours, and when the team is next in if out now."""
    waits = handoff_queue_business_waits()
    if not waits:
        return ""
    longest = max(wait.seconds for wait in waits)
    note = _("Longest wait in business hours: %(wait)s.") % {"wait": duration(longest)}
    hours = business_hours_status()
    if not hours.is_open and hours.next_opening is not None:
        note += " " + _("The team is out now: customers were told someone answers from %(when)s.") % {
            "when": hours.next_opening_text()
        }
    return note


def _whatsapp_chart(report: KPIReport) -> dict[str, Any]:
    """WhatsApp's estimated charges per day (from the statuses' pricing), in each billing currency."""
    figures = report.whatsapp
    days = sorted(figures.cost_by_day)
    currencies = sorted(figures.cost_by_currency)
    series = [
        Series(
            currency,
            [
                Point(
                    day,
                    day[8:10] + "/" + day[5:7],
                    float(figures.cost_by_day[day].get(currency, 0)),
                    f"{currency} {figures.cost_by_day[day].get(currency, 0):.4f}",
                )
                for day in days
            ],
        )
        for currency in currencies
    ]
    headline = ", ".join(f"{currency} {amount:.2f}" for currency, amount in figures.cost_by_currency.items()) or "—"
    return {
        "id": "whatsapp-cost",
        "title": _("WhatsApp cost per day"),
        "headline": _("%(headline)s for %(count)d billable messages")
        % {"headline": headline, "count": figures.billable_messages},
        "svg": bar_chart("chart-whatsapp", _("WhatsApp cost per day"), series, axis_text=_("estimated")),
        "empty": not days,
        "legend": currencies,
    }


PERIOD_LABELS = {
    "24h": gettext_lazy("Last 24 hours"),
    "7d": gettext_lazy("Last 7 days"),
    "30d": gettext_lazy("Last 30 days"),
}
FIGURE_LABELS = {
    "messages": gettext_lazy("Conversations with messages"),
    "escalated": gettext_lazy("Conversations handed over to a person"),
    "fsm_refused": gettext_lazy("Conversations with a transition the state machine refused"),
    "guard": gettext_lazy("Conversations with a reply blocked by the guard"),
    "response_time": gettext_lazy("Conversations with a reply measured for response time"),
    "llm_cost": gettext_lazy("Conversations with LLM calls"),
    "funnel": gettext_lazy("Conversations that reached a state"),
    "queue_age": gettext_lazy("Conversations waiting for a person"),
}
QUEUE_BAND_LABELS = {
    "lt_5m": gettext_lazy("under 5 minutes"),
    "5m_15m": gettext_lazy("5 to 15 minutes"),
    "15m_1h": gettext_lazy("15 minutes to 1 hour"),
    "1h_4h": gettext_lazy("1 to 4 hours"),
    "gt_4h": gettext_lazy("over 4 hours"),
}


@require_GET
@staff_view
def dashboard(request: HttpRequest) -> HttpResponse:
    """The KPIs for the chosen period, plotted, each beside the roadmap's target."""
    period = _period(request)
    report = kpis_for_period(since=period.since, until=period.until)
    series = kpi_series(since=period.since, until=period.until, bucket=period.bucket, now=report.generated_at)
    errors = period.errors
    context = {
        "since": period.since,
        "until": period.until,
        "since_iso": _iso(period.since),
        "until_iso": _iso(period.until),
        "preset": period.preset,
        "periods": list(PERIOD_LABELS.items()),
        "errors": errors,
        "checks": kpi_checks(report),
        "charts": _charts(report, series),
        "generated_at": report.generated_at,
    }
    return render(request, "dashboard/index.html", context, status=400 if errors else 200)


@require_GET
@staff_view
def conversations(request: HttpRequest) -> HttpResponse:
    """The conversations behind one figure, for the period the figure was plotted over."""
    query = KPIQuerySerializer(data=request.GET)
    figure = request.GET.get("figure", "")
    key = request.GET.get("key", "")
    error = ""
    rows: list = []
    if not query.is_valid():
        error = "; ".join(str(e) for errors in query.errors.values() for e in errors)
    else:
        since, until = query.validated_data["since"], query.validated_data["until"]
        try:
            rows = list(conversations_behind(figure=figure, since=since, until=until, key=key)[:LIST_LIMIT])
        except ValueError as exc:
            error = str(exc)
    context = {
        "figure_label": FIGURE_LABELS.get(figure, figure),
        "key_label": _key_label(figure, key),
        "rows": rows,
        "limit": LIST_LIMIT,
        "error": error,
        "since": query.validated_data.get("since") if not error else None,
        "until": query.validated_data.get("until") if not error else None,
    }
    return render(request, "dashboard/conversations.html", context, status=400 if error else 200)


def _key_label(figure: str, key: str) -> str:
    if figure == "funnel" and key in FUNNEL_STATES:
        return str(State(key).label)
    if figure == "queue_age" and key in QUEUE_BAND_LABELS:
        return str(QUEUE_BAND_LABELS[key])
    return key
