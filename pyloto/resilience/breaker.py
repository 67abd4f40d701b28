"""The LLM provider's circuit breaker: pybreaker with its state in Redis, so every worker shares one circuit.

Use it around an LLM call inside a Celery task (the LLM queue runs a threads pool)::

    breaker = llm_breaker()
    if not breaker_allows_call(breaker):
        ...  # the offline provider answers from the FAQ (or hands over to a human)
    try:
        result = structured_completion(...)
    except PylotoError as exc:
        breaker_record_failure(breaker, exc)
        raise  # autoretry_for=TransientError retries it; a permanent error is handled by the caller
    breaker_record_success(breaker)

Why not `breaker.call(fn)` or `with breaker.calling()`: pybreaker holds a process-wide lock for the
whole wrapped call, which would run one LLM call at a time per worker process. Here the lock is
held only while an outcome is recorded; the outcome is replayed through `breaker.call`, so
pybreaker's own state machine (counters, thresholds, transitions, listeners) decides what happens.

Semantics:
- only `pyloto.errors.TransientError` counts as a failure; any other error means the provider
  answered, which pybreaker (`exclude=`) records as a success: it ends a run of consecutive failures;
- `fail_max` consecutive failures, recorded by any worker, open the circuit for everyone;
- once `reset_timeout` has passed, the next `breaker_allows_call` moves it to half-open and admits
  one trial call per reset timeout across all workers; its success closes the circuit, its failure
  reopens it;
- `breaker_allows_call` takes that trial permit, so it is asked exactly once per provider call, by
  the code that makes the call. Code that only decides whether to try the LLM path at all (the
  pipeline, before it launches the canvas) asks `breaker_rejects_calls`, which changes nothing;
- an outcome recorded while the circuit is open and the timeout has not passed is ignored: it
  comes from a call that started before the circuit opened;
- if Redis is unreachable the breaker falls back to closed (pybreaker's fallback): calls go on.

Every process logs the transitions it makes or notices (`circuit_breaker_state_changed`) and sets
its `CIRCUIT_BREAKER_STATE` gauge.
"""

from __future__ import annotations

import contextlib
import importlib
from datetime import UTC, datetime, timedelta
from functools import cache

import pybreaker
import redis
import structlog
from django.conf import settings

from pyloto.errors import TransientError
from pyloto.resilience.store import resilience_redis

log = structlog.get_logger(__name__)

LLM_BREAKER_NAME = "llm"

_GAUGE_VALUES = {pybreaker.STATE_CLOSED: 0, pybreaker.STATE_HALF_OPEN: 1, pybreaker.STATE_OPEN: 2}

# Keeps `opened_at` the newest of concurrent openings, in one round trip.
_SET_IF_GREATER = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > current then
  redis.call('SET', KEYS[1], ARGV[1])
end
"""


class SharedRedisStorage(pybreaker.CircuitRedisStorage):
    """pybreaker's Redis storage, with `opened_at` in milliseconds and a half-open trial permit.

    pybreaker stores `opened_at` in whole seconds, so a circuit could half-open up to a second
    early; with a reset timeout of a few seconds that is most of it.
    """

    def __init__(self, redis_client: redis.Redis, *, namespace: str) -> None:
        super().__init__(pybreaker.STATE_CLOSED, redis_client, namespace=namespace)
        self._set_if_greater = redis_client.register_script(_SET_IF_GREATER)

    @property
    def opened_at(self) -> datetime | None:
        try:
            value = self._redis.get(self._namespace("opened_at_ms"))
        except redis.RedisError as exc:
            log.warning("circuit_breaker_storage_unavailable", namespace=self._namespace_name, error=str(exc))
            return None
        if value is None:
            return None
        return datetime.fromtimestamp(int(value) / 1000, tz=UTC)

    @opened_at.setter
    def opened_at(self, now: datetime) -> None:
        try:
            self._set_if_greater(keys=[self._namespace("opened_at_ms")], args=[int(now.timestamp() * 1000)])
        except redis.RedisError as exc:
            log.warning("circuit_breaker_storage_unavailable", namespace=self._namespace_name, error=str(exc))

    def take_trial_permit(self, ttl_s: float) -> bool:
        """Claim the one half-open trial call of the next `ttl_s` seconds for this caller."""
        try:
            claimed = self._redis.set(self._namespace("trial"), 1, nx=True, px=max(1, int(ttl_s * 1000)))
        except redis.RedisError as exc:
            # Same choice as pybreaker's fallback state: without Redis, let the call through.
            log.warning("circuit_breaker_storage_unavailable", namespace=self._namespace_name, error=str(exc))
            return True
        return bool(claimed)

    def release_trial_permit(self) -> None:
        """Free the trial permit: the trial has reported, and the next reset timeout brings a new one."""
        try:
            self._redis.delete(self._namespace("trial"))
        except redis.RedisError as exc:
            log.warning("circuit_breaker_storage_unavailable", namespace=self._namespace_name, error=str(exc))


class StateChangeListener(pybreaker.CircuitBreakerListener):
    """Logs every transition this process makes or notices and mirrors it in the state gauge."""

    def state_change(
        self,
        cb: pybreaker.CircuitBreaker,
        old_state: pybreaker.CircuitBreakerState | None,
        new_state: pybreaker.CircuitBreakerState,
    ) -> None:
        old = old_state.name if old_state is not None else None
        if old != new_state.name:
            emit = log.warning if new_state.name == pybreaker.STATE_OPEN else log.info
            emit("circuit_breaker_state_changed", name=cb.name, old=old, new=new_state.name)
            storage = cb._state_storage
            if new_state.name == pybreaker.STATE_OPEN and isinstance(storage, SharedRedisStorage):
                # A failed trial reopened the circuit: the new reset timeout runs from now, with a new trial,
                # whatever is left of the old permit's lifetime.
                storage.release_trial_permit()
        _set_state_gauge(cb.name or "", new_state.name)


def build_breaker(
    *, name: str, redis_client: redis.Redis | None, fail_max: int, reset_timeout_s: float
) -> pybreaker.CircuitBreaker:
    """A breaker whose state lives in Redis under `name` (shared with every breaker of that name).

    Without a Redis client (embedded mode: one process, no Redis) the state lives in memory.
    """
    storage: pybreaker.CircuitBreakerStorage
    if redis_client is None:
        storage = pybreaker.CircuitMemoryStorage(pybreaker.STATE_CLOSED)
    else:
        storage = SharedRedisStorage(redis_client, namespace=name)
    breaker = pybreaker.CircuitBreaker(
        fail_max=fail_max,
        reset_timeout=reset_timeout_s,
        exclude=[_is_not_transient],
        listeners=[StateChangeListener()],
        state_storage=storage,
        name=name,
    )
    _set_state_gauge(name, breaker.current_state)
    return breaker


@cache
def llm_breaker() -> pybreaker.CircuitBreaker:
    """The LLM provider's breaker, one per process, its state shared through Redis (namespace "llm")."""
    return build_breaker(
        name=LLM_BREAKER_NAME,
        redis_client=None if settings.EMBEDDED else resilience_redis(),
        fail_max=settings.LLM_BREAKER_FAIL_MAX,
        reset_timeout_s=settings.LLM_BREAKER_RESET_TIMEOUT_S,
    )


