"""LLM-call accounting: one row per structured call (or fallback), with tokens, latency, outcome and cost."""

from django.db import models


class LLMCall(models.Model):
    """One LLM task execution as the pipeline saw it, including failures and offline fallbacks."""

    class Outcome(models.TextChoices):
        OK = "ok", "OK"
        INVALID_OUTPUT = "invalid_output", "Invalid output"
        TRANSIENT_ERROR = "transient_error", "Transient error"
        PERMANENT_ERROR = "permanent_error", "Permanent error"
        FALLBACK = "fallback", "Fallback"
        CIRCUIT_OPEN = "circuit_open", "Circuit open"

    class Provider(models.TextChoices):
        OPENAI = "openai", "OpenAI-compatible"
        OFFLINE = "offline", "Offline"

    task = models.CharField(max_length=64, db_index=True)
    model = models.CharField(max_length=128, blank=True, default="")
    prompt_version = models.CharField(max_length=64, blank=True, default="")
    release_number = models.PositiveIntegerField(null=True, blank=True)
    provider = models.CharField(max_length=16, choices=Provider.choices, default=Provider.OPENAI)
    outcome = models.CharField(max_length=24, choices=Outcome.choices, db_index=True)
    error = models.TextField(blank=True, default="")
    tokens_in = models.PositiveIntegerField(default=0)
    tokens_out = models.PositiveIntegerField(default=0)
    latency_ms = models.PositiveIntegerField(default=0)
    estimated_cost = models.DecimalField(max_digits=14, decimal_places=8, default=0, help_text="USD")
    started_at = models.DateTimeField(db_index=True)
    finished_at = models.DateTimeField()
    correlation_id = models.CharField(max_length=64, blank=True, default="", db_index=True)
    conversation = models.ForeignKey(
        "conversations.Conversation",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="llm_calls",
    )
    # The pipeline's per-run id: groups the three task calls of one run.
    run_key = models.CharField(max_length=128, blank=True, default="", db_index=True)
    # The prompt variant that made the call ("" = the base prompts) and whether it ran in shadow
    # (recorded for comparison only; the customer never saw its reply).
    variant = models.CharField(max_length=40, blank=True, default="", db_index=True)
    shadow = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "LLM call"
        verbose_name_plural = "LLM calls"
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"{self.task} {self.outcome} ({self.model or self.provider})"
