"""The per-process cache of the current release, kept in step with every other process through Redis."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Any

import redis
import structlog
from django.core.cache import BaseCache
from django.core.cache import cache as default_cache
from django.db import DatabaseError

from institutional.builtin import builtin_snapshot
from institutional.snapshot import BUILTIN_NUMBER, ReleaseSnapshot

log = structlog.get_logger(__name__)

# Holds "<number>:<content hash>" of the live release; publish and rollback set it when they commit. The
# hash makes a release number unambiguous even where a database was rebuilt and numbers were reused.
POINTER_KEY = "institutional:current_release"
# A missing pointer is read back from the database; the expiry also heals a pointer a lost write left stale.
POINTER_TTL_S = 30
RELEASE_TTL_S = 24 * 3600
# How long a process trusts its copy before one Redis GET checks the pointer again: well under a second.
CHECK_INTERVAL_S = 0.5
_KEPT_RELEASES = 8

# Redis errors are swallowed where the database can answer instead; anything else is a bug and raises.
CACHE_ERRORS: tuple[type[BaseException], ...] = (redis.RedisError, OSError)


def release_token(number: int, content_hash: str) -> str:
    return f"{number}:{content_hash}"


def release_cache_key(token: str) -> str:
    return f"institutional:release:{token}"


def _builtin_token() -> str:
    return release_token(BUILTIN_NUMBER, builtin_snapshot().content_hash)


def _current_token_from_db() -> str:
    from institutional.models import ReleasePointer

    row = (
        ReleasePointer.objects.filter(pk=ReleasePointer.SINGLETON_ID)
        .values_list("release__number", "release__content_hash")
        .first()
    )
    return release_token(*row) if row else _builtin_token()


def _release_content_from_db(number: int, content_hash: str) -> dict[str, Any] | None:
    from institutional.models import Release

    return Release.objects.filter(number=number, content_hash=content_hash).values_list("snapshot", flat=True).first()


class ReleaseLoader:
    """What one process knows about the live release. `get()` is cheap: usually no I/O at all."""

    def __init__(self, *, cache: BaseCache | None = None, check_interval_s: float | None = None) -> None:
        self._cache = cache
        self.check_interval_s = CHECK_INTERVAL_S if check_interval_s is None else check_interval_s
        self._lock = threading.Lock()
        self._current: ReleaseSnapshot | None = None
        self._known: OrderedDict[str, ReleaseSnapshot] = OrderedDict()
        self._checked_at = float("-inf")

    @property
    def cache(self) -> BaseCache:
        return self._cache if self._cache is not None else default_cache

    def invalidate(self) -> None:
        """Check the pointer on the next `get()` (this process published or rolled back)."""
        self._checked_at = float("-inf")

    def forget(self) -> None:
        """Drop everything this process holds, as after a restart."""
        with self._lock:
            self._current = None
            self._known.clear()
            self._checked_at = float("-inf")

    def get(self) -> ReleaseSnapshot:
        current = self._current
        if current is not None and time.monotonic() - self._checked_at < self.check_interval_s:
            return current
        with self._lock:
            current = self._current
            now = time.monotonic()
            if current is not None and now - self._checked_at < self.check_interval_s:
                return current
            try:
                snapshot = self._load()
            except DatabaseError as exc:
                snapshot = current if current is not None else builtin_snapshot()
                log.warning(
                    "institutional_release_stale",
                    release_number=snapshot.number,
                    error=exc.__class__.__name__,
                    never_loaded=current is None,
                )
            if current is None or snapshot.number != current.number:
                log.info("institutional_release_loaded", release_number=snapshot.number)
            self._current = snapshot
            self._checked_at = now
            return snapshot

    def by_token(self, token: str) -> ReleaseSnapshot:
        """The release `token` names (a run's, which may be older than the live one), usually without I/O.

        Known releases come from this process; others from Redis, then the database. A token nobody
        holds any more (its content purged) falls back to the live release: a run answers with the
        content in force rather than not at all.
        """
        with self._lock:
            known = self._known.get(token)
        if known is not None:
            return known
        try:
            snapshot = self._fetch(token)
        except (DatabaseError, ValueError) as exc:
            log.warning("institutional_release_unreadable", token=token, error=exc.__class__.__name__)
            snapshot = None
        if snapshot is None:
            return self.get()
        with self._lock:
            self._known[token] = snapshot
            while len(self._known) > _KEPT_RELEASES:
                self._known.popitem(last=False)
        return snapshot

    # --- internals -------------------------------------------------------------------------------
    def _load(self) -> ReleaseSnapshot:
        token = self._pointer_token()
        known = self._known.get(token)
        if known is not None:
            return known
        snapshot = self._fetch(token)
        if snapshot is None:
            # The pointer named a release this database does not hold: trust the database's pointer.
            token = _current_token_from_db()
            snapshot = self._fetch(token) or builtin_snapshot()
            token = release_token(snapshot.number, snapshot.content_hash)
            self._cache_call("set", POINTER_KEY, token, timeout=POINTER_TTL_S)
        self._known[token] = snapshot
        while len(self._known) > _KEPT_RELEASES:
            self._known.popitem(last=False)
        return snapshot

    def _pointer_token(self) -> str:
        value = self._cache_call("get", POINTER_KEY)
        if isinstance(value, str) and ":" in value:
            return value
        token = _current_token_from_db()
        # `add`, not `set`: a publish that committed meanwhile has written the newer token.
        self._cache_call("add", POINTER_KEY, token, timeout=POINTER_TTL_S)
        return token

    def _fetch(self, token: str) -> ReleaseSnapshot | None:
        number_text, _, content_hash = token.partition(":")
        number = int(number_text)
        if number == BUILTIN_NUMBER:
            return builtin_snapshot()
        content = self._cache_call("get", release_cache_key(token))
        if content is None:
            content = _release_content_from_db(number, content_hash)
            if content is None:
                return None
            self._cache_call("set", release_cache_key(token), content, timeout=RELEASE_TTL_S)
        snapshot = ReleaseSnapshot.from_content(number=number, content=content)
        # The stored hash is the one computed at publish time; a mismatch means the content was tampered with.
        if snapshot.content_hash != content_hash:
            log.error("institutional_release_hash_mismatch", release_number=number)
        return snapshot

    def _cache_call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return getattr(self.cache, method)(*args, **kwargs)
        except CACHE_ERRORS as exc:
            log.warning("institutional_cache_unavailable", operation=method, error=exc.__class__.__name__)
            return None


# This process's loader; `institutional.selectors.current_release()` reads through it.
process_loader = ReleaseLoader()


def release_announce(*, number: int, content_hash: str, content: dict[str, Any]) -> None:
    """Tell every process that `number` is live: the content first, then the pointer that names it."""
    token = release_token(number, content_hash)
    try:
        default_cache.set(release_cache_key(token), content, timeout=RELEASE_TTL_S)
        default_cache.set(POINTER_KEY, token, timeout=POINTER_TTL_S)
    except CACHE_ERRORS as exc:
        # Other processes catch up when the old pointer expires (POINTER_TTL_S) and they read the database.
        log.error("institutional_release_announce_failed", release_number=number, error=exc.__class__.__name__)
    process_loader.invalidate()
    log.info("institutional_release_announced", release_number=number)
