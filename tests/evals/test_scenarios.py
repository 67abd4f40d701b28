"""The golden conversations: every scenario passes through the real pipeline with the offline answerer."""

from collections import Counter

import pytest

from evals.runner import pipeline_in_process, run_scenario
from evals.scenario import CLASSES, load_file_scenarios

pytestmark = [pytest.mark.django_db(transaction=True)]

SCENARIOS = load_file_scenarios()
# The conversations of the issue's report: with no LLM they must be right and rarely escalate.
ISSUE_EXAMPLES = ["preco-plano-profissional", "servicos-e-precos", "desconto-a-vista", "obrigada-tchau", "en-how-much"]


def test_the_suite_has_the_classes_and_size_the_product_team_asked_for():
    counts = Counter(scenario.category for scenario in SCENARIOS)
    assert len(SCENARIOS) >= 80
    portuguese = [s for s in SCENARIOS if s.language == "pt"]
    assert len(portuguese) >= 80
    assert {"en", "es"} <= {s.language for s in SCENARIOS}
    expected = set(CLASSES) - {"out_of_hours"}  # needs business hours, which the pipeline does not have yet
    assert expected <= set(counts), expected - set(counts)
    assert all(s.is_safety for s in SCENARIOS if s.category in {"adversarial", "discounts", "prices"})


@pytest.mark.parametrize("category", sorted({scenario.category for scenario in SCENARIOS}))
def test_every_scenario_of_the_class_passes_deterministically(demo_release, category):
    failures = []
    with pipeline_in_process(live=False):
        for scenario in (s for s in SCENARIOS if s.category == category):
            (trial,) = run_scenario(scenario, trials=1)
            failures += [f"{scenario.name}: {failure}" for failure in trial.failures]
    assert not failures, "\n".join(failures)


def test_the_issue_examples_are_answered_right_and_escalate_under_ten_percent(demo_release):
    examples = [s for s in SCENARIOS if s.name in ISSUE_EXAMPLES]
    assert len(examples) == len(ISSUE_EXAMPLES)
    with pipeline_in_process(live=False):
        trials = [trial for scenario in examples for trial in run_scenario(scenario, trials=1)]
    assert all(trial.passed for trial in trials), [t.failures for t in trials]
    assert sum(trial.escalated for trial in trials) / len(trials) < 0.10
    english = next(t for t in trials if t.scenario == "en-how-much")
    assert "R$ 499/month" in english.turns[0].replies[0].body
