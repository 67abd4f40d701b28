"""KPIs: exact figures over a known dataset, the API (auth, dates), the admin page and the Grafana dashboard."""

import json
import re
import subprocess
from datetime import UTC, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator
from prometheus_client import Counter, Gauge, Histogram
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from config import api_urls
from conversations import kpis
from conversations.kpis import (
    CONTRACT_CONSTRAINT_SLUG,
    _sent_replies,
    kpi_checks,
    kpis_for_period,
    percentile_cont,
    response_time_from_sample,
)
from conversations.models import Conversation, Message, TransitionDecision
from conversations.states import State
from institutional.builtin import BUILTIN_CONSTRAINTS, builtin_snapshot
from institutional.guard import check_reply
from institutional.models import GuardViolation
from llm.models import LLMCall
from pyloto.observability import metrics
from tests.factories import ConversationFactory, MessageFactory, UserFactory

pytestmark = pytest.mark.django_db

DASHBOARD = Path(settings.BASE_DIR) / "ops" / "grafana" / "pyloto-dashboard.json"


# --- The dataset -----------------------------------------------------------------------------------


def _inbound(conversation: Conversation, status: str, at, *, reason: str = "", run_key: str = "") -> Message:
    message = MessageFactory(conversation=conversation, status=status, status_reason=reason, run_key=run_key)
    # created_at is auto_now_add: the dataset places each row in time afterwards.
    Message.objects.filter(pk=message.pk).update(created_at=at)
    return message


def _reply(conversation: Conversation, at, *, provider: str, run_key: str, sent_after: float | None, status=None):
    message = MessageFactory(
        conversation=conversation,
        outbound=True,
        provider=provider,
        run_key=run_key,
        status=status or (Message.Status.SENT if sent_after is not None else Message.Status.PENDING),
    )
    sent_at = at + timedelta(seconds=sent_after) if sent_after is not None else None
    Message.objects.filter(pk=message.pk).update(created_at=at + timedelta(seconds=1), sent_at=sent_at)
    return message


def _decision(conversation: Conversation, at, *, outcome: str, proposed: str, actor_kind: str = "bot") -> None:
    TransitionDecision.objects.create(
        conversation=conversation,
        created_at=at,
        actor_kind=actor_kind,
        source_state=State.TRIAGE,
        proposed_state=proposed,
        outcome=outcome,
        refusal=TransitionDecision.Refusal.NO_TRANSITION if outcome == "refused" else "",
    )


def _violation(slug: str, at) -> None:
    violation = GuardViolation.objects.create(constraint_slug=slug, severity="critical", action="handoff")
    GuardViolation.objects.filter(pk=violation.pk).update(created_at=at)


def _llm_call(task: str, outcome: str, at, *, tokens_in: int, tokens_out: int, cost: str) -> None:
    LLMCall.objects.create(
        task=task,
        outcome=outcome,
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        estimated_cost=Decimal(cost),
        started_at=at,
        finished_at=at + timedelta(seconds=1),
    )


@pytest.fixture
def now():
    return timezone.now()


