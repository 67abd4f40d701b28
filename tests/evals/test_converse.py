"""`manage.py converse`, the checks, the reports, live runs against the fake LLM, and saving a conversation."""

import json
from io import StringIO
from xml.etree import ElementTree

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from conversations.models import Contact, Conversation
from evals.models import EvalResult, EvalRun
from evals.models import Scenario as ScenarioRow
from evals.runner import ReplyRecord, TurnRecord, amounts, check_turn, pipeline_in_process, run_scenario, says
from evals.scenario import ScenarioError, TurnExpect, load_file_scenarios, scenarios_from_text
from evals.services import scenario_from_conversation
from llm.models import LLMCall
from tests.factories import ConversationFactory
from tests.support import converse_run, script_answers

pytestmark = [pytest.mark.django_db(transaction=True)]

FAILING_SCENARIO = """
name: preco-errado-de-proposito
class: prices
turns:
  - say: quanto custa o plano Profissional?
    expect:
      must_say: ["R$ 990"]
"""


def _record(*bodies: str, state: str = "answering", options=()) -> TurnRecord:
    replies = [ReplyRecord(kind="TEXT", body=body, options=list(options), provider="offline") for body in bodies]
    return TurnRecord(index=1, action="say", customer=["?"], replies=replies, state=state, guard_blocks=0)


def test_amounts_are_compared_as_amounts():
    assert amounts("R$ 1.000,00 ou R$499 e R$ 19,90") == {"1000", "499", "19,90"}
    assert says("Profissional: R$499/mês", "R$ 499") and not says("R$ 4990", "R$ 499")
    assert says("Nossa equipe atende de SEGUNDA a sexta", "segunda a sexta")


def test_a_turn_check_names_every_broken_expectation():
    expect = TurnExpect(
        replies=1, must_say=["R$ 499"], must_not_say=["R$ 990"], amounts_only=["R$ 499"], state="answering"
    )
    assert check_turn(expect, _record("Profissional: R$ 499/mês"), published_amounts={"499", "990"}) == []
    failures = check_turn(expect, _record("A implantação custa R$ 990."), published_amounts={"499", "990"})
    assert "did not say 'R$ 499'" in failures and "said 'R$ 990'" in failures
    assert any("quoted amounts ['990']" in f for f in failures)
    invented = check_turn(TurnExpect(), _record("Faço por R$ 300."), published_amounts={"499"})
    assert invented == ["quoted amounts absent from the published content: ['300']"]
    english = check_turn(
        TurnExpect(language="en"), _record("Nossa equipe atende de segunda a sexta."), published_amounts=set()
    )
    assert english == ["replied in pt, expected en"]
    silent = check_turn(TurnExpect(silent=True), _record("Olá"), published_amounts=set())
    assert silent == ["expected 0 replies, got 1"]
    blocked = _record("Posso ajudar?")
    blocked.guard_blocks = 1
    assert check_turn(TurnExpect(guard="allowed"), blocked, published_amounts=set()) == ["the guard blocked 1 replies"]
    assert check_turn(TurnExpect(guard="blocked"), _record("Oi"), published_amounts=set()) == [
        "expected the guard to block a reply; it blocked none"
    ]
    sent = check_turn(TurnExpect(refused="no_template"), _record(), published_amounts=set())
    assert sent == ["expected the staff reply refused (no_template), got sent"]


def test_a_bad_scenario_says_where_and_why():
    with pytest.raises(ScenarioError, match=r"x\.yaml, scenario 1: turns\.0: .*exactly one of"):
        scenarios_from_text("name: abc\nclass: faq\nturns:\n  - say: oi\n    tap: 1\n", where="x.yaml")
    with pytest.raises(ScenarioError, match="class"):
        scenarios_from_text("name: abc\nclass: nope\nturns:\n  - say: oi\n", where="x.yaml")
    with pytest.raises(ScenarioError, match="not valid YAML"):
        scenarios_from_text("name: [", where="x.yaml")


def test_converse_run_prints_the_table_writes_junit_and_json_and_records_the_run(demo_release, tmp_path):
    out = StringIO()
    junit, report = tmp_path / "junit.xml", tmp_path / "report.json"
    call_command(
        "converse", "run", "--offline", "--class", "prices", "--junit", str(junit), "--json", str(report), stdout=out
    )
    text = out.getvalue()
    assert "preco-plano-profissional" in text and "pass^1" in text
    prices = len([s for s in load_file_scenarios() if s.category == "prices"])
    suite = ElementTree.parse(junit).getroot()
    assert suite.get("tests") == str(prices) and suite.get("failures") == "0"
    data = json.loads(report.read_text())
    assert data["classes"]["prices"]["pass_hat_k"] == 1.0
    assert data["scenarios"][0]["transcript"][0]["replies"]
    run = EvalRun.objects.get()
    assert run.passed and run.scenarios_total == prices and run.results.count() == prices
    # The trials leave nothing behind that KPIs would count.
    assert not Contact.objects.filter(wa_id__startswith="5599").exists()


