"""Bounded, expiring exact-match caches with hit/miss counts (query embeddings, answers).

Storage and eviction are ``cachetools.TTLCache``: the least recently used entry goes
first when the cache is full, and every entry expires ``ttl_s`` after it was stored.
What this module adds is the counting, so a replica can export its hit rate.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

from cachetools import TTLCache
from pydantic import BaseModel, ConfigDict, Field

V = TypeVar("V")


class CacheConfig(BaseModel):
    """Size and lifetime of one cache; ``max_entries: 0`` turns it off.

    >>> CacheConfig(max_entries=0).enabled
    False
    """

    model_config = ConfigDict(extra="forbid")

    max_entries: int = Field(
        default=1024, ge=0, le=1_000_000, description="Most entries kept; 0 disables the cache."
    )
    ttl_s: float = Field(
        default=300.0, gt=0, le=86_400, description="Seconds an entry stays valid once stored."
    )

    @property
    def enabled(self) -> bool:
        return self.max_entries > 0


@dataclass
class CacheStats:
    """Counts since the cache was created."""

    hits: int = 0
    misses: int = 0
    size: int = 0

    @property
    def hit_rate(self) -> float:
        total = self.hits + self.misses
        return self.hits / total if total else 0.0


class CountingCache(Generic[V]):
    """An LRU + TTL cache that counts hits and misses (thread-safe).

    Args:
        config: Size and lifetime; a disabled config stores nothing and counts misses.
        on_lookup: Called with True on a hit and False on a miss (e.g. a metrics counter).
        timer: Clock for expiry, in seconds (tests pass a fake one).

    Example:
        >>> now = [0.0]
        >>> cache = CountingCache(CacheConfig(max_entries=2, ttl_s=10), timer=lambda: now[0])
        >>> cache.get("q") is None
        True
        >>> cache.put("q", [1.0])
        >>> cache.get("q")
        [1.0]
        >>> now[0] = 11.0
        >>> cache.get("q") is None   # expired
        True
        >>> cache.stats()
        CacheStats(hits=1, misses=2, size=0)
    """

    def __init__(
        self,
        config: CacheConfig,
        *,
        on_lookup: Callable[[bool], None] | None = None,
        timer: Callable[[], float] | None = None,
    ) -> None:
        self.config = config
        self._on_lookup = on_lookup
        self._data: TTLCache | None = None
        if config.enabled:
            kwargs = {"timer": timer} if timer is not None else {}
            self._data = TTLCache(maxsize=config.max_entries, ttl=config.ttl_s, **kwargs)
        self._lock = threading.Lock()
        self._hits = 0
        self._misses = 0

    def get(self, key: Hashable) -> V | None:
        """The cached value, or None (counted as a miss)."""
        with self._lock:
            value = self._data.get(key) if self._data is not None else None
            if value is None:
                self._misses += 1
            else:
                self._hits += 1
        if self._on_lookup is not None:
            self._on_lookup(value is not None)
        return value

    def put(self, key: Hashable, value: V) -> None:
        """Store ``value`` (a no-op when the cache is disabled)."""
        if self._data is None:
            return
        with self._lock:
            self._data[key] = value

    def clear(self) -> None:
        with self._lock:
            if self._data is not None:
                self._data.clear()

    def stats(self) -> CacheStats:
        with self._lock:
            size = len(self._data) if self._data is not None else 0
            return CacheStats(hits=self._hits, misses=self._misses, size=size)