@pytest.fixture
def dataset(now):
    """Five conversations active in the last 24 h, one active only before it, and rows outside it."""
    hour, minute = timedelta(hours=1), timedelta(minutes=1)
    earlier = now - timedelta(days=2)
    a, b, c, d, e, f = (ConversationFactory() for _ in range(6))

    # A: two runs answered; replies sent 2 s and 10 s after each run's first message.
    _inbound(a, Message.Status.ANSWERED, now - 60 * minute, run_key="r1")
    _inbound(a, Message.Status.ANSWERED, now - 59 * minute, run_key="r1")
    _reply(a, now - 60 * minute, provider="openai", run_key="r1", sent_after=2)
    _inbound(a, Message.Status.ANSWERED, now - 30 * minute, run_key="r3")
    _reply(a, now - 30 * minute, provider="openai", run_key="r3", sent_after=10)
    # B: answered offline in 4 s, then handed to a person.
    _inbound(b, Message.Status.ANSWERED, now - 45 * minute, run_key="r2")
    _reply(b, now - 45 * minute, provider="offline", run_key="r2", sent_after=4)
    _inbound(b, Message.Status.HANDED_OFF, now - 40 * minute)
    # C: dropped by policy; the rate-limit notice is still pending (no sent_at: not in the response time).
    _inbound(c, Message.Status.DROPPED, now - 3 * hour, reason="rate limited")
    _inbound(c, Message.Status.DROPPED, now - 3 * hour, reason="rate limited")
    _inbound(c, Message.Status.DROPPED, now - 2 * hour, reason="reaction: no reply expected")
    _reply(c, now - 3 * hour, provider="system", run_key="r4", sent_after=None)
    # D: dead-lettered after its reply failed to send.
    _inbound(d, Message.Status.DEAD_LETTERED, now - 5 * hour, run_key="r5")
    _reply(d, now - 5 * hour, provider="openai", run_key="r5", sent_after=None, status=Message.Status.FAILED)
    # E: one message still being answered, one open past the 15-minute horizon (lost).
    _inbound(e, Message.Status.RECEIVED, now - 5 * minute)
    _inbound(e, Message.Status.PROCESSING, now - 20 * minute)
    # F and everything below: before the period.
    _inbound(f, Message.Status.ANSWERED, earlier, run_key="old")
    _reply(f, earlier, provider="openai", run_key="old", sent_after=1)

    # State decisions: B and E (twice) reached handoff_requested; F did too but had no inbound message in
    # the period; A's handoff was refused; A also stayed once; one staff decision; D's is from before.
    _decision(b, now - 40 * minute, outcome="applied", proposed=State.HANDOFF_REQUESTED)
    _decision(e, now - 20 * minute, outcome="applied", proposed=State.HANDOFF_REQUESTED)
    _decision(e, now - 4 * minute, outcome="applied", proposed=State.HANDOFF_REQUESTED)
    _decision(f, now - 2 * hour, outcome="applied", proposed=State.HANDOFF_REQUESTED)
    _decision(a, now - 59 * minute, outcome="refused", proposed=State.HANDOFF_REQUESTED)
    _decision(a, now - 30 * minute, outcome="unchanged", proposed=State.TRIAGE)
    _decision(b, now - 10 * minute, outcome="applied", proposed=State.HUMAN_ACTIVE, actor_kind="staff")
    _decision(d, earlier, outcome="applied", proposed=State.HANDOFF_REQUESTED)

    _violation(CONTRACT_CONSTRAINT_SLUG, now - 2 * hour)
    _violation(CONTRACT_CONSTRAINT_SLUG, now - hour)
    _violation("no-unlisted-price-or-deadline", now - hour)
    _violation(CONTRACT_CONSTRAINT_SLUG, earlier)

    _llm_call("decide_state", "ok", now - hour, tokens_in=100, tokens_out=20, cost="0.00100000")
    _llm_call("write_reply", "ok", now - hour, tokens_in=200, tokens_out=50, cost="0.00200000")
    _llm_call("choose_message_type", "invalid_output", now - hour, tokens_in=150, tokens_out=10, cost="0.00050000")
    _llm_call("decide_state", "transient_error", now - hour, tokens_in=0, tokens_out=0, cost="0")
    _llm_call("decide_state", "ok", earlier, tokens_in=1000, tokens_out=1000, cost="1")
    return {"a": a, "b": b, "e": e}


def _last_day(now):
    return {"since": now - timedelta(hours=24), "until": now + timedelta(seconds=1), "now": now}


# --- The selector ----------------------------------------------------------------------------------


def test_inbound_messages_are_counted_by_status_with_lost_past_the_horizon(dataset, now):
    inbound = kpis_for_period(**_last_day(now)).inbound

    assert (inbound.received, inbound.answered, inbound.handed_off, inbound.dropped) == (11, 4, 1, 3)
    assert inbound.dropped_by_reason == {"rate limited": 2, "reaction: no reply expected": 1}
    assert (inbound.dead_lettered, inbound.open, inbound.lost) == (1, 1, 1)
    assert inbound.loss_rate == pytest.approx(2 / 11)


def test_the_loss_horizon_is_the_sweepers_dead_letter_budget(dataset, now, settings):
    settings.SWEEP_DEAD_LETTER_AFTER_S = 30 * 60
    inbound = kpis_for_period(**_last_day(now)).inbound
    assert (inbound.open, inbound.lost) == (2, 0)


def test_escalation_counts_active_conversations_that_reached_handoff_once_each(dataset, now):
    escalation = kpis_for_period(**_last_day(now)).escalation
    assert (escalation.conversations_active, escalation.conversations_escalated) == (5, 2)
    assert escalation.rate == pytest.approx(0.4)


