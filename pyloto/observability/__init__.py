"""Observability: structured logs, correlation ids, PII masking, Prometheus metrics and Sentry."""
