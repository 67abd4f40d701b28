"""Per-contact rate limit: a sliding window in Redis, shared by every worker, with one polite notice per window.

Each admitted message is a member of the contact's sorted set, scored by its time in milliseconds.
One Lua script drops the members older than the window, counts the rest and admits or refuses
the message, so concurrent workers can never admit more than the limit. Refused messages are not
stored: a contact who keeps writing is admitted again as soon as old messages leave the window.

The first refused message gets `notify=True` (answer it with one polite notice); the script then
records until when the contact has been told, and every other refusal within one window length is
dropped silently.

Time comes from Redis's clock, the same for every worker; `now` overrides it (tests, replays).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from functools import lru_cache

import redis
import structlog
from django.conf import settings
from redis.commands.core import Script

from pyloto.resilience.store import resilience_redis

log = structlog.get_logger(__name__)

REASON_WITHIN_LIMIT = "within_limit"
REASON_RATE_LIMITED = "rate_limited"
# Fail open: a missing limiter must not drop customers' messages.
REASON_LIMITER_UNAVAILABLE = "limiter_unavailable"
# Embedded mode has no Redis and a single local user.
REASON_LIMITER_DISABLED = "limiter_disabled"

# KEYS[1]: sorted set of admitted messages; KEYS[2]: until when (ms) the contact has been told.
# ARGV: now in ms ('' = Redis's clock), window in ms, limit, a unique member for this message.
# Returns {allowed, notify, retry_after_ms}.
_SLIDING_WINDOW = """
local now = tonumber(ARGV[1])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[3]) then
  redis.call('ZADD', KEYS[1], now, ARGV[4])
  redis.call('PEXPIRE', KEYS[1], window)
  return {1, 0, 0}
end
local retry_after = window
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if oldest[2] then
  retry_after = tonumber(oldest[2]) + window - now
end
local told_until = tonumber(redis.call('GET', KEYS[2]) or '0')
if told_until > now then
  return {0, 0, retry_after}
end
redis.call('SET', KEYS[2], now + window, 'PX', window)
return {0, 1, retry_after}
"""


@dataclass(frozen=True)
class RateDecision:
    """Whether to process a contact's message, and whether to send the one polite notice."""

    allowed: bool
    notify: bool
    reason: str
    # Until the oldest admitted message leaves the window; 0 when allowed.
    retry_after_s: float = 0.0


def contact_rate_check(*, contact_id: int, now: float | None = None) -> RateDecision:
    """Count one inbound message of `contact_id` against its window and decide (atomic across workers)."""
    if settings.EMBEDDED:
        return RateDecision(allowed=True, notify=False, reason=REASON_LIMITER_DISABLED)
    client = resilience_redis()
    now_ms = "" if now is None else int(now * 1000)
    window_ms = max(1, int(settings.CONTACT_RATE_LIMIT_WINDOW_S * 1000))
    limit = settings.CONTACT_RATE_LIMIT_MESSAGES
    try:
        allowed, notify, retry_after_ms = _script(client)(
            keys=_keys(contact_id), args=[now_ms, window_ms, limit, uuid.uuid4().hex]
        )
    except redis.RedisError as exc:
        log.warning("contact_rate_limit_unavailable", contact_id=contact_id, error=str(exc))
        return RateDecision(allowed=True, notify=False, reason=REASON_LIMITER_UNAVAILABLE)
    if allowed:
        return RateDecision(allowed=True, notify=False, reason=REASON_WITHIN_LIMIT)
    log.info("contact_rate_limited", contact_id=contact_id, notify=bool(notify), retry_after_ms=retry_after_ms)
    return RateDecision(
        allowed=False, notify=bool(notify), reason=REASON_RATE_LIMITED, retry_after_s=retry_after_ms / 1000
    )


def contact_rate_reset(*, contact_id: int) -> None:
    """Forget a contact's window and notice (admin action, tests)."""
    resilience_redis().delete(*_keys(contact_id))


def _keys(contact_id: int) -> list[str]:
    return [f"pyloto:rate:contact:{contact_id}", f"pyloto:rate:contact:{contact_id}:told_until"]


@lru_cache(maxsize=4)
def _script(client: redis.Redis) -> Script:
    # register_script keeps the SHA and reloads the script if Redis has lost it (restart, failover).
    return client.register_script(_SLIDING_WINDOW)
