"""Run heartbeats: a live run keeps its lease, a dead one is reclaimed within one lease.

A run's work moves between processes (the pipeline worker launches it, the LLM worker calls the
provider, the pipeline worker finalizes it) and the LLM tasks never touch the database, so the lease
row cannot be renewed by whoever holds the run. Instead the run's heartbeat is a Redis key:
- while one of its tasks executes, the process executing it beats every quarter lease with a TTL of
  one lease: a killed worker's run goes silent within a lease;
- when a task ends (its next task is queued, or its retry counts down), the key is set for the
  broker's visibility timeout: as long as that next task can still be delivered, the run is alive.
  A task that failed outright queued nothing (its error callback, run inline, may have failed too:
  a PostgreSQL restart breaks both), so its run keeps one lease and is reclaimed after it.
  A run waiting behind a backlog is not dead — reclaiming it runs it again and deepens the very
  backlog it waits in (two fault runs spiralled that way with a 60 s allowance: the LLM queue's wait
  passed 60 s under load, every waiting run was reclaimed and launched again, and no finalize found
  its lease any more).
The sweeper renews the database lease of a run whose heartbeat is alive and reclaims one whose
heartbeat stopped, and `run_begin` asks the same heartbeat before a new run task takes over an
expired lease (`run_is_alive`): a killed worker's runs are answered again within a lease plus a
sweep, and a slow but live run is never run twice.

A queued task is lost only with Redis, and then so is its run's heartbeat: a Redis restart without
persistence wipes the keys, live runs beat again within a quarter lease, and runs whose tasks died
with Redis are reclaimed at the next sweep. A task that was running across the restart may have
lost what it queued (a chord whose counter Redis lost never publishes its body): it sees a new Redis
epoch when it ends and gives its run one lease instead of the visibility timeout. With AOF the tasks
and the keys survive together. A killed worker's started tasks beat as executing, so they go silent
within a lease; the worker reserves no more tasks than it runs (prefetch multiplier 1).
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis
import structlog
from celery import states
from celery.signals import task_postrun, task_prerun
from django.conf import settings

from pyloto.resilience.store import resilience_redis

log = structlog.get_logger(__name__)

KEY_PREFIX = "pyloto:run-alive:"
# A random value set once per Redis lifetime: a restart without persistence loses it, so a task that
# sees another value at its end than at its start knows Redis restarted under it.
EPOCH_KEY = "pyloto:redis-epoch"
# KEYS: the run's heartbeat, the epoch. ARGV: the epoch the task started in, the queued TTL, one lease (ms).
_QUEUED_IF_SAME_REDIS = """
local ttl = ARGV[3]
if ARGV[1] ~= '' and redis.call('GET', KEYS[2]) == ARGV[1] then ttl = ARGV[2] end
redis.call('SET', KEYS[1], 1, 'PX', ttl)
return 1
"""


def run_heartbeat(*run_keys: str, queued: bool = False) -> str | None:
    """Say these runs are alive for one more lease, or the visibility timeout when their next task is queued.

    Returns this Redis's epoch (see `_after_task`), None when Redis could not be reached. Best
    effort: Redis being down must not fail a run.
    """
    if not run_keys or settings.EMBEDDED:
        return None
    ttl_s = settings.CELERY_VISIBILITY_TIMEOUT_S if queued else settings.RUN_LEASE_SECONDS
    ttl_ms = int(ttl_s * 1000)
    try:
        pipe = resilience_redis().pipeline(transaction=False)
        for run_key in run_keys:
            pipe.set(KEY_PREFIX + run_key, 1, px=ttl_ms)
        pipe.set(EPOCH_KEY, uuid.uuid4().hex, nx=True)
        pipe.get(EPOCH_KEY)
        epoch = pipe.execute()[-1]
    except redis.RedisError as exc:
        log.warning("run_heartbeat_failed", runs=len(run_keys), error=str(exc))
        return None
    return epoch.decode() if isinstance(epoch, bytes) else None


def _after_task(run_key: str, epoch: str | None) -> None:
    """A task of the run ended: its next task is queued, alive for the visibility timeout — unless
    Redis restarted while the task ran (its epoch changed), which may have lost what the task queued
    (a chord's counter: its body is never published). Then the run keeps one lease, and the sweeper
    reclaims it unless its next task starts and beats."""
    if settings.EMBEDDED:
        return
    try:
        resilience_redis().eval(
            _QUEUED_IF_SAME_REDIS,
            2,
            KEY_PREFIX + run_key,
            EPOCH_KEY,
            epoch or "",
            int(settings.CELERY_VISIBILITY_TIMEOUT_S * 1000),
            int(settings.RUN_LEASE_SECONDS * 1000),
        )
    except redis.RedisError as exc:
        log.warning("run_heartbeat_failed", runs=1, error=str(exc))


def runs_alive(run_keys: list[str]) -> set[str] | None:
    """The runs among these whose heartbeat is alive; None when Redis cannot say (then reclaim nothing)."""
    if not run_keys:
        return set()
    try:
        pipe = resilience_redis().pipeline(transaction=False)
        for run_key in run_keys:
            pipe.exists(KEY_PREFIX + run_key)
        found = pipe.execute()
    except redis.RedisError as exc:
        log.warning("run_heartbeat_unreadable", runs=len(run_keys), error=str(exc))
        return None
    return {run_key for run_key, exists in zip(run_keys, found, strict=True) if exists}


def run_is_alive(run_key: str) -> bool:
    """Whether a run whose lease expired still lives (`run_begin` then keeps it from a duplicate task).

    When Redis cannot say, it is alive: taking over a live run answers its messages twice, while a
    dead one waits only until the sweeper can read the heartbeats again. Embedded mode has one process
    and no heartbeats: an expired lease there is a dead run.
    """
    if settings.EMBEDDED:
        return False
    alive = runs_alive([run_key])
    return alive is None or run_key in alive


class _Beater:
    """This process's runs in progress (task id → run key) and the thread that beats for them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active: dict[str, str] = {}
        self._epochs: dict[str, str | None] = {}
        self._pid: int | None = None
        self._wake = threading.Event()

    def start(self, task_id: str, run_key: str) -> None:
        with self._lock:
            self._active[task_id] = run_key
            if self._pid != os.getpid():  # first task in this (possibly forked) process
                self._pid = os.getpid()
                threading.Thread(target=self._loop, name="run-heartbeat", daemon=True).start()
        epoch = run_heartbeat(run_key)
        with self._lock:
            self._epochs[task_id] = epoch

    def stop(self, task_id: str, *, failed: bool = False) -> None:
        with self._lock:
            run_key = self._active.pop(task_id, None)
            epoch = self._epochs.pop(task_id, None)
            still_running = run_key in self._active.values()
        if not run_key or still_running:
            return
        if failed:
            run_heartbeat(run_key)
        else:
            _after_task(run_key, epoch)

    def _loop(self) -> None:
        interval = max(settings.RUN_LEASE_SECONDS / 4, 0.5)
        while not self._wake.wait(interval):
            with self._lock:
                run_keys = sorted(set(self._active.values()))
            run_heartbeat(*run_keys)


_beater = _Beater()


@contextmanager
def beating(run_key: str) -> Iterator[None]:
    """Beat for `run_key` while the block runs (work done for a run outside its tasks' own beats)."""
    token = f"block:{threading.get_ident()}:{run_key}"
    _beater.start(token, run_key)
    try:
        yield
    finally:
        _beater.stop(token)


def run_key_of(args: tuple | list, kwargs: dict[str, Any]) -> str | None:
    """The run a pipeline task works for: finalize/recover name it, the LLM tasks carry it in the payload."""
    if isinstance(kwargs.get("run_key"), str):
        return kwargs["run_key"]
    first = args[0] if args else None
    if isinstance(first, dict):
        payload = first.get("payload", first)
        if isinstance(payload, dict) and isinstance(payload.get("run_key"), str):
            return payload["run_key"]
    return None


@task_prerun.connect(weak=False)
def _beat_while_running(task_id: str | None = None, args: Any = (), kwargs: Any = None, **_: Any) -> None:
    run_key = run_key_of(args or (), kwargs or {})
    if run_key and task_id:
        _beater.start(task_id, run_key)


@task_postrun.connect(weak=False)
def _stop_beating(task_id: str | None = None, state: str | None = None, **_: Any) -> None:
    if task_id:
        _beater.stop(task_id, failed=state == states.FAILURE)
