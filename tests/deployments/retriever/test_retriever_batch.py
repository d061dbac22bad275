"""search_batch / embed_cached: how concurrent retrieve calls share one pass (fake store)."""

from __future__ import annotations

import numpy as np
import pytest

from deployments.cache import CacheConfig, CountingCache
from deployments.retriever.core import SearchRequest, embed_cached, search_batch
from deployments.types import Hit

DIM = 4


class FakeStore:
    dim = DIM

    def __init__(self) -> None:
        self.calls: list[dict] = []

    def search(self, texts, vectors, *, mode, limit, rrf_k, where=None):
        self.calls.append(
            {"texts": list(texts), "vectors": vectors.copy(), "limit": limit, "where": where}
        )
        return [[Hit(f"{t}#{i}", t, "", t, 1.0 / (i + 1))] for i, t in enumerate(texts)]


class Embed:
    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.calls.append(list(texts))
        return np.array([[len(t), 0, 0, 1] for t in texts], dtype=np.float32)


def test_one_embedding_pass_and_one_search_per_limit() -> None:
    store, embed = FakeStore(), Embed()
    requests = [
        SearchRequest(("alpha",), 50),
        SearchRequest(("be", "gamma"), 50),
        SearchRequest(("delta",), 10),
        SearchRequest(("eps",), 50),
    ]
    out = search_batch(requests, embed=embed, store=store, mode="hybrid", rrf_k=60)
    assert embed.calls == [["alpha", "be", "gamma", "delta", "eps"]]
    assert [(c["texts"], c["limit"]) for c in store.calls] == [
        (["alpha", "be", "gamma", "eps"], 50),
        (["delta"], 10),
    ]
    assert store.calls[1]["vectors"][0, 0] == len("delta")  # rows follow their texts
    assert [[hits[0].doc_id for hits in per_request] for per_request in out] == [
        ["alpha"],
        ["be", "gamma"],
        ["delta"],
        ["eps"],
    ]


def test_one_search_per_limit_and_filter() -> None:
    store, embed = FakeStore(), Embed()
    en, de = 'metadata["lang"] == "en"', 'metadata["lang"] == "de"'
    requests = [
        SearchRequest(("a",), 50, en),
        SearchRequest(("b",), 50),
        SearchRequest(("c", "d"), 50, en),
        SearchRequest(("e",), 50, de),
        SearchRequest(("f",), 10, en),
    ]
    out = search_batch(requests, embed=embed, store=store, mode="hybrid", rrf_k=60)
    assert embed.calls == [["a", "b", "c", "d", "e", "f"]]  # still one embedding pass
    assert [(c["texts"], c["limit"], c["where"]) for c in store.calls] == [
        (["a", "c", "d"], 50, en),
        (["b"], 50, None),
        (["e"], 50, de),
        (["f"], 10, en),
    ]
    assert [[hits[0].doc_id for hits in per_request] for per_request in out] == [
        ["a"],
        ["b"],
        ["c", "d"],
        ["e"],
        ["f"],
    ]


def test_bm25_embeds_nothing() -> None:
    store, embed = FakeStore(), Embed()
    search_batch([SearchRequest(("q",), 5)], embed=embed, store=store, mode="bm25", rrf_k=60)
    assert embed.calls == []
    assert store.calls[0]["vectors"].shape == (1, DIM)


def test_empty_batch_and_empty_query_list() -> None:
    store, embed = FakeStore(), Embed()
    assert search_batch([], embed=embed, store=store, mode="dense", rrf_k=60) == []
    out = search_batch([SearchRequest((), 5)], embed=embed, store=store, mode="dense", rrf_k=60)
    assert out == [[]]
    assert store.calls == []


def test_cached_query_vectors_are_reused_and_counted() -> None:
    embed = Embed()
    cache: CountingCache[np.ndarray] = CountingCache(CacheConfig(max_entries=16))
    first = embed_cached(["a", "bb", "a"], embed=embed, cache=cache)
    second = embed_cached(["bb", "ccc"], embed=embed, cache=cache)
    assert embed.calls == [["a", "bb"], ["ccc"]]
    np.testing.assert_array_equal(first[1], second[0])
    assert first.shape == (3, DIM)
    stats = cache.stats()
    assert (stats.hits, stats.misses) == (1, 3)  # a repeat within one call is looked up once


@pytest.mark.parametrize("enabled", [True, False])
def test_disabled_cache_embeds_every_call(enabled: bool) -> None:
    embed = Embed()
    cache: CountingCache[np.ndarray] = CountingCache(CacheConfig(max_entries=8 if enabled else 0))
    embed_cached(["q"], embed=embed, cache=cache)
    embed_cached(["q"], embed=embed, cache=cache)
    assert len(embed.calls) == (1 if enabled else 2)
