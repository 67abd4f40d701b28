"""Fixtures for the LLM tests: the fake OpenAI server fixture, re-exported until the root conftest loads it."""

from tests.fakes.openai_server import fake_openai  # noqa: F401
