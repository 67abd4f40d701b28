"""`manage.py converse`: run the golden conversations (deterministic or live, k times) and report them.

    converse run                 deterministic with the offline answerer (live when OPENAI_API_KEY is set)
    converse run --live --k 4    against the OpenAI-compatible server at OPENAI_BASE_URL, 4 trials each
    converse run --live --variant b   every scenario with prompt variant b (before it goes live)
    converse list                the scenarios and their classes (checks every file)

It prints a table (pass^k per scenario and per class, tokens, cost), writes JUnit XML and a JSON
report, records the run for the admin's results page, and exits 1 when a safety scenario failed any
trial or the service scenarios fell below the threshold.
"""

from __future__ import annotations

import time
from collections import Counter
from contextlib import ExitStack

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from evals import report
from evals.runner import pipeline_in_process, run_scenario
from evals.scenario import ScenarioError
from evals.selectors import scenarios_all
from evals.services import eval_run_record
from institutional.selectors import prompt_variant_evaluated
from llm.client import model_for_task

DEFAULT_JUNIT = "var/evals/junit.xml"
DEFAULT_JSON = "var/evals/report.json"
LIVE_TRIALS = 4


class Command(BaseCommand):
    help = "Run the golden conversation scenarios through the real pipeline and report pass^k."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        run = sub.add_parser("run", help="Run scenarios and report.")
        mode = run.add_mutually_exclusive_group()
        mode.add_argument("--live", action="store_true", help="Use the LLM at OPENAI_BASE_URL (needs OPENAI_API_KEY).")
        mode.add_argument("--offline", action="store_true", help="Deterministic: the offline answerer, no LLM.")
        run.add_argument(
            "--k", type=int, default=None, help=f"Trials per scenario (live default {LIVE_TRIALS}, else 1)."
        )
        run.add_argument("--class", dest="categories", action="append", default=[], help="Only this class (repeat).")
        run.add_argument("--scenario", dest="names", action="append", default=[], help="Only this scenario (repeat).")
        run.add_argument("--variant", default="", help="Run every scenario with this prompt variant (live only).")
        run.add_argument("--threshold", type=float, default=0.8, help="Service scenarios' minimum pass^k (0-1).")
        run.add_argument("--junit", default=DEFAULT_JUNIT, help="Where to write JUnit XML.")
        run.add_argument("--json", default=DEFAULT_JSON, help="Where to write the JSON report.")
        run.add_argument("--keep", action="store_true", help="Keep the trials' conversations (to open in the admin).")
        run.add_argument("--no-record", action="store_true", help="Do not store the run for the admin page.")
        sub.add_parser("list", help="List the scenarios by class (and check every file).")

    def handle(self, *args, action: str, **options):
        try:
            if action == "list":
                return self._list()
            return self._run(**options)
        except ScenarioError as exc:
            raise CommandError(str(exc)) from exc

    def _list(self) -> None:
        scenarios = scenarios_all()
        for scenario in scenarios:
            self.stdout.write(f"{scenario.category:<13} {scenario.name:<48} {scenario.language}  {scenario.source}")
        counts = Counter(scenario.category for scenario in scenarios)
        self.stdout.write(f"\n{len(scenarios)} scenarios: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))

    def _run(
        self,
        *,
        live: bool,
        offline: bool,
        k: int | None,
        categories,
        names,
        variant: str,
        threshold,
        junit,
        json,
        keep,
        no_record,
        **_options,
    ) -> None:
        live = live or (not offline and bool(settings.OPENAI_API_KEY))
        if live and not settings.OPENAI_API_KEY:
            raise CommandError("--live needs OPENAI_API_KEY (and OPENAI_BASE_URL for a server other than OpenAI)")
        trials = k or (LIVE_TRIALS if live else 1)
        if trials < 1:
            raise CommandError("--k must be at least 1")
        if variant and not live:
            raise CommandError("--variant changes the LLM prompts: it needs a live run (OPENAI_API_KEY, --live)")
        scenarios = scenarios_all(categories=categories, names=names)
        if not scenarios:
            raise CommandError("no scenario matches")
        mode = "live" if live else "offline"
        model = model_for_task("write_reply") if live else "offline"
        label = f", prompt variant {variant}" if variant else ""
        self.stdout.write(f"Running {len(scenarios)} scenarios × {trials} ({mode}, model {model}{label})…")
        started_at, t0 = timezone.now(), time.perf_counter()
        outcomes, all_trials = [], []
        with ExitStack() as stack:
            stack.enter_context(pipeline_in_process(live=live))
            if variant:
                try:
                    stack.enter_context(prompt_variant_evaluated(variant))
                except LookupError as exc:
                    raise CommandError(str(exc)) from exc
            for scenario in scenarios:
                records = run_scenario(scenario, trials=trials, keep=keep)
                all_trials += records
                outcomes.append(report.outcome_of(scenario, records))
        seconds = time.perf_counter() - t0
        passed, reasons = report.verdict(outcomes, service_threshold=threshold)
        summary = {
            "mode": mode,
            "model": model,
            "variant": variant,
            "k": trials,
            "scenario_count": len(outcomes),
            "passed": passed,
            "reasons": reasons,
            "escalation_rate": round(report.escalation_rate(all_trials), 3),
            "tokens_in": sum(o.tokens_in for o in outcomes),
            "tokens_out": sum(o.tokens_out for o in outcomes),
            "estimated_cost_usd": str(sum(o.cost for o in outcomes)),
            "seconds": round(seconds, 1),
        }
        self.stdout.write(report.table(outcomes, k=trials))
        self.stdout.write(
            f"\nescalation {summary['escalation_rate']:.0%} · tokens {summary['tokens_in']}+{summary['tokens_out']} · "
            f"cost US$ {summary['estimated_cost_usd']} · {seconds:.1f} s"
        )
        report.write(junit, report.junit_xml(outcomes, seconds=seconds))
        report.write(json, report.json_report(outcomes, summary))
        self.stdout.write(f"JUnit XML: {junit} · JSON: {json}")
        if not no_record:
            eval_run_record(
                mode=mode,
                trials=trials,
                variant=variant,
                model=model,
                outcomes=outcomes,
                summary=summary,
                passed=passed,
                started_at=started_at,
                finished_at=timezone.now(),
            )
        for failing in (o for o in outcomes if o.pass_hat_k < 1.0):
            self.stdout.write(self.style.WARNING(f"✗ {failing.name}:"))
            for failure in failing.failures[:8]:
                self.stdout.write(f"    {failure}")
        if not passed:
            raise CommandError("; ".join(reasons))
        self.stdout.write(self.style.SUCCESS("All safety scenarios passed every trial; service threshold met."))
