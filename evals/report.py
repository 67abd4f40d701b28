"""Turn trial records into outcomes, class figures, a printed table, JUnit XML and a JSON report."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

from evals.runner import TrialRecord
from evals.scenario import Scenario
from evals.services import ScenarioOutcome


def outcome_of(scenario: Scenario, trials: list[TrialRecord]) -> ScenarioOutcome:
    """One scenario's figures; the transcript shown is the first failing trial's (else the first)."""
    shown = next((trial for trial in trials if not trial.passed), trials[0])
    failures = [f"trial {trial.trial}: {failure}" for trial in trials for failure in trial.failures]
    return ScenarioOutcome(
        name=scenario.name,
        category=scenario.category,
        safety=scenario.is_safety,
        trials=len(trials),
        passes=sum(trial.passed for trial in trials),
        failures=failures,
        transcript=shown.transcript(),
        tokens_in=sum(trial.tokens_in for trial in trials),
        tokens_out=sum(trial.tokens_out for trial in trials),
        cost=sum((trial.cost for trial in trials), Decimal(0)),
    )


def class_summary(outcomes: list[ScenarioOutcome]) -> dict[str, dict[str, Any]]:
    """Per class: scenarios, those passing every trial, and pass^k (the share of scenarios that did)."""
    by_class: dict[str, list[ScenarioOutcome]] = defaultdict(list)
    for outcome in outcomes:
        by_class[outcome.category].append(outcome)
    return {
        category: {
            "scenarios": len(items),
            "passed": sum(item.pass_hat_k == 1.0 for item in items),
            "pass_hat_k": round(sum(item.pass_hat_k for item in items) / len(items), 3),
            "pass_rate": round(sum(item.pass_rate for item in items) / len(items), 3),
            "safety": any(item.safety for item in items),
        }
        for category, items in sorted(by_class.items())
    }


def verdict(outcomes: list[ScenarioOutcome], *, service_threshold: float) -> tuple[bool, list[str]]:
    """Safety scenarios must pass every trial; service scenarios, together, at least `service_threshold`."""
    reasons = [f"safety scenario {o.name} pass^k={o.pass_hat_k:.2f}" for o in outcomes if o.safety and o.pass_hat_k < 1]
    service = [o for o in outcomes if not o.safety]
    if service:
        share = sum(o.pass_hat_k for o in service) / len(service)
        if share < service_threshold:
            reasons.append(f"service scenarios pass^k {share:.2f} < threshold {service_threshold:.2f}")
    return not reasons, reasons


def escalation_rate(trials: list[TrialRecord]) -> float:
    return sum(trial.escalated for trial in trials) / len(trials) if trials else 0.0


def table(outcomes: list[ScenarioOutcome], *, k: int) -> str:
    """The per-scenario and per-class table `converse run` prints."""
    width = max([len(o.name) for o in outcomes] + [8])
    lines = [f"{'scenario':<{width}}  {'class':<13} {'safety':<6} {'passes':>7} {'pass^' + str(k):>7} {'tokens':>8}"]
    for o in outcomes:
        mark = "" if o.pass_hat_k == 1.0 else "  ✗"
        lines.append(
            f"{o.name:<{width}}  {o.category:<13} {'yes' if o.safety else '':<6} {o.passes:>3}/{o.trials:<3} "
            f"{o.pass_hat_k:>7.2f} {o.tokens_in + o.tokens_out:>8}{mark}"
        )
    lines.append("")
    lines.append(f"{'class':<13} {'scenarios':>9} {'passed':>7} {'pass^' + str(k):>7} {'pass@1':>7}")
    for category, figures in class_summary(outcomes).items():
        lines.append(
            f"{category:<13} {figures['scenarios']:>9} {figures['passed']:>7} {figures['pass_hat_k']:>7.2f} "
            f"{figures['pass_rate']:>7.2f}"
        )
    return "\n".join(lines)


def junit_xml(outcomes: list[ScenarioOutcome], *, seconds: float) -> str:
    """One testcase per scenario (classname = its class), failed unless every trial passed."""
    failed = sum(o.pass_hat_k < 1.0 for o in outcomes)
    suite = ET.Element(
        "testsuite", name="pyloto-scenarios", tests=str(len(outcomes)), failures=str(failed), time=f"{seconds:.3f}"
    )
    for o in outcomes:
        case = ET.SubElement(suite, "testcase", classname=f"scenarios.{o.category}", name=o.name)
        if o.pass_hat_k < 1.0:
            failure = ET.SubElement(case, "failure", message=f"{o.passes}/{o.trials} trials passed")
            failure.text = "\n".join(o.failures)
    return ET.tostring(suite, encoding="unicode", xml_declaration=True)


def json_report(outcomes: list[ScenarioOutcome], summary: dict[str, Any]) -> str:
    return json.dumps(
        {
            **summary,
            "classes": class_summary(outcomes),
            "scenarios": [
                {
                    "name": o.name,
                    "class": o.category,
                    "safety": o.safety,
                    "trials": o.trials,
                    "passes": o.passes,
                    "pass_hat_k": o.pass_hat_k,
                    "tokens_in": o.tokens_in,
                    "tokens_out": o.tokens_out,
                    "estimated_cost_usd": str(o.cost),
                    "failures": o.failures,
                    "transcript": o.transcript,
                }
                for o in outcomes
            ],
        },
        ensure_ascii=False,
        indent=2,
        default=str,
    )


def write(path: str, text: str) -> None:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
