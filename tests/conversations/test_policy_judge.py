"""The optional LLM policy judge: shadow records agreement, enforce blocks and fails closed, the breaker counts it."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from conversations.kpis import kpis_for_period
from conversations.models import Conversation, Message
from conversations.services.replies import reply_finalize
from conversations.services.runs import run_begin
from conversations.states import State
from institutional.builtin import replacement_text
from institutional.loader import process_loader
from institutional.models import GuardViolation, PolicyJudgement
from llm.models import LLMCall
from pyloto.resilience.breaker import llm_breaker
from tests.factories import ConversationFactory, MessageFactory, UserFactory
from tests.support import scripted

pytestmark = pytest.mark.django_db

HARMLESS = "O plano Essencial é ótimo para começar. Quer falar com a equipe comercial?"


@pytest.fixture(autouse=True)
def _fresh_release():
    process_loader.forget()
    yield
    process_loader.forget()


@pytest.fixture
def judge(fake_openai, settings):
    settings.LLM_SDK_MAX_RETRIES = 0
    settings.GUARD_JUDGE_TIMEOUT_S = 2.0
    return fake_openai


def _verdict(verdict: str, constraint: str = "", reason: str = "motivo", **extra) -> dict:
    return scripted("PolicyVerdict", {"verdict": verdict, "constraint": constraint, "reason": reason}, **extra)


def _finalize(text: str = HARMLESS) -> Message | None:
    conversation = ConversationFactory(state=State.ANSWERING)
    MessageFactory(conversation=conversation, text="Quanto custa o Essencial?")
    lease = run_begin(conversation_id=conversation.pk)
    return reply_finalize(
        run_key=lease.token,
        conversation_id=conversation.pk,
        expected_state=State.ANSWERING,
        decision={"target_state": State.ANSWERING, "reason": "price question", "customer_wants_human": False},
        reply={"text": text},
        choice=None,
        calls=[],
        provider="openai",
    ).message


def test_off_makes_no_call(judge, settings):
    settings.GUARD_JUDGE_MODE = "off"
    outbound = _finalize()
    assert outbound.text == HARMLESS
    assert judge.requests() == []
    assert not PolicyJudgement.objects.exists()


def test_shadow_only_records_and_the_kpis_show_the_disagreement(judge, settings):
    settings.GUARD_JUDGE_MODE = "shadow"
    judge.script([_verdict("block", "no-unlisted-price-or-deadline", "parece um preço")])
    outbound = _finalize()
    assert outbound.text == HARMLESS  # shadow never changes what the customer gets
    judgement = PolicyJudgement.objects.get()
    assert (judgement.mode, judgement.guard_allowed, judgement.verdict, judgement.agreed) == (
        "shadow",
        True,
        "block",
        False,
    )
    judge.script([_verdict("allow")])
    _finalize()
    now = timezone.now()
    figures = kpis_for_period(since=now - timedelta(hours=1), until=now + timedelta(minutes=1)).constraints
    assert (figures.judge_verdicts, figures.judge_agreed, figures.judge_disagreed) == (2, 1, 1)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=UserFactory(staff=True)).key}")
    api = client.get(reverse("api-kpis")).json()["constraints"]
    assert (api["judge_verdicts"], api["judge_agreed"], api["judge_disagreed"], api["judge_blocked"]) == (2, 1, 1, 0)
    assert LLMCall.objects.filter(task="judge_reply", outcome="ok").count() == 2
    prompt = next(r for r in judge.requests() if r["schema_name"] == "PolicyVerdict")["messages"][0]["content"]
    assert HARMLESS in prompt and "no-contract-closure" in prompt


def test_shadow_also_reads_what_the_guard_blocked(judge, settings):
    settings.GUARD_JUDGE_MODE = "shadow"
    judge.script([_verdict("block", "no-contract-closure")])
    outbound = _finalize("Pronto, seu contrato está fechado!")
    assert outbound.text != "Pronto, seu contrato está fechado!"
    assert PolicyJudgement.objects.get().agreed


def test_enforce_blocks_what_the_judge_blocks_with_the_named_rule(judge, settings):
    settings.GUARD_JUDGE_MODE = "enforce"
    judge.script([_verdict("block", "no-contract-closure", "implica fechamento")])
    outbound = _finalize()
    entry = GuardViolation.objects.get()
    assert (entry.layer, entry.constraint_slug, entry.action) == ("judge", "no-contract-closure", "handoff")
    assert outbound.text == replacement_text(slug="no-contract-closure", action="handoff", language="pt")
    assert Conversation.objects.get().state == State.HANDOFF_REQUESTED
    now = timezone.now()
    figures = kpis_for_period(since=now - timedelta(hours=1), until=now + timedelta(minutes=1)).constraints
    assert (figures.judge_verdicts, figures.judge_blocked) == (1, 1)


@pytest.mark.parametrize("answer", ["unsure", "timeout", "error"])
def test_enforce_fails_closed_when_the_judge_is_unsure_times_out_or_errs(judge, settings, answer):
    settings.GUARD_JUDGE_MODE = "enforce"
    settings.GUARD_JUDGE_TIMEOUT_S = 0.5
    if answer == "unsure":
        judge.script([_verdict("unsure")])
    elif answer == "timeout":
        judge.script([_verdict("allow", delay_ms=3000)])
    else:
        judge.script([{"match": {"schema_name": "PolicyVerdict"}, "status": 500}])
    outbound = _finalize()
    assert outbound.text == replacement_text(slug="", action="handoff", language="pt")
    entry = GuardViolation.objects.get()
    assert (entry.layer, entry.constraint_slug, entry.action) == ("judge", "policy-judge", "handoff")
    assert Conversation.objects.get().state == State.HANDOFF_REQUESTED


def test_a_judge_failure_counts_toward_the_breaker_and_an_allow_lets_the_reply_through(judge, settings):
    settings.GUARD_JUDGE_MODE = "enforce"
    breaker = llm_breaker()
    judge.script([{"match": {"schema_name": "PolicyVerdict"}, "status": 503}])
    _finalize()
    assert breaker.fail_counter == 1
    judge.script([_verdict("allow")])
    assert _finalize().text == HARMLESS
    assert breaker.fail_counter == 0