def test_fsm_success_covers_only_the_bots_decisions_in_the_period(dataset, now):
    fsm = kpis_for_period(**_last_day(now)).fsm
    assert (fsm.total, fsm.applied, fsm.unchanged, fsm.refused) == (6, 4, 1, 1)
    assert fsm.success_rate == pytest.approx(5 / 6)


def test_guard_blocks_are_counted_by_constraint_and_contract_closure_separately(dataset, now):
    constraints = kpis_for_period(**_last_day(now)).constraints
    assert constraints.blocked == 3
    assert constraints.blocked_by_constraint == {CONTRACT_CONSTRAINT_SLUG: 2, "no-unlisted-price-or-deadline": 1}
    assert constraints.contract_closure_blocked == 2
    assert (constraints.violations_sent, constraints.contract_closure_sent) == (0, 0)


def test_the_contract_slug_is_the_builtin_constraint_that_hands_over():
    rule = next(rule for rule in BUILTIN_CONSTRAINTS if rule.slug == CONTRACT_CONSTRAINT_SLUG)
    assert rule.action == "handoff"
    assert check_reply(release=builtin_snapshot(), text="Pronto, contrato fechado!").strictest.constraint_slug == (
        CONTRACT_CONSTRAINT_SLUG
    )


def test_response_time_runs_from_a_runs_first_message_to_its_reply_being_sent(dataset, now):
    response = kpis_for_period(**_last_day(now)).response_time
    # Sent replies in the period: 2 s, 4 s, 10 s (run r1 is timed from its first message, not its second).
    assert response.replies == 3
    assert response.method == "percentile_cont"
    assert response.p50_seconds == pytest.approx(4.0)
    assert response.p95_seconds == pytest.approx(9.4)


def test_the_python_sample_agrees_with_postgresql_and_is_bounded(dataset, now):
    replies = _sent_replies(since=now - timedelta(hours=24), until=now + timedelta(seconds=1))
    everything = response_time_from_sample(replies)
    newest_two = response_time_from_sample(replies, limit=2)

    assert (everything.replies, everything.p50_seconds, everything.p95_seconds) == (3, 4.0, pytest.approx(9.4))
    assert everything.method == "sample"
    # The two most recent replies are runs r3 (10 s) and r2 (4 s).
    assert (newest_two.replies, newest_two.p50_seconds) == (2, 7.0)


