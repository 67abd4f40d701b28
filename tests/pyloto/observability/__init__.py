"""Tests of the observability package: masking, logs, correlation ids, metrics, Sentry, alerts."""
