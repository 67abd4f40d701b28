"""Tests of the pipeline orchestration."""