def test_percentile_cont_interpolates_like_postgresql():
    assert percentile_cont([], 0.5) is None
    assert percentile_cont([5.0], 0.95) == 5.0
    assert percentile_cont([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert percentile_cont([1.0, 2.0, 3.0, 4.0], 0.95) == pytest.approx(3.85)


def test_llm_calls_by_outcome_and_task_with_tokens_and_cost(dataset, now):
    llm = kpis_for_period(**_last_day(now)).llm
    assert llm.calls == 4
    assert llm.by_outcome == {"ok": 2, "invalid_output": 1, "transient_error": 1}
    assert llm.by_task == {"decide_state": 2, "write_reply": 1, "choose_message_type": 1}
    assert (llm.tokens_in, llm.tokens_out) == (450, 80)
    assert llm.estimated_cost_usd == Decimal("0.0035")


def test_replies_by_provider_give_the_fallback_share(dataset, now):
    replies = kpis_for_period(**_last_day(now)).replies
    assert replies.by_provider == {"offline": 1, "openai": 3, "system": 1}
    assert (replies.total, replies.failed) == (5, 1)
    assert replies.fallback_share == pytest.approx(0.2)


def test_each_kpi_is_checked_against_the_roadmaps_target(dataset, now):
    checks = {check.key: check for check in kpi_checks(kpis_for_period(**_last_day(now)))}

    assert {key: check.met for key, check in checks.items()} == {
        "message_loss_rate": False,
        "messages_lost": False,
        "escalation_rate": False,
        "fsm_transition_success": False,
        "constraint_violations_sent": True,
        "contract_closure_sent": True,
        "response_time_p50": False,
        "response_time_p95": False,
    }
    assert checks["escalation_rate"].target == "< 5 %"
    assert checks["fsm_transition_success"].target == "≥ 99 %"


def test_an_empty_period_has_no_rates_and_meets_the_zero_targets(now):
    report = kpis_for_period(since=now - timedelta(hours=1), until=now)
    checks = {check.key: check.met for check in kpi_checks(report)}

    assert report.inbound.received == 0 and report.inbound.loss_rate is None
    assert report.response_time.p50_seconds is None and report.replies.fallback_share is None
    assert checks["message_loss_rate"] is None and checks["escalation_rate"] is None
    assert checks["messages_lost"] is True and checks["constraint_violations_sent"] is True


def test_a_period_must_end_after_it_starts(now):
    with pytest.raises(ValueError, match="before"):
        kpis_for_period(since=now, until=now)


def test_the_report_is_a_bounded_number_of_queries_whatever_the_data(dataset, now, django_assert_max_num_queries):
    # Four of them are the WhatsApp cost figures (priced groups, conversations, turns, LLM conversations).
    with django_assert_max_num_queries(14):
        kpis_for_period(**_last_day(now))


# --- The API -----------------------------------------------------------------------------------------


def _client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def test_the_kpi_api_needs_a_staff_user():
    assert APIClient().get(reverse("api-kpis")).status_code == 401
    viewer = UserFactory(permissions=["conversations.view_conversation"])
    assert _client(viewer).get(reverse("api-kpis")).status_code == 403
    assert _client(UserFactory(staff=True)).get(reverse("api-kpis")).status_code == 200


def test_the_kpi_api_reports_the_period_asked_for(dataset, now):
    since = (now - timedelta(hours=24)).isoformat()
    until = (now + timedelta(seconds=1)).isoformat()

    response = _client(UserFactory(staff=True)).get(reverse("api-kpis"), {"since": since, "until": until})

    assert response.status_code == 200
    body = response.json()
    assert body["inbound"]["received"] == 11
    assert body["inbound"]["dropped_by_reason"] == {"rate limited": 2, "reaction: no reply expected": 1}
    assert body["escalation"] == {"conversations_active": 5, "conversations_escalated": 2, "rate": 0.4}
    assert body["fsm"]["refused"] == 1
    assert body["constraints"]["contract_closure_blocked"] == 2
    assert body["constraints"]["violations_sent"] == 0
    # The judge's figures, as on the KPIs page (the dataset has no judge verdicts).
    judge = {key: value for key, value in body["constraints"].items() if key.startswith("judge_")}
    assert judge == {"judge_verdicts": 0, "judge_agreed": 0, "judge_disagreed": 0, "judge_blocked": 0}
    assert body["response_time"]["p50_seconds"] == pytest.approx(4.0)
    assert body["llm"]["estimated_cost_usd"] == pytest.approx(0.0035)
    assert body["replies"]["fallback_share"] == pytest.approx(0.2)
    targets = {row["key"]: row for row in body["targets"]}
    assert targets["escalation_rate"] == {
        "key": "escalation_rate",
        "label": "Taxa de escalonamento",
        "value": 0.4,
        "unit": "ratio",
        "target": "< 5 %",
        "met": False,
    }


def test_the_kpi_api_defaults_to_the_last_24_hours(now):
    conversation = ConversationFactory()
    _inbound(conversation, Message.Status.ANSWERED, now - timedelta(hours=1))
    _inbound(conversation, Message.Status.ANSWERED, now - timedelta(hours=25))

    body = _client(UserFactory(staff=True)).get(reverse("api-kpis")).json()

    assert body["inbound"]["received"] == 1
    assert body["inbound"]["answered"] == 1


def test_a_plus_sign_turned_into_a_space_by_the_query_string_still_reads_as_an_offset(now):
    conversation = ConversationFactory()
    _inbound(conversation, Message.Status.ANSWERED, now - timedelta(hours=1))
    since = (now.astimezone(UTC) - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S")

    # "…T10:00:00 00:00" is what "…T10:00:00+00:00" becomes when the "+" is not URL-encoded.
    response = _client(UserFactory(staff=True)).get(f"{reverse('api-kpis')}?since={since}+00:00")

    assert response.status_code == 200, response.content
    assert response.json()["inbound"]["received"] == 1


@pytest.mark.parametrize(
    ("query", "field", "fragment"),
    [
        ({"since": "yesterday"}, "since", "not an ISO 8601 date-time"),
        ({"until": "2026-13-40T00:00:00Z"}, "until", "not an ISO 8601 date-time"),
        ({"since": "2026-05-02T00:00:00Z", "until": "2026-05-01T00:00:00Z"}, "since", "since must be before until"),
        ({"since": "2024-01-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, "since", "at most 366 days"),
    ],
)
def test_bad_dates_are_a_400_that_says_what_is_wrong(query, field, fragment):
    response = _client(UserFactory(staff=True)).get(reverse("api-kpis"), query)
    assert response.status_code == 400
    assert fragment in " ".join(response.json()[field])


def test_the_kpi_endpoint_is_in_the_openapi_schema_without_warnings():
    GENERATOR_STATS.reset()
    schema = SchemaGenerator(patterns=api_urls.urlpatterns).get_schema(request=None, public=True)
    warnings = dict(GENERATOR_STATS._warn_cache) | dict(GENERATOR_STATS._error_cache)
    GENERATOR_STATS.reset()
    assert not warnings
    operation = schema["paths"]["/kpis/"]["get"]
    assert {p["name"] for p in operation["parameters"]} == {"since", "until", "bucket"}
    assert set(operation["responses"]) == {"200", "400"}
    report = schema["components"]["schemas"]["KPIReport"]["properties"]
    assert {"inbound", "escalation", "fsm", "constraints", "response_time", "llm", "replies", "targets"} <= set(report)


# --- The admin page ---------------------------------------------------------------------------------


def test_the_admin_kpi_page_shows_three_periods_with_targets_coloured(client, dataset):
    client.force_login(UserFactory(staff=True))

    response = client.get(reverse("admin:conversations_kpis"))

    assert response.status_code == 200
    html = response.content.decode()
    targets = html[html.index('id="kpi-targets"') : html.index("</table>", html.index('id="kpi-targets"'))]
    assert [cell.strip() for cell in re.findall(r'<th scope="col" class="figure">([^<]+)</th>', targets)] == [
        "24 h",
        "7 d",
        "30 d",
    ]
    escalation = re.search(r"Taxa de escalonamento</th>(.*?)</tr>", targets, re.S).group(1)
    # 2 of 5 conversations in each window (everything in the dataset is within 24 h or 2 days old).
    assert escalation.count('class="figure kpi-bad">40.0 %</td>') == 1
    assert '<td class="target">&lt; 5 %</td>' in escalation
    sent = re.search(r"Violações de restrição enviadas</th>(.*?)</tr>", targets, re.S).group(1)
    assert sent.count('class="figure kpi-ok">0</td>') == 3
    assert "no-contract-closure" in html and "rate limited" in html


def test_the_admin_kpi_page_is_for_staff_only(client):
    url = reverse("admin:conversations_kpis")
    anonymous = client.get(url)
    assert anonymous.status_code == 302 and reverse("admin:login") in anonymous["Location"]
    client.force_login(UserFactory(permissions=["conversations.view_conversation"]))
    assert client.get(url).status_code == 302


def test_the_kpi_page_is_linked_from_the_conversations_section_and_list(client):
    client.force_login(UserFactory(staff=True, permissions=["conversations.view_conversation"]))
    url = reverse("admin:conversations_kpis")

    assert f'href="{url}"' in client.get(reverse("admin:app_list", args=["conversations"])).content.decode()
    assert f'href="{url}"' in client.get(reverse("admin:conversations_conversation_changelist")).content.decode()


# --- The Grafana dashboard --------------------------------------------------------------------------


def _exposed_metric_names() -> set[str]:
    """Every series name /metrics can expose, from the metric objects and scrape-time gauges of the module."""
    names = {value for name, value in vars(metrics).items() if name.endswith("_METRIC")}
    for value in vars(metrics).values():
        if isinstance(value, Counter):
            names.add(f"{value._name}_total")
        elif isinstance(value, Histogram):
            names.update(f"{value._name}{suffix}" for suffix in ("_bucket", "_count", "_sum"))
        elif isinstance(value, Gauge):
            names.add(value._name)
    return names


def _panel_expressions(dashboard: dict) -> list[str]:
    panels = list(dashboard["panels"])
    for panel in list(panels):
        panels.extend(panel.get("panels", []))
    return [target["expr"] for panel in panels for target in panel.get("targets", [])]


def test_every_dashboard_query_uses_metrics_the_service_exposes():
    dashboard = json.loads(DASHBOARD.read_text())
    expressions = _panel_expressions(dashboard)
    exposed = _exposed_metric_names()

    used = {name for expr in expressions for name in re.findall(r"pyloto_[a-z_]+", expr)}

    assert len(expressions) >= 12
    assert used - exposed == set()
    # Every metric of the module has a panel.
    assert {re.sub(r"_(bucket|count|sum)$", "", name) for name in exposed} <= {
        re.sub(r"_(bucket|count|sum)$", "", name) for name in used
    }


def test_the_dashboard_takes_its_datasource_from_a_variable():
    dashboard = json.loads(DASHBOARD.read_text())
    assert any(
        item["name"] == "DS_PROMETHEUS" and item["type"] == "datasource" for item in dashboard["templating"]["list"]
    )
    panels = [panel for panel in dashboard["panels"] if panel["type"] != "row"]
    assert panels
    assert {json.dumps(panel["datasource"]) for panel in panels} == {
        json.dumps({"type": "prometheus", "uid": "${DS_PROMETHEUS}"})
    }


def test_the_module_constant_matches_the_documented_default():
    assert kpis.loss_horizon() == timedelta(minutes=15)


def test_every_dashboard_query_is_valid_promql(tmp_path, promtool):
    expressions = _panel_expressions(json.loads(DASHBOARD.read_text()))
    # promtool parses every expression of a rules file: each panel query becomes a recording rule.
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [{"record": f"dashboard:query_{i}", "expr": expr} for i, expr in enumerate(expressions)],
            }
        ]
    }
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump(rules))

    result = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60)

    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(expressions)} rules found" in result.stdout


