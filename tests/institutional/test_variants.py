"""Prompt variants: sticky traffic shares, recorded on every call, shadow runs, the comparison, promotion, eval."""

import json
from decimal import Decimal
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from conversations.models import Message
from conversations.variant_kpis import VariantFigures, _verdict, two_proportion_p_value, variant_comparison
from evals.models import EvalRun
from evals.runner import pipeline_in_process, run_scenario
from evals.scenario import scenarios_from_text
from institutional import selectors, services
from institutional.models import PromptTemplate, PromptVariant
from institutional.snapshot import PromptTemplate as Template
from institutional.snapshot import PromptVariantEntry, ReleaseSnapshot
from llm.models import LLMCall
from tests.support import converse_run, script_answers

MARKER = "VARIANTE-B: responda em no máximo uma frase."
BASE_TEXT = "$context\n$current_state\n$next_state\n$history\n$messages"
SCENARIO = "name: variante\nclass: prices\nturns:\n  - say: quanto custa o plano Profissional?\n"


def _release(*variants: PromptVariantEntry) -> ReleaseSnapshot:
    from institutional.builtin import builtin_snapshot

    base = builtin_snapshot()
    return ReleaseSnapshot(
        number=9,
        profile=base.profile,
        faqs=(),
        policies=(),
        constraints=(),
        templates=base.templates,
        variants=variants,
    ).with_hash()


def _variant(name: str, *, mode: str, share: int) -> PromptVariantEntry:
    return PromptVariantEntry(
        name=name,
        mode=mode,
        traffic_percent=share,
        templates={"write_reply": Template(name="write_reply", version=f"v@{name}", text=MARKER + BASE_TEXT)},
    )


def test_live_shares_are_sticky_per_contact_and_respected():
    release = _release(_variant("b", mode="live", share=30), _variant("s", mode="shadow", share=100))
    assigned = [release.live_variant_for(str(contact)) for contact in range(2000)]
    share = sum(variant is not None for variant in assigned) / len(assigned)
    assert 0.25 < share < 0.35
    assert all(release.live_variant_for(str(c)) == assigned[c] for c in range(0, 2000, 97))  # sticky
    assert all(variant is None or variant.name == "b" for variant in assigned)  # shadow never serves
    assert [v.name for v in release.shadow_variants_for("run-1")] == ["s"]
    merged = release.templates_for(release.variant("b"))
    assert merged["write_reply"].text.startswith(MARKER) and merged["decide_state"] == release.templates["decide_state"]
    again = ReleaseSnapshot.from_content(number=9, content=release.content())
    assert again.variants == release.variants and again.content_hash == release.content_hash


@pytest.mark.django_db
def test_a_variant_is_validated_like_a_prompt_and_live_shares_cannot_pass_100():
    PromptVariant.objects.create(name="a1", mode="live", traffic_percent=70, version="1", write_reply_text=BASE_TEXT)
    bad = PromptVariant(name="b", mode="live", traffic_percent=40, version="1", write_reply_text="$unknown")
    with pytest.raises(ValidationError) as error:
        bad.full_clean()
    assert "traffic_percent" in error.value.message_dict and "write_reply_text" in error.value.message_dict
    with pytest.raises(ValidationError, match="pelo menos um"):
        PromptVariant(name="c", version="1").full_clean()


def _script_llm(fake, *, variant_reply: str = "Profissional: R$ 499/mês (variante).") -> None:
    # The variant's write_reply prompt carries MARKER: its replies differ from the base prompts'.
    marked = {"match": {"schema_name": "ReplyDraft", "contains": "VARIANTE-B"}, "response": {"text": variant_reply}}
    script_answers(fake, reply="O plano Profissional custa R$ 499/mês.", first=[{**marked, "repeat": True}])


def _publish_variant(*, mode: str, share: int) -> None:
    PromptVariant.objects.create(
        name="b", mode=mode, traffic_percent=share, version="2026-12-b", write_reply_text=MARKER + BASE_TEXT
    )
    services.release_publish(user=None, note=f"variante b {mode}")


@pytest.mark.django_db(transaction=True)
def test_a_live_variant_serves_its_share_and_every_call_records_it(
    demo_release, llm_on, django_capture_on_commit_callbacks
):
    _script_llm(llm_on)
    _publish_variant(mode="live", share=100)
    (scenario,) = scenarios_from_text(SCENARIO, where="t")
    with pipeline_in_process(live=True):
        (trial,) = run_scenario(scenario, trials=1, keep=True)
    assert trial.turns[0].replies[0].body == "Profissional: R$ 499/mês (variante)."
    calls = LLMCall.objects.all()
    assert calls.count() == 3 and set(calls.values_list("variant", flat=True)) == {"b"}
    assert {c.prompt_version for c in calls if c.task == "write_reply"} == {"2026-12-b@b+b1"}
    reply = Message.objects.get(direction="out")
    assert LLMCall.objects.filter(run_key=reply.run_key, variant="b").exists()  # the reply's variant, by its run
    comparison = variant_comparison(since=timezone.now() - timezone.timedelta(hours=1), until=timezone.now())
    (arm,) = comparison.arms
    assert arm.variant == "b" and arm.conversations == 1 and arm.replies == 1
    assert comparison.verdicts[0].startswith("Poucos dados para concluir")


