"""Reads of the evals app: the scenarios to run (files plus admin rows), recent runs and failing results."""

from __future__ import annotations

from django.db.models import QuerySet

from evals.models import EvalResult, EvalRun
from evals.models import Scenario as ScenarioRow
from evals.scenario import Scenario, ScenarioError, check_unique_names, load_file_scenarios, scenarios_from_text


def scenarios_all(*, categories: list[str] | None = None, names: list[str] | None = None) -> list[Scenario]:
    """The repository's scenarios and the active admin ones, filtered by class or name when given."""
    scenarios = load_file_scenarios()
    for row in ScenarioRow.objects.filter(is_active=True).order_by("name"):
        try:
            scenarios += scenarios_from_text(row.text, where=f"admin:{row.name}")
        except ScenarioError as exc:
            raise ScenarioError(f"{exc} (edit it in the admin)") from exc
    check_unique_names(scenarios)
    if categories:
        scenarios = [s for s in scenarios if s.category in categories]
    if names:
        unknown = sorted(set(names) - {s.name for s in scenarios})
        if unknown:
            raise ScenarioError(f"no scenario named {', '.join(unknown)}")
        scenarios = [s for s in scenarios if s.name in names]
    return scenarios


def eval_runs_recent(*, limit: int = 20) -> QuerySet[EvalRun]:
    return EvalRun.objects.order_by("-started_at", "-pk")[:limit]


def eval_results_failing(*, run: EvalRun) -> QuerySet[EvalResult]:
    return run.results.filter(passed=False).order_by("category", "scenario")
