"""LLM cost estimate from the configurable `LLM_PRICES` table (USD per 1M input/output tokens)."""

from decimal import Decimal

import structlog
from django.conf import settings

log = structlog.get_logger(__name__)

_PER_TOKENS = Decimal(1_000_000)
_COST_QUANTUM = Decimal("0.00000001")
# Models already reported as unpriced in this process: one log line each, not one per call.
_unpriced_logged: set[str] = set()


def price_for_model(model: str) -> tuple[Decimal, Decimal] | None:
    """(input, output) USD per 1M tokens; a dated snapshot (gpt-4o-mini-2024-07-18) uses its base price."""
    prices: dict = settings.LLM_PRICES
    entry = prices.get(model)
    if entry is None:
        # Longest base name first, so "gpt-4o-mini-…" is not priced as "gpt-4o".
        for name in sorted(prices, key=len, reverse=True):
            if model.startswith(f"{name}-"):
                entry = prices[name]
                break
    if entry is None:
        return None
    return Decimal(str(entry.get("input", 0))), Decimal(str(entry.get("output", 0)))


def estimate_cost(model: str, tokens_in: int, tokens_out: int) -> Decimal:
    """Estimated USD cost of one call; 0 for a model missing from the table (logged once per model)."""
    price = price_for_model(model)
    if price is None:
        if model not in _unpriced_logged:
            _unpriced_logged.add(model)
            log.warning("llm_model_unpriced", model=model)
        return Decimal(0)
    input_price, output_price = price
    cost = (Decimal(tokens_in) * input_price + Decimal(tokens_out) * output_price) / _PER_TOKENS
    return cost.quantize(_COST_QUANTUM)
