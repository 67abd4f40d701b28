"""The Redis client the resilience primitives share, one per process and Redis URL."""

from __future__ import annotations

from functools import lru_cache

import redis
from django.conf import settings

# A stalled Redis must not stall an LLM call or the webhook: each primitive fails open on RedisError.
_SOCKET_TIMEOUT_S = 2.0


def resilience_redis() -> redis.Redis:
    """Return the process's client for `settings.REDIS_URL` (bytes replies, as pybreaker's storage expects)."""
    return _client_for(settings.REDIS_URL)


@lru_cache(maxsize=4)
def _client_for(url: str) -> redis.Redis:
    return redis.Redis.from_url(
        url,
        decode_responses=False,
        socket_timeout=_SOCKET_TIMEOUT_S,
        socket_connect_timeout=_SOCKET_TIMEOUT_S,
    )
