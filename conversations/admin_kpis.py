"""The admin's KPIs page: the KPI report for the last 24 h, 7 d and 30 d, each figure beside its target."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from conversations.kpis import (
    CONTRACT_CONSTRAINT_SLUG,
    BudgetFigures,
    KPIReport,
    kpi_checks,
    kpis_for_period,
    loss_horizon,
    month_spend,
)
from conversations.variant_kpis import variant_comparison

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

PERIODS: tuple[tuple[str, timedelta], ...] = (
    ("24 h", timedelta(hours=24)),
    ("7 d", timedelta(days=7)),
    ("30 d", timedelta(days=30)),
)
# Prompt variants are compared over one period, long enough for an experiment to gather conversations.
VARIANT_PERIOD = timedelta(days=7)


@dataclass(frozen=True)
class Cell:
    text: str
    # "ok" (target met), "bad" (missed), "" (no target, or no data in the period)
    status: str = ""


@dataclass(frozen=True)
class Row:
    label: StrOrPromise
    cells: list[Cell]
    target: str = ""
    help: str = ""
    # A breakdown of the row above it (shown indented).
    sub: bool = False


def _format(value: float | int | Decimal | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "ratio":
        return f"{float(value) * 100:.1f} %"
    if unit == "seconds":
        return f"{float(value):.2f} s"
    if unit == "usd":
        return f"US$ {float(value):.4f}"
    if unit == "brl":
        return f"R$ {float(value):.4f}".replace(".", ",")
    if unit == "decimal":
        return f"{float(value):.2f}".replace(".", ",")
    return f"{int(value):,}".replace(",", " ")


def _figure(
    label: StrOrPromise,
    reports: list[KPIReport],
    read: Callable[[KPIReport], float | int | Decimal | None],
    unit: str = "count",
    *,
    help: str = "",
    sub: bool = False,
) -> Row:
    return Row(label=label, cells=[Cell(_format(read(report), unit)) for report in reports], help=help, sub=sub)


def target_rows(reports: list[KPIReport]) -> list[Row]:
    """One row per KPI with a target; each cell is green when met, red when missed."""
    checks = [kpi_checks(report) for report in reports]
    rows = []
    for index, first in enumerate(checks[0]):
        cells = []
        for per_report in checks:
            check = per_report[index]
            status = "" if check.met is None else ("ok" if check.met else "bad")
            cells.append(Cell(_format(check.value, check.unit), status))
        rows.append(Row(label=str(first.label), cells=cells, target=first.target))
    return rows


def _breakdown(
    reports: list[KPIReport], counts: Callable[[KPIReport], dict[str, int]], label: StrOrPromise = "{}"
) -> list[Row]:
    """One indented row per key seen in any period (0 where a period has none)."""
    keys = sorted({key for report in reports for key in counts(report)})
    return [
        Row(
            label=label.format(key),
            cells=[Cell(_format(counts(report).get(key, 0), "count")) for report in reports],
            sub=True,
        )
        for key in keys
    ]


def figure_rows(reports: list[KPIReport]) -> list[tuple[StrOrPromise, list[Row]]]:
    """The figures behind the KPIs, grouped in sections, without targets."""
    return [
        (
            _("Mensagens recebidas"),
            [
                _figure(_("Recebidas"), reports, lambda r: r.inbound.received),
                _figure(_("Respondidas"), reports, lambda r: r.inbound.answered),
                _figure(_("Passadas para uma pessoa"), reports, lambda r: r.inbound.handed_off),
                _figure(_("Descartadas pela política"), reports, lambda r: r.inbound.dropped),
                *_breakdown(reports, lambda r: r.inbound.dropped_by_reason),
                _figure(_("Na fila de falhas"), reports, lambda r: r.inbound.dead_lettered),
                _figure(_("Ainda abertas (sendo respondidas)"), reports, lambda r: r.inbound.open),
            ],
        ),
        (
            _("Conversas e máquina de estados"),
            [
                _figure(_("Conversas ativas"), reports, lambda r: r.escalation.conversations_active),
                _figure(
                    _("Conversas que chegaram a “Aguardando uma pessoa”"),
                    reports,
                    lambda r: r.escalation.conversations_escalated,
                ),
                _figure(_("Decisões de estado do assistente"), reports, lambda r: r.fsm.total),
                _figure(_("recusadas pela máquina de estados"), reports, lambda r: r.fsm.refused, sub=True),
            ],
        ),
        (
            _("Restrições (guarda de saída)"),
            [
                _figure(_("Violações bloqueadas"), reports, lambda r: r.constraints.blocked),
                *_breakdown(reports, lambda r: r.constraints.blocked_by_constraint),
                _figure(
                    _("Tentativas de fechar contrato bloqueadas"),
                    reports,
                    lambda r: r.constraints.contract_closure_blocked,
                    help=_("Violações da restrição interna %(slug)s.") % {"slug": CONTRACT_CONSTRAINT_SLUG},
                ),
                _figure(
                    _("Veredictos do juiz de política"),
                    reports,
                    lambda r: r.constraints.judge_verdicts,
                    help=str(_("Respostas lidas pelo juiz de política (GUARD_JUDGE_MODE shadow ou enforce).")),
                ),
                _figure(_("de acordo com o guarda"), reports, lambda r: r.constraints.judge_agreed, sub=True),
                _figure(_("em desacordo com o guarda"), reports, lambda r: r.constraints.judge_disagreed, sub=True),
                _figure(
                    _("bloqueadas pelo juiz"),
                    reports,
                    lambda r: r.constraints.judge_blocked,
                    help=str(_("Respostas que o juiz bloqueou ou passou para uma pessoa (modo enforce).")),
                    sub=True,
                ),
            ],
        ),
        (
            _("Respostas e LLM"),
            [
                _figure(_("Respostas"), reports, lambda r: r.replies.total),
                *_breakdown(reports, lambda r: r.replies.by_provider, _("escritas por {}")),
                _figure(
                    _("Parcela sem LLM (respostas pelo FAQ)"), reports, lambda r: r.replies.fallback_share, "ratio"
                ),
                _figure(_("Respostas que falharam no envio"), reports, lambda r: r.replies.failed),
                _figure(_("Respostas medidas no tempo de resposta"), reports, lambda r: r.response_time.replies),
                _figure(_("Chamadas ao LLM"), reports, lambda r: r.llm.calls),
                *_breakdown(reports, lambda r: r.llm.by_outcome, _("resultado {}")),
                _figure(_("Tokens de entrada"), reports, lambda r: r.llm.tokens_in),
                _figure(_("Tokens de saída"), reports, lambda r: r.llm.tokens_out),
                _figure(_("Custo estimado"), reports, lambda r: r.llm.estimated_cost_usd, "usd"),
            ],
        ),
        (
            "Custo do WhatsApp (estimado) e mensagens por turno",
            [
                _figure(
                    "Mensagens cobradas",
                    reports,
                    lambda r: r.whatsapp.billable_messages,
                    help="Mensagens que um status do WhatsApp informou como cobradas (objeto pricing).",
                ),
                *_breakdown(reports, lambda r: r.whatsapp.by_category, "categoria {}"),
                _figure("Custo do WhatsApp (R$)", reports, lambda r: r.whatsapp.cost_by_currency.get("BRL"), "brl"),
                _figure("Custo do WhatsApp (US$)", reports, lambda r: r.whatsapp.cost_by_currency.get("USD"), "usd"),
                _figure("Conversas com mensagens cobradas", reports, lambda r: r.whatsapp.conversations),
                _figure(
                    "Custo do WhatsApp por conversa (R$)",
                    reports,
                    lambda r: r.whatsapp.cost_per_conversation("BRL"),
                    "brl",
                ),
                _figure(
                    "Custo do LLM por conversa (US$)",
                    reports,
                    lambda r: r.whatsapp.llm_cost_usd_per_conversation,
                    "usd",
                ),
                _figure(
                    "Mensagens do assistente por turno",
                    reports,
                    lambda r: r.whatsapp.messages_per_turn,
                    "decimal",
                    help="Cada mensagem é cobrada: o assistente envia uma mensagem por turno (1,00).",
                ),
            ],
        ),
    ]


def budget_rows(figures: BudgetFigures) -> dict[str, object]:
    """This month's spend beside the budget, as the KPIs page shows it (BRL, pt-BR number format)."""
    ratio = figures.used_ratio
    status = "" if ratio is None else ("bad" if ratio >= 1 else ("warn" if ratio >= 0.8 else "ok"))
    return {
        "month": figures.since.strftime("%m/%Y"),
        "rows": [
            (_("WhatsApp (estimado)"), _brl(figures.whatsapp_brl)),
            (_("LLM (estimado)"), _brl(figures.llm_brl)),
            (_("Total do mês"), _brl(figures.spent_brl)),
            (_("Orçamento mensal"), _brl(figures.budget_brl) if figures.budget_brl else _("sem orçamento definido")),
        ],
        "used": "—" if ratio is None else f"{ratio * 100:.1f} %".replace(".", ","),
        "status": status,
        "usd_to_brl": f"{figures.usd_to_brl:.2f}".replace(".", ","),
    }


