"""Reciprocal rank fusion of several ranked hit lists (pure, no I/O)."""

from __future__ import annotations

from collections.abc import Hashable, Sequence

from deployments.types import Hit


def rrf_scores(
    rankings: Sequence[Sequence[Hashable]],
    *,
    k: int = 60,
    weights: Sequence[float] | None = None,
) -> dict[Hashable, float]:
    """RRF score of every id: the sum over rankings of ``weight / (k + rank)``, rank from 1.

    Args:
        rankings: Each a list of ids, best first.
        k: Smoothing constant; larger values flatten the rank differences.
        weights: One per ranking (default: 1 each), for weighted RRF.

    >>> s = rrf_scores([["a", "b"], ["b", "c"]], k=60)
    >>> round(s["b"], 5) == round(1 / 62 + 1 / 61, 5)
    True
    >>> sorted(s, key=s.get, reverse=True)
    ['b', 'a', 'c']
    >>> rrf_scores([["a"], ["a"]], k=1, weights=[0.25, 0.75])
    {'a': 0.5}
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k!r}")
    weights = [1.0] * len(rankings) if weights is None else list(weights)
    if len(weights) != len(rankings):
        raise ValueError(f"got {len(weights)} weights for {len(rankings)} rankings")
    scores: dict[Hashable, float] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        for rank, item in enumerate(dict.fromkeys(ranking), start=1):
            scores[item] = scores.get(item, 0.0) + weight / (k + rank)
    return scores


def rrf_fuse(
    hit_lists: Sequence[Sequence[Hit]], *, k: int = 60, limit: int | None = None
) -> list[Hit]:
    """Merge hit lists (e.g. one per sub-question) into one, best first, by RRF.

    A chunk found by several lists keeps the first copy seen; its score becomes
    the RRF score, recorded as ``scores["subquery_rrf"]``. Ties keep first-seen order.
    """
    first: dict[str, Hit] = {}
    for hits in hit_lists:
        for hit in hits:
            first.setdefault(hit.chunk_id, hit)
    scores = rrf_scores([[h.chunk_id for h in hits] for hits in hit_lists], k=k)
    order = sorted(first, key=lambda cid: -scores[cid])
    fused = [first[cid].scored("subquery_rrf", scores[cid]) for cid in order]
    return fused if limit is None else fused[:limit]