@pytest.mark.django_db(transaction=True)
def test_a_shadow_variant_runs_on_the_same_inputs_and_the_customer_sees_only_the_live_reply(demo_release, llm_on):
    _script_llm(llm_on)
    _publish_variant(mode="shadow", share=100)
    (scenario,) = scenarios_from_text(SCENARIO, where="t")
    with pipeline_in_process(live=True):
        (trial,) = run_scenario(scenario, trials=1, keep=True)
    assert [r.body for r in trial.turns[0].replies] == ["O plano Profissional custa R$ 499/mês."]
    shadow = LLMCall.objects.filter(shadow=True)
    assert shadow.count() == 3 and set(shadow.values_list("variant", flat=True)) == {"b"}
    live = LLMCall.objects.filter(shadow=False)
    assert live.count() == 3 and set(live.values_list("variant", flat=True)) == {""}
    assert set(shadow.values_list("run_key", flat=True)) == set(live.values_list("run_key", flat=True))
    user_prompts = [r for r in llm_on.requests() if r["schema_name"] == "StateDecision"]
    assert user_prompts[0]["messages"] == user_prompts[1]["messages"]  # same inputs
    comparison = variant_comparison(since=timezone.now() - timezone.timedelta(hours=1), until=timezone.now())
    assert [(a.variant, a.shadow) for a in comparison.arms] == [("", False), ("b", True)]
    assert "sombra" in comparison.verdicts[0]


def test_the_verdict_says_when_a_difference_is_real():
    def arm(name, escalated, conversations):
        return VariantFigures(
            variant=name,
            shadow=False,
            conversations=conversations,
            calls=0,
            invalid_calls=0,
            tokens_in=0,
            tokens_out=0,
            estimated_cost_usd=Decimal(0),
            escalated=escalated,
        )

    assert two_proportion_p_value(10, 200, 40, 200) < 0.001
    assert "escala menos" in _verdict(arm("b", 10, 200), arm("", 40, 200))
    assert "Sem diferença clara" in _verdict(arm("b", 19, 200), arm("", 21, 200))
    assert "Poucos dados" in _verdict(arm("b", 1, 12), arm("", 40, 200))


@pytest.mark.django_db(transaction=True)
def test_the_kpis_page_compares_variants_side_by_side(demo_release, llm_on, admin_client):
    _script_llm(llm_on)
    _publish_variant(mode="live", share=100)
    (scenario,) = scenarios_from_text(SCENARIO, where="t")
    with pipeline_in_process(live=True):
        run_scenario(scenario, trials=1, keep=True)
    page = admin_client.get(reverse("admin:conversations_kpis")).content.decode()
    assert "Variantes de prompt" in page and "Poucos dados para concluir" in page


@pytest.mark.django_db(transaction=True)
def test_make_eval_with_a_variant_runs_it_before_it_goes_live(demo_release, llm_on, tmp_path):
    _script_llm(llm_on, variant_reply="Só a variante responde assim: R$ 499/mês.")
    PromptVariant.objects.create(
        name="b", mode="off", traffic_percent=0, version="3", write_reply_text=MARKER + BASE_TEXT
    )
    out = StringIO()
    converse_run(tmp_path, "--live", "--k", "1", "--variant", "b", "--scenario", "preco-plano-profissional", out=out)
    assert "prompt variant b" in out.getvalue()
    data = json.loads((tmp_path / "r.json").read_text())
    assert "Só a variante" in data["scenarios"][0]["transcript"][0]["replies"][0]["body"]
    assert EvalRun.objects.get().variant == "b"
    with pytest.raises(CommandError, match="needs a live run"):
        call_command("converse", "run", "--offline", "--variant", "b", stdout=StringIO())
    with pytest.raises(CommandError, match="no prompt variant named 'zz'"):
        converse_run(tmp_path, "--live", "--variant", "zz", "--scenario", "preco-plano-profissional")


@pytest.mark.django_db(transaction=True)
def test_promoting_a_variant_makes_its_prompts_the_base_after_publish(demo_release, admin_client):
    variant = PromptVariant.objects.create(
        name="b", mode="live", traffic_percent=50, version="2026-12-b", write_reply_text=MARKER + BASE_TEXT
    )
    response = admin_client.post(
        reverse("admin:institutional_promptvariant_changelist"),
        {"action": "promote", "_selected_action": [variant.pk]},
    )
    assert response.status_code == 302
    variant.refresh_from_db()
    assert not variant.is_active and variant.mode == "off"
    assert PromptTemplate.objects.get(name="write_reply").text.startswith(MARKER)
    services.release_publish(user=None, note="promove b")
    live = selectors.current_release()
    assert live.templates["write_reply"].text.startswith(MARKER) and live.variants == ()
