"""Tests of the Redis-backed circuit breaker and per-contact rate limit."""