def test_whatsapp_cost_per_message_conversation_day_and_category_beside_llm_cost(settings):
    from decimal import Decimal

    from conversations.kpis import message_price
    from conversations.models import DeliveryStatus
    from tests.factories import ContactFactory

    settings.WHATSAPP_PRICES = {
        "BR": {"prefix": "55", "currency": "BRL", "service": 0.05, "marketing": 0.40},
        "default": {"currency": "USD", "service": 0.01, "marketing": 0.06},
    }
    assert message_price(wa_id="5511999990000", category="marketing") == ("BRL", Decimal("0.4"))
    assert message_price(wa_id="14155550000", category="service") == ("USD", Decimal("0.01"))
    brazil = ConversationFactory(contact=ContactFactory(wa_id="5511988880000"))
    abroad = ConversationFactory(contact=ContactFactory(wa_id="14155550000"))
    sent = []
    for conversation, category in [
        (brazil, "service"),
        (brazil, "service"),
        (brazil, "marketing"),
        (abroad, "service"),
    ]:
        message = MessageFactory(
            conversation=conversation, direction="out", status="delivered", run_key=f"r{len(sent)}"
        )
        sent.append(message)
        for status in ("sent", "delivered"):  # two statuses, one message: billed once
            DeliveryStatus.objects.create(
                wamid=message.wamid,
                status=status,
                message=message,
                pricing={"billable": True, "category": category, "pricing_model": "PMP"},
                pricing_category=category,
                pricing_billable=True,
                pricing_model="PMP",
            )
    unbilled = MessageFactory(conversation=brazil, direction="out", status="delivered", run_key="free")
    DeliveryStatus.objects.create(
        wamid=unbilled.wamid, status="delivered", message=unbilled, pricing_category="service", pricing_billable=False
    )
    now = timezone.now()
    figures = kpis_for_period(since=now - timedelta(hours=1), until=now + timedelta(minutes=1)).whatsapp
    assert figures.billable_messages == 4
    assert figures.by_category == {"service": 3, "marketing": 1}
    assert figures.cost_by_currency == {"BRL": Decimal("0.50"), "USD": Decimal("0.01")}
    assert figures.cost_by_category["marketing"] == {"BRL": Decimal("0.40")}
    assert figures.conversations == 2
    assert figures.cost_per_conversation("BRL") == Decimal("0.25")
    assert list(figures.cost_by_day.values()) == [{"BRL": Decimal("0.50"), "USD": Decimal("0.01")}]
    # One message per turn: five bot messages, five runs.
    assert figures.turns == 5 and figures.messages_per_turn == 1.0


