"""Send pacing: one token bucket per business number and one per recipient, in Redis, shared by every worker.

WhatsApp limits throughput per business number (about 80 messages/s; error 130429 past it) and per
business–customer pair (roughly one message every 6 s with short bursts; error 131056), counted when
a request arrives. A send first asks whether its recipient is free (without reserving) and waits
until it is; then it takes the number's next slot (near: a fraction of a second under load) and the
recipient's slot for the moment it will really go, so no slot is held by a send that goes late and
one customer's pair limit never holds up the number's other sends.
A send over the limit waits its turn instead of failing. The buckets are GCRA (generic cell rate
algorithm) counters — one "theoretical arrival time" per bucket — updated by a Lua script, so
concurrent workers never hand out the same slot. A slot further away than `max_wait_s` is not
reserved: the caller re-queues the send for then. WhatsApp's own 130429/131056 answers push the
bucket back (`pacing_penalize`), so every worker slows down, not only the one that was refused.

Time comes from Redis's clock, the same for every worker; `now` overrides it (tests). Redis being
unreachable fails open (the send goes at once; WhatsApp's refusal then backs it off).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache

import redis
import structlog
from django.conf import settings
from redis.commands.core import Script

from pyloto.resilience.store import resilience_redis

log = structlog.get_logger(__name__)

# KEYS[1]: a bucket's TAT key. ARGV: now ms ('' = Redis TIME), its interval and tolerance in ms, the
# longest wait (ms) worth reserving (negative: only tell the wait, reserve nothing), and how far after
# now (ms) the send will be made. Returns {reserved, wait_ms} with the wait counted from that moment.
_RESERVE = """
local now = tonumber(ARGV[1])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
end
now = now + tonumber(ARGV[5])
local interval = tonumber(ARGV[2])
local tolerance = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local at = tat - tolerance
if at < now then at = now end
local wait = at - now
if wait > tonumber(ARGV[4]) or tonumber(ARGV[4]) < 0 then
  return {0, tostring(wait)}
end
local new_tat = tat + interval
redis.call('SET', KEYS[1], tostring(new_tat), 'PX', math.ceil(new_tat - now) + 1000)
return {1, tostring(wait)}
"""

# KEYS[1]: a TAT key. ARGV: now ms ('' = Redis TIME), the pause in ms, the bucket's tolerance in ms.
# Nothing is sent on it before now + pause (the burst's tolerance is spent too).
_PENALIZE = """
local now = tonumber(ARGV[1])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
end
local until_ms = now + tonumber(ARGV[2]) + tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if until_ms > tat then
  redis.call('SET', KEYS[1], tostring(until_ms), 'PX', math.ceil(until_ms - now) + 1000)
end
return 1
"""


class SendPaced(Exception):
    """The next free slot is further away than a task should wait: send again in `wait_s` seconds."""

    def __init__(self, wait_s: float) -> None:
        super().__init__(f"next pacing slot in {wait_s:.1f} s")
        self.wait_s = wait_s


@dataclass(frozen=True)
class PacingSlot:
    """`reserved`: the send may go after `wait_s`; otherwise nothing was reserved and it should come back then."""

    reserved: bool
    wait_s: float


@dataclass(frozen=True)
class BucketShape:
    """A token bucket as GCRA sees it: one send per `interval_s`, up to `burst` at once."""

    interval_s: float
    burst: int

    @property
    def tolerance_s(self) -> float:
        return self.interval_s * (max(self.burst, 1) - 1)


def number_bucket() -> BucketShape:
    return BucketShape(interval_s=1.0 / settings.WHATSAPP_NUMBER_RATE_PER_S, burst=settings.WHATSAPP_NUMBER_BURST)


def pair_bucket() -> BucketShape:
    return BucketShape(interval_s=settings.WHATSAPP_PAIR_INTERVAL_S, burst=settings.WHATSAPP_PAIR_BURST)


def _number_key(phone_number_id: str) -> str:
    return f"pyloto:pace:number:{phone_number_id}"


def _pair_key(phone_number_id: str, recipient: str) -> str:
    # A digest, so a customer's phone number is never a Redis key in clear.
    digest = hashlib.sha256(recipient.encode()).hexdigest()[:24]
    return f"pyloto:pace:pair:{phone_number_id}:{digest}"


def pacing_reserve_pair(
    *,
    phone_number_id: str,
    recipient: str,
    after_s: float = 0.0,
    max_wait_s: float | None = None,
    now: float | None = None,
) -> PacingSlot:
    """Reserve the recipient's next slot (the pair limit) for a send `after_s` from now (when it will really go)."""
    return _reserve(
        _pair_key(phone_number_id, recipient), pair_bucket(), after_s=after_s, max_wait_s=max_wait_s, now=now
    )


def pacing_reserve_number(
    *, phone_number_id: str, max_wait_s: float | None = None, now: float | None = None
) -> PacingSlot:
    """Reserve the business number's next slot; taken right before the send, so it is always near."""
    return _reserve(_number_key(phone_number_id), number_bucket(), after_s=0.0, max_wait_s=max_wait_s, now=now)


def _reserve(
    key: str, bucket: BucketShape, *, after_s: float, max_wait_s: float | None, now: float | None
) -> PacingSlot:
    if settings.EMBEDDED:
        return PacingSlot(reserved=True, wait_s=0.0)
    max_wait = settings.WHATSAPP_PACING_MAX_WAIT_S if max_wait_s is None else max_wait_s
    args = [
        "" if now is None else now * 1000,
        bucket.interval_s * 1000,
        bucket.tolerance_s * 1000,
        max_wait * 1000,
        after_s * 1000,
    ]
    try:
        reserved, wait_ms = _script(resilience_redis(), _RESERVE)(keys=[key], args=args)
    except redis.RedisError as exc:
        log.warning("send_pacing_unavailable", error=str(exc))
        return PacingSlot(reserved=True, wait_s=0.0)
    return PacingSlot(reserved=bool(reserved), wait_s=max(float(wait_ms), 0.0) / 1000)


def pacing_penalize(*, phone_number_id: str, recipient: str | None, pause_s: float, now: float | None = None) -> None:
    """WhatsApp refused for pacing: no send on the number (or, given a recipient, to that pair) before `pause_s`."""
    if settings.EMBEDDED:
        return
    key = _pair_key(phone_number_id, recipient) if recipient else _number_key(phone_number_id)
    tolerance_s = (pair_bucket() if recipient else number_bucket()).tolerance_s
    args = ["" if now is None else now * 1000, pause_s * 1000, tolerance_s * 1000]
    try:
        _script(resilience_redis(), _PENALIZE)(keys=[key], args=args)
    except redis.RedisError as exc:
        log.warning("send_pacing_unavailable", error=str(exc))


def pacing_reset(*, phone_number_id: str, recipient: str) -> None:
    """Forget both buckets (tests, an operator after a configuration change)."""
    resilience_redis().delete(_number_key(phone_number_id), _pair_key(phone_number_id, recipient))


@lru_cache(maxsize=8)
def _script(client: redis.Redis, source: str) -> Script:
    return client.register_script(source)
