"""Objects built once per process and settings (HTTP clients with their connection pools)."""

import os
import threading
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class ProcessCache(Generic[T]):
    """A small thread-safe cache keyed on settings values and the process id.

    Keyed on the pid because a forked Celery worker must not share its parent's sockets; keyed on the
    settings because tests (and a settings change) that point a client elsewhere must get a new one.
    """

    def __init__(self, *, max_size: int = 8) -> None:
        self._items: dict[tuple, T] = {}
        self._lock = threading.Lock()
        self._max_size = max_size

    def get_or_create(self, key: tuple[Hashable, ...], factory: Callable[[], T]) -> T:
        full_key = (os.getpid(), *key)
        item = self._items.get(full_key)
        if item is not None:
            return item
        with self._lock:
            item = self._items.get(full_key)
            if item is None:
                item = factory()
                while len(self._items) >= self._max_size:
                    self._items.pop(next(iter(self._items)))
                self._items[full_key] = item
        return item
