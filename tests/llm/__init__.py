"""Tests for the LLM app: client, accounting and the fake OpenAI server."""
