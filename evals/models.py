"""Scenarios edited in the admin (besides the repository's files) and the results of every run."""

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _


class Scenario(models.Model):
    """A golden conversation kept in the database: written in the admin or saved from a real conversation."""

    name = models.SlugField(_("nome"), max_length=80, unique=True)
    text = models.TextField(
        _("cenário (YAML)"), help_text=_("O mesmo formato dos arquivos em evals/scenarios/ (veja docs/evals.md).")
    )
    is_active = models.BooleanField(_("ativo"), default=True, help_text=_("Desmarque para tirar das execuções."))
    origin_conversation_id = models.IntegerField(_("conversa de origem"), null=True, blank=True)
    created_at = models.DateTimeField(_("criado em"), auto_now_add=True)
    updated_at = models.DateTimeField(_("atualizado em"), auto_now=True)

    class Meta:
        verbose_name = _("cenário")
        verbose_name_plural = _("cenários")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        from evals.scenario import ScenarioError, scenarios_from_text

        try:
            parsed = scenarios_from_text(self.text or "", where=self.name or "cenário")
        except ScenarioError as exc:
            raise ValidationError({"text": str(exc)}) from exc
        if len(parsed) != 1:
            raise ValidationError({"text": _("Um cenário por registro.")})
        if parsed[0].name != self.name:
            raise ValidationError({"name": _("O nome deve ser igual ao campo name do YAML.")})


class EvalRun(models.Model):
    """One execution of the suite (deterministic or live), with its totals."""

    class Mode(models.TextChoices):
        OFFLINE = "offline", _("determinístico (sem LLM)")
        LIVE = "live", _("LLM ao vivo")

    mode = models.CharField(_("modo"), max_length=16, choices=Mode.choices)
    trials = models.PositiveIntegerField(_("repetições (k)"), default=1)
    variant = models.CharField(_("variante de prompt"), max_length=40, blank=True, default="")
    model = models.CharField(_("modelo"), max_length=128, blank=True, default="")
    scenarios_total = models.PositiveIntegerField(_("cenários"), default=0)
    scenarios_passed = models.PositiveIntegerField(_("cenários aprovados"), default=0)
    passed = models.BooleanField(_("aprovada"), default=False)
    summary = models.JSONField(_("resumo"), default=dict, blank=True)
    tokens_in = models.PositiveIntegerField(default=0)
    tokens_out = models.PositiveIntegerField(default=0)
    estimated_cost = models.DecimalField(_("custo estimado (USD)"), max_digits=14, decimal_places=8, default=0)
    started_at = models.DateTimeField(_("início"))
    finished_at = models.DateTimeField(_("fim"))

    class Meta:
        verbose_name = _("execução de cenários")
        verbose_name_plural = _("execuções de cenários")
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        score = f"{self.scenarios_passed}/{self.scenarios_total}"
        return f"{self.get_mode_display()} {self.started_at:%Y-%m-%d %H:%M} ({score})"


class EvalResult(models.Model):
    """One scenario in one run: its k trials, pass^k, what failed and the conversation that happened."""

    run = models.ForeignKey(EvalRun, on_delete=models.CASCADE, related_name="results", verbose_name=_("execução"))
    scenario = models.CharField(_("cenário"), max_length=80, db_index=True)
    category = models.CharField(_("classe"), max_length=32, db_index=True)
    safety = models.BooleanField(_("segurança"), default=False)
    trials = models.PositiveIntegerField(_("repetições"))
    passes = models.PositiveIntegerField(_("aprovadas"))
    pass_hat_k = models.FloatField(_("pass^k"))
    passed = models.BooleanField(_("aprovado"))
    failures = models.JSONField(_("falhas"), default=list, blank=True)
    transcript = models.JSONField(_("conversa"), default=list, blank=True)
    tokens_in = models.PositiveIntegerField(default=0)
    tokens_out = models.PositiveIntegerField(default=0)
    estimated_cost = models.DecimalField(_("custo estimado (USD)"), max_digits=14, decimal_places=8, default=0)

    class Meta:
        verbose_name = _("resultado de cenário")
        verbose_name_plural = _("resultados de cenários")
        ordering = ["run", "category", "scenario"]

    def __str__(self) -> str:
        return f"{self.scenario}: {self.passes}/{self.trials}"
