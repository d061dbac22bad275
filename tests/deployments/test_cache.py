"""CountingCache: LRU bound, TTL expiry, hit/miss counting, disabled mode."""

from __future__ import annotations

import threading

import pytest
from pydantic import ValidationError

from deployments.cache import CacheConfig, CountingCache


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_least_recently_used_entry_is_evicted_first() -> None:
    cache: CountingCache[int] = CountingCache(CacheConfig(max_entries=2, ttl_s=100))
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # "b" is now the least recently used
    cache.put("c", 3)
    assert cache.get("b") is None
    assert (cache.get("a"), cache.get("c")) == (1, 3)
    assert cache.stats().size == 2


def test_entries_expire_ttl_after_they_were_stored() -> None:
    clock = Clock()
    cache: CountingCache[str] = CountingCache(CacheConfig(max_entries=8, ttl_s=5), timer=clock)
    cache.put("q", "answer")
    clock.now = 4.9
    assert cache.get("q") == "answer"
    clock.now = 5.1
    assert cache.get("q") is None


def test_hits_and_misses_are_counted_and_reported() -> None:
    seen: list[bool] = []
    cache: CountingCache[int] = CountingCache(CacheConfig(max_entries=4), on_lookup=seen.append)
    cache.get("x")
    cache.put("x", 7)
    cache.get("x")
    cache.get("x")
    stats = cache.stats()
    assert (stats.hits, stats.misses, stats.size) == (2, 1, 1)
    assert stats.hit_rate == pytest.approx(2 / 3)
    assert seen == [False, True, True]


def test_disabled_cache_stores_nothing_but_counts_misses() -> None:
    cache: CountingCache[int] = CountingCache(CacheConfig(max_entries=0))
    cache.put("x", 1)
    assert cache.get("x") is None
    assert cache.stats().misses == 1
    assert cache.stats().size == 0


def test_clear_empties_the_cache() -> None:
    cache: CountingCache[int] = CountingCache(CacheConfig(max_entries=4))
    cache.put("x", 1)
    cache.clear()
    assert cache.get("x") is None


def test_concurrent_use_keeps_counts_exact() -> None:
    cache: CountingCache[int] = CountingCache(CacheConfig(max_entries=64))

    def work(offset: int) -> None:
        for i in range(500):
            key = (offset + i) % 32
            if cache.get(key) is None:
                cache.put(key, i)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stats = cache.stats()
    assert stats.hits + stats.misses == 4 * 500
    assert stats.size == 32


@pytest.mark.parametrize(("field", "value"), [("max_entries", -1), ("ttl_s", 0)])
def test_bad_settings_name_the_field(field: str, value: float) -> None:
    with pytest.raises(ValidationError, match=field):
        CacheConfig(**{field: value})
