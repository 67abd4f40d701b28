"""Prompt variants side by side: the KPIs of each variant's conversations, and whether the numbers can tell.

A conversation belongs to the variant whose prompts made its (live) LLM calls; assignment is sticky
per contact, so that is one variant unless the shares changed mid-conversation (then it counts for
each). Shadow variants have no customer outcomes — their replies were never sent — so only their
calls, validity, tokens and cost are compared.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.db.models import Count, Q, Sum

from conversations.kpis import _sent_replies, response_time_from_sample
from conversations.models import Message, TransitionDecision
from conversations.states import State
from institutional.models import GuardViolation
from llm.models import LLMCall

BASE = ""
# Below this many conversations in either arm no comparison is stated: the numbers are too few to tell.
MIN_CONVERSATIONS_PER_ARM = 30
# Two-sided significance level of the escalation comparison (two-proportion z-test).
SIGNIFICANCE = 0.05


@dataclass(frozen=True)
class VariantFigures:
    """One arm of the comparison."""

    variant: str
    shadow: bool
    conversations: int
    calls: int
    invalid_calls: int
    tokens_in: int
    tokens_out: int
    estimated_cost_usd: Decimal
    escalated: int = 0
    decisions: int = 0
    decisions_ok: int = 0
    replies: int = 0
    guard_blocks: int = 0
    response_p50_seconds: float | None = None

    @property
    def label(self) -> str:
        return self.variant or "base"

    @property
    def escalation_rate(self) -> float | None:
        return self.escalated / self.conversations if self.conversations and not self.shadow else None

    @property
    def fsm_success_rate(self) -> float | None:
        return self.decisions_ok / self.decisions if self.decisions else None

    @property
    def guard_block_rate(self) -> float | None:
        return self.guard_blocks / self.replies if self.replies else None


@dataclass(frozen=True)
class VariantComparison:
    arms: list[VariantFigures]
    verdicts: list[str] = field(default_factory=list)

    @property
    def has_variants(self) -> bool:
        return any(arm.variant for arm in self.arms)


def variant_comparison(*, since: datetime, until: datetime) -> VariantComparison:
    """Every variant that made calls in the period (and the base prompts), with a plain verdict per variant."""
    calls = LLMCall.objects.filter(started_at__gte=since, started_at__lt=until, provider=LLMCall.Provider.OPENAI)
    arms = [
        _arm(calls, variant=row["variant"], shadow=row["shadow"], since=since, until=until)
        for row in calls.values("variant", "shadow").distinct().order_by("shadow", "variant")
    ]
    base = next((arm for arm in arms if arm.variant == BASE and not arm.shadow), None)
    verdicts = [_verdict(arm, base) for arm in arms if arm.variant]
    return VariantComparison(arms=arms, verdicts=verdicts)


def _arm(calls, *, variant: str, shadow: bool, since: datetime, until: datetime) -> VariantFigures:
    mine = calls.filter(variant=variant, shadow=shadow)
    usage = mine.aggregate(
        calls=Count("pk"),
        invalid=Count("pk", filter=~Q(outcome=LLMCall.Outcome.OK)),
        tokens_in=Sum("tokens_in"),
        tokens_out=Sum("tokens_out"),
        cost=Sum("estimated_cost"),
    )
    conversation_ids = set(mine.exclude(conversation_id=None).values_list("conversation_id", flat=True))
    figures = {
        "variant": variant,
        "shadow": shadow,
        "conversations": len(conversation_ids),
        "calls": usage["calls"],
        "invalid_calls": usage["invalid"],
        "tokens_in": usage["tokens_in"] or 0,
        "tokens_out": usage["tokens_out"] or 0,
        "estimated_cost_usd": Decimal(usage["cost"] or 0),
    }
    if shadow:
        return VariantFigures(**figures)
    run_keys = set(mine.exclude(run_key="").values_list("run_key", flat=True))
    decisions = TransitionDecision.objects.filter(
        conversation_id__in=conversation_ids,
        actor_kind=TransitionDecision.ActorKind.BOT,
        created_at__gte=since,
        created_at__lt=until,
    ).aggregate(
        total=Count("pk"),
        ok=Count(
            "pk", filter=Q(outcome__in=[TransitionDecision.Outcome.APPLIED, TransitionDecision.Outcome.UNCHANGED])
        ),
    )
    escalated = (
        TransitionDecision.objects.filter(
            conversation_id__in=conversation_ids,
            proposed_state=State.HANDOFF_REQUESTED,
            outcome=TransitionDecision.Outcome.APPLIED,
            created_at__gte=since,
            created_at__lt=until,
        )
        .values("conversation_id")
        .distinct()
        .count()
    )
    replies = Message.objects.filter(direction=Message.Direction.OUTBOUND, run_key__in=run_keys).count()
    blocks = GuardViolation.objects.filter(
        conversation_id__in=conversation_ids, created_at__gte=since, created_at__lt=until
    ).count()
    response = response_time_from_sample(_sent_replies(since=since, until=until).filter(run_key__in=run_keys))
    return VariantFigures(
        **figures,
        escalated=escalated,
        decisions=decisions["total"],
        decisions_ok=decisions["ok"],
        replies=replies,
        guard_blocks=blocks,
        response_p50_seconds=response.p50_seconds,
    )


def _verdict(arm: VariantFigures, base: VariantFigures | None) -> str:
    """One sentence a product person can act on, saying plainly when the numbers are too few."""
    if arm.shadow:
        return (
            f"Variante {arm.label} (sombra): {arm.calls} chamadas, {arm.invalid_calls} sem saída válida, "
            f"US$ {arm.estimated_cost_usd:.4f}. O cliente não viu estas respostas: não há escalonamento para comparar."
        )
    if base is None or base.conversations < MIN_CONVERSATIONS_PER_ARM or arm.conversations < MIN_CONVERSATIONS_PER_ARM:
        base_count = base.conversations if base else 0
        return (
            f"Poucos dados para concluir: a variante {arm.label} tem {arm.conversations} conversas e a base "
            f"{base_count}; são necessárias pelo menos {MIN_CONVERSATIONS_PER_ARM} em cada."
        )
    p_value = two_proportion_p_value(arm.escalated, arm.conversations, base.escalated, base.conversations)
    mine, theirs = arm.escalated / arm.conversations, base.escalated / base.conversations
    if p_value >= SIGNIFICANCE:
        return (
            f"Sem diferença clara no escalonamento: {arm.label} {mine:.1%} contra base {theirs:.1%} "
            f"(p = {p_value:.2f}; pode ser acaso)."
        )
    direction = "menos" if mine < theirs else "mais"
    return f"A variante {arm.label} escala {direction} que a base: {mine:.1%} contra {theirs:.1%} (p = {p_value:.3f})."


def two_proportion_p_value(hits_a: int, total_a: int, hits_b: int, total_b: int) -> float:
    """Two-sided p-value of the two-proportion z-test (pooled); 1.0 when it cannot be computed."""
    if not total_a or not total_b:
        return 1.0
    pooled = (hits_a + hits_b) / (total_a + total_b)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / total_a + 1 / total_b))
    if spread == 0:
        return 1.0
    z = abs(hits_a / total_a - hits_b / total_b) / spread
    return math.erfc(z / math.sqrt(2))
