"""Short-lived in-memory caches (cachetools), each remembering when its entry was fetched so
answers can say how old they are."""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from cachetools import TTLCache

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class AgedCache(Generic[K, V]):
    """A TTL cache whose entries carry the wall-clock time they were stored."""

    def __init__(
        self,
        *,
        maxsize: int,
        ttl: float,
        timer: Callable[[], float] = time.monotonic,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._entries: TTLCache[K, tuple[V, float]] = TTLCache(
            maxsize=maxsize, ttl=ttl, timer=timer
        )
        self._clock = clock

    def get(self, key: K) -> tuple[V, float] | None:
        """The value and the epoch time it was stored, or None when absent or expired."""
        return self._entries.get(key)

    def put(self, key: K, value: V) -> None:
        self._entries[key] = (value, self._clock())

    def forget(self, key: K) -> None:
        self._entries.pop(key, None)
