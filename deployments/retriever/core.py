"""First-stage search without Ray: embed queries (with a cache), search the store."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from deployments.cache import CountingCache
from deployments.common.store.milvus import MilvusStore
from deployments.types import Hit, SearchMode


@dataclass(frozen=True)
class SearchRequest:
    """One caller's share of a batched search."""

    queries: tuple[str, ...]
    limit: int
    where: str | None = None
    """Only chunks matching this Milvus expression (a metadata filter); None: all."""


def embed_cached(
    texts: Sequence[str], *, embed: Callable[[list[str]], np.ndarray], cache: CountingCache
) -> np.ndarray:
    """Dense vectors of ``texts``; cached ones are reused, the rest embedded in one call.

    Shapes:
        returns ``[len(texts), dim]`` float32.

    Example:
        >>> from deployments.cache import CacheConfig
        >>> calls = []
        >>> def embed(batch):
        ...     calls.append(batch)
        ...     return np.array([[float(len(t))] for t in batch], dtype=np.float32)
        >>> cache = CountingCache(CacheConfig(max_entries=8))
        >>> embed_cached(["a", "bb"], embed=embed, cache=cache).ravel().tolist()
        [1.0, 2.0]
        >>> embed_cached(["bb", "ccc", "ccc"], embed=embed, cache=cache).ravel().tolist()
        [2.0, 3.0, 3.0]
        >>> calls
        [['a', 'bb'], ['ccc']]
    """
    found = {text: cache.get(text) for text in dict.fromkeys(texts)}
    missing = [text for text, vec in found.items() if vec is None]
    if missing:
        for text, vec in zip(missing, embed(missing), strict=True):
            found[text] = vec
            cache.put(text, vec)
    return np.stack([found[text] for text in texts]).astype(np.float32, copy=False)


def search_batch(
    requests: Sequence[SearchRequest],
    *,
    embed: Callable[[list[str]], np.ndarray],
    store: MilvusStore,
    mode: SearchMode,
    rrf_k: int,
) -> list[list[list[Hit]]]:
    """Answer several callers at once: one embedding pass, one store call per ``limit``
    and filter.

    BM25 alone embeds nothing. Returns, per request, one hit list per query.
    """
    groups: dict[tuple[int, str | None], list[int]] = {}
    for i, req in enumerate(requests):
        groups.setdefault((req.limit, req.where), []).append(i)
    texts = [q for req in requests for q in req.queries]
    if mode == "bm25" or not texts:
        vectors = np.zeros((len(texts), store.dim or 1), dtype=np.float32)
    else:
        vectors = embed(texts)
    offsets = np.cumsum([0] + [len(req.queries) for req in requests])
    results: list[list[list[Hit]]] = [[] for _ in requests]
    for (limit, where), members in groups.items():
        rows = [r for i in members for r in range(offsets[i], offsets[i + 1])]
        if not rows:
            continue
        hits = store.search(
            [texts[r] for r in rows],
            vectors[rows],
            mode=mode,
            limit=limit,
            rrf_k=rrf_k,
            where=where,
        )
        start = 0
        for i in members:
            n = len(requests[i].queries)
            results[i] = hits[start : start + n]
            start += n
    return results
