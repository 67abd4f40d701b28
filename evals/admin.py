"""Admin for golden conversations: edit scenarios, see the last runs, the failing scenarios and what happened."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from evals.models import EvalResult, EvalRun, Scenario


@admin.register(Scenario)
class ScenarioAdmin(admin.ModelAdmin):
    list_display = ("name", "is_active", "origin", "updated_at")
    list_filter = ("is_active",)
    search_fields = ("name", "text")
    fields = ("name", "text", "is_active", "origin_conversation_id")
    readonly_fields = ("origin_conversation_id",)

    @admin.display(description=_("conversa de origem"))
    def origin(self, scenario: Scenario) -> str:
        if scenario.origin_conversation_id is None:
            return "—"
        url = reverse("admin:conversations_conversation_change", args=[scenario.origin_conversation_id])
        return format_html('<a href="{}">#{}</a>', url, scenario.origin_conversation_id)


class _ReadOnly(admin.ModelAdmin):
    """Results are records of what happened: nobody adds or edits them by hand."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class FailingResultInline(admin.TabularInline):
    model = EvalResult
    verbose_name = _("cenário que falhou")
    verbose_name_plural = _("cenários que falharam")
    fields = ("result_link", "category", "safety", "passes", "trials", "pass_hat_k", "first_failure")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[EvalResult]:
        return super().get_queryset(request).filter(passed=False)

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.display(description=_("cenário"))
    def result_link(self, result: EvalResult) -> str:
        url = reverse("admin:evals_evalresult_change", args=[result.pk])
        return format_html('<a href="{}">{}</a>', url, result.scenario)

    @admin.display(description=_("primeira falha"))
    def first_failure(self, result: EvalResult) -> str:
        return result.failures[0] if result.failures else ""


@admin.register(EvalRun)
class EvalRunAdmin(_ReadOnly):
    list_display = ("started_at", "mode", "trials", "variant", "model", "score", "passed", "escalation", "cost")
    list_filter = ("mode", "passed", "variant")
    inlines = (FailingResultInline,)
    fields = (
        "started_at",
        "finished_at",
        "mode",
        "trials",
        "variant",
        "model",
        "score",
        "passed",
        "escalation",
        "tokens_in",
        "tokens_out",
        "estimated_cost",
        "classes",
    )
    readonly_fields = fields

    @admin.display(description=_("cenários aprovados"))
    def score(self, run: EvalRun) -> str:
        return f"{run.scenarios_passed}/{run.scenarios_total}"

    @admin.display(description=_("escalonamento"))
    def escalation(self, run: EvalRun) -> str:
        rate = run.summary.get("escalation_rate")
        return "—" if rate is None else f"{rate:.0%}"

    @admin.display(description=_("custo (USD)"))
    def cost(self, run: EvalRun) -> str:
        return f"{run.estimated_cost:.4f}"

    @admin.display(description=_("por classe"))
    def classes(self, run: EvalRun) -> str:
        return render_to_string(
            "evals/admin/classes.html", {"classes": run.summary.get("classes", {}), "k": run.trials}
        )


@admin.register(EvalResult)
class EvalResultAdmin(_ReadOnly):
    list_display = ("scenario", "category", "safety", "passes", "trials", "pass_hat_k", "passed", "run")
    list_filter = ("passed", "safety", "category", "run")
    search_fields = ("scenario",)
    fields = ("run", "scenario", "category", "safety", "passes", "trials", "pass_hat_k", "failure_list", "conversation")
    readonly_fields = fields

    @admin.display(description=_("falhas"))
    def failure_list(self, result: EvalResult) -> str:
        return render_to_string("evals/admin/failures.html", {"failures": result.failures})

    @admin.display(description=_("a conversa que aconteceu"))
    def conversation(self, result: EvalResult) -> str:
        return render_to_string("evals/admin/transcript.html", {"turns": result.transcript})
