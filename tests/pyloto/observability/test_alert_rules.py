"""The Prometheus alert rules are valid and behave as their unit tests say (promtool, as in CI)."""

import subprocess
from pathlib import Path

import yaml

RULES_DIR = Path(__file__).resolve().parents[3] / "ops" / "prometheus"
ROLLBACK_TRIGGERS = {
    "PylotoErrorRateHigh",
    "PylotoLatencyP99High",
    "PylotoMessageUnansweredPastBudget",
    "PylotoMessageLossRateHigh",
    "PylotoConstraintViolationSent",
}


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=RULES_DIR, capture_output=True, text=True, timeout=60, check=False)


def test_rules_file_is_valid(promtool):
    result = _run(promtool, "check", "rules", "alerts.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 16 rules found" in result.stdout


def test_rule_unit_tests_pass(promtool):
    result = _run(promtool, "test", "rules", "alerts_test.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_rollback_trigger_is_a_critical_rule_with_a_runbook_entry_and_a_test():
    rules = yaml.safe_load((RULES_DIR / "alerts.yml").read_text())
    alerts = {rule["alert"]: rule for group in rules["groups"] for rule in group["rules"]}
    assert set(alerts) >= ROLLBACK_TRIGGERS
    for name in ROLLBACK_TRIGGERS:
        assert alerts[name]["labels"] == {"severity": "critical", "rollback": "true"}
    tested = {
        case["alertname"]
        for test in yaml.safe_load((RULES_DIR / "alerts_test.yml").read_text())["tests"]
        for case in test.get("alert_rule_test", [])
    }
    assert tested == set(alerts), set(alerts) - tested
    runbook = (RULES_DIR.parents[1] / "docs" / "operations" / "runbook.md").read_text().lower()
    for name, rule in alerts.items():
        anchor = rule["annotations"]["runbook_url"].split("#", 1)[1]
        assert f"### {name.lower()}" in runbook, f"{name} has no runbook entry"
        assert anchor == name.lower()


def test_a_broken_rule_is_rejected(promtool, tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text("groups:\n  - name: x\n    rules:\n      - alert: Bad\n        expr: sum(rate(x[5m]) > \n")
    result = subprocess.run(
        [promtool, "check", "rules", str(broken)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode != 0
