"""LLM-call accounting: one row per structured call (or fallback), with tokens, latency, outcome and cost."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class LLMCall(models.Model):
    """One LLM task execution as the pipeline saw it, including failures and offline fallbacks."""

    class Outcome(models.TextChoices):
        OK = "ok", _("OK")
        INVALID_OUTPUT = "invalid_output", _("Saída inválida")
        TRANSIENT_ERROR = "transient_error", _("Erro temporário")
        PERMANENT_ERROR = "permanent_error", _("Erro permanente")
        FALLBACK = "fallback", _("Resposta sem LLM")
        CIRCUIT_OPEN = "circuit_open", _("Disjuntor aberto")

    class Provider(models.TextChoices):
        OPENAI = "openai", _("LLM (compatível com OpenAI)")
        OFFLINE = "offline", _("Sem LLM (FAQ)")

    task = models.CharField(max_length=64, db_index=True, verbose_name=_("tarefa"))
    model = models.CharField(max_length=128, blank=True, default="", verbose_name=_("modelo"))
    prompt_version = models.CharField(max_length=64, blank=True, default="", verbose_name=_("versão do prompt"))
    release_number = models.PositiveIntegerField(null=True, blank=True, verbose_name=_("número do release"))
    provider = models.CharField(
        max_length=16, choices=Provider.choices, default=Provider.OPENAI, verbose_name=_("escrita por")
    )
    outcome = models.CharField(max_length=24, choices=Outcome.choices, db_index=True, verbose_name=_("resultado"))
    error = models.TextField(blank=True, default="", verbose_name=_("erro"))
    tokens_in = models.PositiveIntegerField(default=0, verbose_name=_("tokens de entrada"))
    tokens_out = models.PositiveIntegerField(default=0, verbose_name=_("tokens de saída"))
    latency_ms = models.PositiveIntegerField(default=0, verbose_name=_("latência (ms)"))
    estimated_cost = models.DecimalField(
        max_digits=14, decimal_places=8, default=0, help_text="USD", verbose_name=_("custo estimado (USD)")
    )
    started_at = models.DateTimeField(db_index=True, verbose_name=_("iniciada em"))
    finished_at = models.DateTimeField(verbose_name=_("terminada em"))
    correlation_id = models.CharField(
        max_length=64, blank=True, default="", db_index=True, verbose_name=_("ID de correlação")
    )
    conversation = models.ForeignKey(
        "conversations.Conversation",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="llm_calls",
        verbose_name=_("conversa"),
    )
    # The pipeline's per-run id: groups the three task calls of one run.
    run_key = models.CharField(max_length=128, blank=True, default="", db_index=True, verbose_name=_("execução"))
    # The prompt variant that made the call ("" = the base prompts) and whether it ran in shadow
    # (recorded for comparison only; the customer never saw its reply).
    variant = models.CharField(max_length=40, blank=True, default="", db_index=True, verbose_name=_("variante"))
    shadow = models.BooleanField(default=False, verbose_name=_("sombra"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("criado em"))

    class Meta:
        verbose_name = _("chamada ao LLM")
        verbose_name_plural = _("chamadas ao LLM")
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"{self.task} {self.outcome} ({self.model or self.provider})"
