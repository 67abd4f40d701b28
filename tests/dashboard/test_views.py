"""The dashboard: access, every plot against `/api/kpis/` for the same period, and the click-through lists."""

import re
from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlparse

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from conversations.kpi_series import bucket_starts
from conversations.states import State
from tests.conversations.test_kpis import dataset, now  # noqa: F401 - the KPI tests' dataset, as fixtures
from tests.factories import ConversationFactory, UserFactory

pytestmark = pytest.mark.django_db

MARK = re.compile(r'<g class="mark" data-series="([^"]*)" data-key="([^"]*)" data-value="([^"]*)">')
CHART = re.compile(r'<svg id="(chart-[\w-]+)".*?</svg>', re.S)
LINK_AROUND_MARK = re.compile(r'<a href="([^"]+)"><g class="mark" data-series="[^"]*" data-key="([^"]*)"')


@pytest.fixture
def staff(client):
    user = UserFactory(staff=True, username="produto")
    client.force_login(user)
    return user


def marks(page: str) -> dict[str, dict[str, list[tuple[str, float | None]]]]:
    """{chart id: {series: [(key, value), …]}} read back from the SVG."""
    charts: dict[str, dict[str, list[tuple[str, float | None]]]] = {}
    for match in CHART.finditer(page):
        series: dict[str, list[tuple[str, float | None]]] = {}
        for name, key, value in MARK.findall(match.group(0)):
            series.setdefault(name, []).append((key, float(value) if value else None))
        charts[match.group(1)] = series
    return charts


def values(chart: dict[str, list], index: int) -> list[float | None]:
    return [value for _key, value in list(chart.values())[index]]


def keyed(chart: dict[str, list]) -> dict[str, float | None]:
    return dict(next(iter(chart.values())))


def api(user, since: datetime, until: datetime) -> dict:
    client = APIClient()
    client.force_authenticate(user)
    response = client.get("/api/kpis/", {"since": since.isoformat(), "until": until.isoformat()})
    assert response.status_code == 200, response.content
    return response.json()


def test_the_dashboard_needs_a_staff_login(client):
    assert client.get(reverse("dashboard:index")).status_code == 302
    client.force_login(UserFactory(username="cliente"))
    assert client.get(reverse("dashboard:index")).status_code == 403


def test_every_plot_matches_the_kpi_api_for_the_same_period(client, staff, dataset, now):  # noqa: F811
    ConversationFactory(state=State.HANDOFF_REQUESTED, handoff_requested_at=now - timedelta(minutes=20))
    since, until = now - timedelta(hours=24), now + timedelta(seconds=1)
    report = api(staff, since, until)
    page = client.get(reverse("dashboard:index"), {"since": since.isoformat(), "until": until.isoformat()})
    assert page.status_code == 200
    charts = marks(page.content.decode())
    buckets = report["series"]["buckets"]
    assert report["series"]["bucket"] == "hour" and len(buckets) == 25

    # Per-hour series: the same keys (bucket starts) and the same values, bar by bar, point by point.
    keys = [key for key, _ in next(iter(charts["chart-messages"].values()))]
    assert [datetime.fromisoformat(k) for k in keys] == [datetime.fromisoformat(b["start"]) for b in buckets]
    assert values(charts["chart-messages"], 0) == [b["messages_in"] for b in buckets]
    assert values(charts["chart-messages"], 1) == [b["messages_out"] for b in buckets]
    assert values(charts["chart-escalation"], 0) == [b["escalation_rate"] for b in buckets]
    assert values(charts["chart-fsm"], 0) == [b["fsm_success_rate"] for b in buckets]
    assert values(charts["chart-response"], 0) == [b["response_p50_seconds"] for b in buckets]
    assert values(charts["chart-response"], 1) == [b["response_p95_seconds"] for b in buckets]
    assert values(charts["chart-cost"], 0) == [float(b["llm_cost_usd"]) for b in buckets]
    # Breakdowns: by rule, the funnel, the queue's ages.
    assert keyed(charts["chart-guard"]) == {
        k: float(v) for k, v in report["constraints"]["blocked_by_constraint"].items()
    }
    assert keyed(charts["chart-funnel"]) == {k: float(v) for k, v in report["series"]["funnel"].items()}
    assert keyed(charts["chart-queue"]) == {k: float(v) for k, v in report["series"]["handoff_queue"].items()}
    # The dataset is not empty where it matters: these comparisons cannot pass on zeros alone.
    assert sum(b["messages_in"] for b in buckets) == report["inbound"]["received"] > 0
    assert report["constraints"]["blocked_by_constraint"] and report["series"]["handoff_queue"]["15m_1h"] == 1
    # The target cards show the API's figures for each roadmap target.
    cards = dict(re.findall(r'data-kpi="([\w_]+)" data-value="([^"]*)"', page.content.decode()))
    for target in report["targets"]:
        shown = cards[target["key"]]
        assert (float(shown) if shown else None) == (
            pytest.approx(target["value"]) if target["value"] is not None else None
        )