# --- The monthly budget ------------------------------------------------------------------------------


def _billed(wa_id: str, at, *, count: int = 1) -> None:
    from conversations.models import DeliveryStatus
    from tests.factories import ContactFactory

    conversation = ConversationFactory(contact=ContactFactory(wa_id=wa_id))
    for _ in range(count):
        message = MessageFactory(conversation=conversation, direction="out", status="delivered")
        status = DeliveryStatus.objects.create(
            wamid=message.wamid,
            status="delivered",
            message=message,
            pricing_category="service",
            pricing_billable=True,
            pricing_model="PMP",
        )
        DeliveryStatus.objects.filter(pk=status.pk).update(received_at=at)


@pytest.fixture
def month_of_spend(settings, now):
    """R$ 0,50 to Brazil and US$ 0,02 abroad this month, US$ 0,10 of LLM calls; last month's spend besides."""
    from institutional.models import SpendingBudget

    settings.WHATSAPP_PRICES = {
        "BR": {"prefix": "55", "currency": "BRL", "service": 0.05},
        "default": {"currency": "USD", "service": 0.01},
    }
    month_start = timezone.localtime(now).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    just_now = max(now - timedelta(seconds=1), month_start)
    _billed("5511977770000", just_now, count=10)
    _billed("14155550000", just_now, count=2)
    _llm_call("write_reply", "ok", just_now, tokens_in=10, tokens_out=10, cost="0.10")
    _billed("5511977770001", month_start - timedelta(minutes=1), count=50)  # last month's
    _llm_call("write_reply", "ok", month_start - timedelta(minutes=1), tokens_in=1, tokens_out=1, cost="9")
    return SpendingBudget.objects.create(monthly_limit_brl=Decimal("1.00"), usd_to_brl=Decimal("5.00"))


