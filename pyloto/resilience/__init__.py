"""Resilience primitives shared by every worker through Redis: the LLM circuit breaker and per-contact rate limits."""
