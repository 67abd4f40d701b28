"""Shared fixtures: a clean Redis database per test and common factories."""

import pytest
import redis
from django.conf import settings

pytest_plugins = ["tests.fakes.graph_fixtures", "tests.fakes.openai_server", "tests.pipeline_fixtures"]


@pytest.fixture(autouse=True)
def _clean_redis():
    """Each test starts with an empty Redis test database (cache, broker queues, breaker state)."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.flushdb()
    yield
    client.flushdb()