def test_each_figure_clicks_through_to_the_conversations_it_counts(client, staff, dataset, now):  # noqa: F811
    waiting = ConversationFactory(state=State.HANDOFF_REQUESTED, handoff_requested_at=now - timedelta(minutes=20))
    since, until = now - timedelta(hours=24), now + timedelta(seconds=1)
    report = api(staff, since, until)
    page = client.get(reverse("dashboard:index"), {"since": since.isoformat(), "until": until.isoformat()})
    links = dict((key, href) for href, key in LINK_AROUND_MARK.findall(page.content.decode()))

    def listed(href: str) -> set[int]:
        response = client.get(href.replace("&amp;", "&"))
        assert response.status_code == 200
        return {int(pk) for pk in re.findall(r'data-conversation="(\d+)"', response.content.decode())}

    # The escalation headline opens exactly the conversations the figure counts.
    escalated = re.search(r'href="([^"]+)" data-figure="escalation"', page.content.decode()).group(1)
    assert listed(escalated) == {dataset["b"].pk, dataset["e"].pk}
    assert report["escalation"]["conversations_escalated"] == 2
    # A funnel step and a queue band list as many conversations as they plot.
    assert len(listed(links[State.HANDOFF_REQUESTED.value])) == report["series"]["funnel"]["handoff_requested"]
    assert listed(links["15m_1h"]) == {waiting.pk}
    # A bar's link covers that bar's hour only.
    query = parse_qs(urlparse(links[keys_with_messages(report)[0]].replace("&amp;", "&")).query)
    assert datetime.fromisoformat(query["until"][0]) - datetime.fromisoformat(query["since"][0]) <= timedelta(hours=1)


def keys_with_messages(report: dict) -> list[str]:
    return [
        timezone.localtime(datetime.fromisoformat(b["start"])).isoformat()
        for b in report["series"]["buckets"]
        if b["messages_in"]
    ]


def test_a_bad_period_says_why_and_falls_back_to_the_default(client, staff):
    response = client.get(reverse("dashboard:index"), {"since": "ontem", "until": "hoje"})
    assert response.status_code == 400
    assert "ISO 8601" in response.content.decode()
    assert 'id="chart-messages"' in response.content.decode()


def test_a_hand_edited_click_through_gets_a_clear_error(client, staff):
    moment = timezone.now()
    params = {
        "figure": "funnel",
        "key": "nope",
        "since": (moment - timedelta(hours=1)).isoformat(),
        "until": moment.isoformat(),
    }
    response = client.get(reverse("dashboard:conversations"), params)
    assert response.status_code == 400 and "nope" in response.content.decode()


def test_day_buckets_cover_a_month_and_keep_local_midnights():
    moment = timezone.now()
    starts = bucket_starts(since=moment - timedelta(days=30), until=moment, bucket="day")
    assert len(starts) == 31
    assert all(timezone.localtime(start).hour == 0 for start in starts)


@pytest.mark.parametrize("period", ["24h", "7d", "30d"])
def test_each_preset_period_renders(client, staff, period):
    response = client.get(reverse("dashboard:index"), {"period": period})
    assert response.status_code == 200
    assert (
        f'data-period="{period}" ' in response.content.decode()
        or f'class="active" data-period="{period}"' in response.content.decode()
    )


def test_the_queue_card_counts_waits_in_business_hours_and_says_when_the_team_is_back(client, staff):
    from zoneinfo import ZoneInfo

    import time_machine

    from institutional.services import business_hours_seed

    business_hours_seed()  # weekdays 8h–18h, closed on national holidays
    sp = ZoneInfo("America/Sao_Paulo")
    ConversationFactory(state=State.HANDOFF_REQUESTED, handoff_requested_at=datetime(2026, 12, 24, 17, 0, tzinfo=sp))
    with time_machine.travel(datetime(2026, 12, 25, 10, 0, tzinfo=sp), tick=False):
        client.force_login(staff)  # a session of that day
        page = client.get(reverse("dashboard:index")).content.decode()
    note = re.search(r'data-testid="queue-note">([^<]+)<', page).group(1)
    # Christmas Eve 17:00 → Christmas 10:00: one opening hour (17h–18h on the 24th); Christmas is closed.
    assert "Maior espera em horário de atendimento: 1 h 00 min." in note
    assert "a partir de segunda-feira, 28/12, às 08:00" in note