def breaker_allows_call(breaker: pybreaker.CircuitBreaker) -> bool:
    """Whether a call may go to the provider now.

    False while the circuit is open and its reset timeout has not passed, and in half-open for
    everyone but the one trial caller. The only state change made here is open → half-open.
    """
    # `breaker.state` (not `current_state`) so this process notices, logs and gauges changes made elsewhere.
    state = breaker.state.name
    if state == pybreaker.STATE_CLOSED:
        return True
    if state == pybreaker.STATE_OPEN:
        # pybreaker has no public accessor for when the circuit opened.
        opened_at = breaker._state_storage.opened_at
        if opened_at is not None and datetime.now(UTC) < opened_at + timedelta(seconds=breaker.reset_timeout):
            return False
        breaker.half_open()
    storage = breaker._state_storage
    if isinstance(storage, SharedRedisStorage):
        return storage.take_trial_permit(breaker.reset_timeout)
    return True


def breaker_rejects_calls(breaker: pybreaker.CircuitBreaker) -> bool:
    """Whether the circuit is open and its reset timeout has not passed (reading it changes nothing).

    For callers that choose a path before any provider call: they must not take the half-open trial
    permit, or the call they launch would be refused and no trial would ever be made.
    """
    if breaker.state.name != pybreaker.STATE_OPEN:
        return False
    opened_at = breaker._state_storage.opened_at
    return opened_at is not None and datetime.now(UTC) < opened_at + timedelta(seconds=breaker.reset_timeout)


def breaker_record_success(breaker: pybreaker.CircuitBreaker) -> None:
    """Record that a provider call succeeded: resets the failure run; in half-open, closes the circuit."""
    # Open and not yet timed out: this call started before the circuit opened, so it proves nothing.
    with contextlib.suppress(pybreaker.CircuitBreakerError):
        breaker.call(_succeed)


def breaker_record_failure(breaker: pybreaker.CircuitBreaker, exc: Exception) -> None:
    """Record that a provider call raised `exc`; only a `TransientError` counts toward opening the circuit.

    `exc` comes back unchanged (same traceback), so the caller can re-raise it for Celery's retry.
    """
    traceback = exc.__traceback__
    try:
        # CircuitBreakerError: this failure tripped the circuit, or it was already open. `type(exc)`:
        # pybreaker re-raises the replayed error once it has counted it.
        with contextlib.suppress(pybreaker.CircuitBreakerError, type(exc)):
            breaker.call(_raise, exc)
    finally:
        # Replaying added pybreaker's frames to the traceback; the caller's own is the useful one.
        exc.__traceback__ = traceback


def breaker_state(breaker: pybreaker.CircuitBreaker) -> str:
    """The shared state as stored: "closed", "open" or "half-open" (reading it changes nothing)."""
    return breaker.current_state


def _is_not_transient(exc: BaseException) -> bool:
    # pybreaker's `exclude=`: excluded errors are not failures. A bad request or an invalid output
    # means the provider answered; only transient errors say it may be down.
    return not isinstance(exc, TransientError)


def _succeed() -> None:
    return None


def _raise(exc: Exception) -> None:
    raise exc


def _set_state_gauge(name: str, state: str) -> None:
    # Imported here: the metrics module pulls in Django's HTTP layer and prometheus-client, which a
    # breaker must not need to exist (scripts, embedded runs) — when it is absent, there is no gauge.
    try:
        metrics = importlib.import_module("pyloto.observability.metrics")
    except ImportError:
        return
    gauge = getattr(metrics, "CIRCUIT_BREAKER_STATE", None)
    if gauge is not None:
        gauge.labels(name=name).set(_GAUGE_VALUES[state])