def test_the_months_spend_adds_whatsapp_and_llm_in_brl_against_the_budget(month_of_spend, now):
    figures = kpis.month_spend(now=now)
    assert figures.month == timezone.localtime(now).strftime("%Y-%m")
    assert figures.whatsapp_brl == Decimal("0.60")  # 10 × R$ 0,05 + 2 × US$ 0,01 × 5
    assert figures.llm_brl == Decimal("0.50")  # US$ 0,10 × 5
    assert figures.spent_brl == Decimal("1.10") and figures.budget_brl == Decimal("1.00")
    assert figures.used_ratio == pytest.approx(1.10)


def test_without_a_budget_the_spend_is_still_measured_and_nothing_is_compared(settings, now):
    _billed("5511977770000", now - timedelta(microseconds=1), count=1)
    figures = kpis.month_spend(now=now)
    assert figures.budget_brl is None and figures.used_ratio is None
    assert figures.whatsapp_brl > 0


def test_the_api_and_the_kpis_page_show_the_months_spend_against_the_budget(client, month_of_spend):
    body = _client(UserFactory(staff=True)).get(reverse("api-kpis")).json()
    assert body["budget"]["budget_brl"] == 1.0
    assert body["budget"]["spent_brl"] == pytest.approx(1.10)
    assert body["budget"]["whatsapp_brl"] == pytest.approx(0.60) and body["budget"]["llm_brl"] == pytest.approx(0.50)
    assert body["budget"]["used_ratio"] == pytest.approx(1.10)

    client.force_login(UserFactory(staff=True))
    html = client.get(reverse("admin:conversations_kpis")).content.decode()
    block = html[html.index('id="kpi-budget"') : html.index("</table>", html.index('id="kpi-budget"'))]
    assert "Gasto do mês" in block and "R$ 1,10" in block and "R$ 1,00" in block
    assert 'kpi-bad" data-testid="budget-used">110,0 %' in block
    # Beside it, what each turn costs: WhatsApp and LLM per conversation, and messages per turn.
    for row in (
        "Custo do WhatsApp por conversa (R$)",
        "Custo do LLM por conversa (US$)",
        "Mensagens do assistente por turno",
    ):
        assert f"{row}</th>" in html


def test_metrics_expose_the_months_spend_and_the_budget_the_alerts_compare(month_of_spend):
    body = metrics.render_metrics()[0].decode()
    assert 'pyloto_month_spend_brl{source="whatsapp"} 0.6' in body
    assert 'pyloto_month_spend_brl{source="llm"} 0.5' in body
    assert "pyloto_month_budget_brl 1.0" in body


def test_without_a_budget_the_budget_series_is_absent_so_no_alert_can_fire(now):
    _billed("5511977770000", now, count=1)
    body = metrics.render_metrics()[0].decode()
    assert "pyloto_month_spend_brl{" in body and "pyloto_month_budget_brl " not in body