def _brl(value: Decimal | None) -> str:
    """R$ 1.234,56 — two decimals, as a budget reads."""
    if value is None:
        return "—"
    return "R$ " + f"{float(value):,.2f}".replace(",", " ").replace(".", ",").replace(" ", ".")


class KPIAdminMixin:
    """Adds `kpis/` to a ModelAdmin's URLs: the KPIs page, for any active staff member (`admin_view`)."""

    admin_site: object

    def get_urls(self) -> list:
        custom = [
            path("kpis/", self.admin_site.admin_view(self.kpis_view), name="conversations_kpis"),  # type: ignore[attr-defined]
        ]
        # Before the defaults: their "<path:object_id>/" would otherwise take "kpis/".
        return custom + super().get_urls()  # type: ignore[misc]

    def kpis_view(self, request: HttpRequest) -> TemplateResponse:
        now = timezone.now()
        reports = [kpis_for_period(since=now - length, until=now, now=now) for _, length in PERIODS]
        context = {
            **self.admin_site.each_context(request),  # type: ignore[attr-defined]
            "title": _("Indicadores"),
            "opts": self.model._meta,  # type: ignore[attr-defined]
            "periods": [label for label, _ in PERIODS],
            "target_rows": target_rows(reports),
            "sections": figure_rows(reports),
            "generated_at": now,
            "loss_horizon_minutes": int(loss_horizon().total_seconds() // 60),
            "variants": variant_comparison(since=now - VARIANT_PERIOD, until=now),
            "budget": budget_rows(month_spend(now=now)),
        }
        return TemplateResponse(request, "admin/conversations/kpis.html", context)