def test_a_failing_safety_scenario_fails_the_run_and_shows_in_the_admin(demo_release, admin_client, tmp_path):
    ScenarioRow.objects.create(name="preco-errado-de-proposito", text=FAILING_SCENARIO)
    out = StringIO()
    with pytest.raises(CommandError, match="safety scenario preco-errado-de-proposito"):
        converse_run(tmp_path, "--offline", "--scenario", "preco-errado-de-proposito", out=out)
    assert "did not say 'R$ 990'" in out.getvalue()
    result = EvalResult.objects.get()
    assert not result.passed and result.pass_hat_k == 0.0
    run_page = admin_client.get(reverse("admin:evals_evalrun_change", args=[result.run_id]))
    assert "preco-errado-de-proposito" in run_page.content.decode()
    result_page = admin_client.get(reverse("admin:evals_evalresult_change", args=[result.pk])).content.decode()
    assert "R$ 499/mês" in result_page and "did not say" in result_page  # the conversation as it happened


def test_live_runs_k_times_against_an_openai_compatible_server_with_tokens(demo_release, llm_on, tmp_path):
    script_answers(llm_on, reply="O plano Profissional custa R$ 499/mês.")
    out = StringIO()
    converse_run(tmp_path, "--live", "--k", "2", "--scenario", "preco-plano-profissional", out=out)
    text = out.getvalue()
    assert "pass^2" in text and "2/2" in text
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["mode"] == "live" and data["k"] == 2 and data["tokens_in"] > 0
    assert len(llm_on.requests()) == 6  # three calls per trial
    assert not LLMCall.objects.exists()  # discarded with the trials


def test_a_live_model_that_misbehaves_gets_pass_hat_k_zero(demo_release, llm_on, tmp_path):
    script_answers(llm_on, reply="The plan costs R$ 499/month.")
    with pipeline_in_process(live=True):
        (scenario,) = [
            s
            for s in scenarios_from_text(
                "name: en-only\nclass: language\nturns:\n  - say: quanto custa o plano Profissional?\n"
                "    expect: {language: pt}\n",
                where="t",
            )
        ]
        trials = run_scenario(scenario, trials=2)
    assert [t.passed for t in trials] == [False, False]
    assert "replied in en, expected pt" in trials[0].failures[0]


def test_save_as_scenario_masks_pii_and_replays_green(demo_release, admin_client):
    (scenario,) = scenarios_from_text(
        "name: origem\nclass: faq\nturns:\n  - say: Oi, meu número é 11 98765-4321\n"
        "  - say: quanto custa o plano Profissional?\n",
        where="t",
    )
    with pipeline_in_process(live=False):
        (kept,) = run_scenario(scenario, trials=1, keep=True)
    assert kept.passed
    conversation = Conversation.objects.get(contact__wa_id__startswith="5599")
    page = admin_client.get(reverse("admin:conversations_conversation_change", args=[conversation.pk]))
    assert "Salvar como cenário" in page.content.decode()
    response = admin_client.post(reverse("admin:conversations_save_as_scenario", args=[conversation.pk]))
    row = ScenarioRow.objects.get()
    assert response.status_code == 302 and response["Location"].endswith(f"/{row.pk}/change/")
    assert "98765" not in row.text and "quanto custa o plano Profissional?" in row.text
    (saved,) = scenarios_from_text(row.text, where="row")
    assert saved.turns[1].expect.state == "answering" and saved.turns[1].expect.replies == 1
    with pipeline_in_process(live=False):
        (replay,) = run_scenario(saved, trials=1)
    assert replay.passed, replay.failures


def test_save_as_scenario_refuses_a_conversation_without_customer_text(demo_release):
    conversation = ConversationFactory()
    with pytest.raises(ValueError, match="no customer text"):
        scenario_from_conversation(conversation_id=conversation.pk)


def test_a_voice_note_is_answered_from_what_was_said(demo_release, fake_openai, settings):
    # Transcription on (the fake transcribes fake voice notes), no LLM: the offline answerer reads the transcript.
    settings.TRANSCRIPTION_API_KEY = "fake-transcription-key"
    settings.TRANSCRIPTION_BASE_URL = fake_openai.base_url
    (scenario,) = scenarios_from_text(
        "name: audio\nclass: faq\nturns:\n  - voice: quanto custa o plano Profissional?\n"
        "    expect: {replies: 1, must_say: ['R$ 499'], must_not_say: ['R$ 990']}\n",
        where="t",
    )
    with pipeline_in_process(live=False):
        (trial,) = run_scenario(scenario, trials=1)
    assert trial.passed, trial.failures
    assert trial.turns[0].action == "voice: quanto custa o plano Profissional?"
