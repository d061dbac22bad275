"""Reranking logic without Ray: decode stored token vectors, MaxSim, fuse, sort."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from deployments.common.codec import decode_tokens
from deployments.common.fusion import rrf_scores
from deployments.errors import ConfigError, InvalidRequestError
from deployments.reranker.maxsim import maxsim
from deployments.types import Candidate, Reranked


def fuse_with_first_stage(scores: np.ndarray, *, weight: float, k: int) -> np.ndarray:
    """Weighted RRF of the first-stage order (the input order) and the MaxSim order.

    Each candidate gets ``(1 - weight) / (k + maxsim_rank) + weight / (k + input_rank)``,
    ranks counted from 1.

    Shapes:
        scores: ``[N]`` MaxSim scores in first-stage order; returns ``[N]``.

    >>> fused = fuse_with_first_stage(np.array([1.0, 3.0, 2.0]), weight=0.5, k=1)
    >>> [round(float(x), 3) for x in fused]
    [0.375, 0.417, 0.292]
    """
    by_maxsim = np.argsort(-scores, kind="stable").tolist()
    fused = rrf_scores([by_maxsim, range(len(scores))], k=k, weights=[1.0 - weight, weight])
    return np.array([fused[i] for i in range(len(scores))], dtype=np.float64)


def rerank(
    query_vecs: np.ndarray,
    candidates: Sequence[Candidate],
    blobs: Mapping[str, str],
    top_k: int,
    *,
    first_stage_weight: float = 0.0,
    fusion_k: int = 60,
) -> list[Reranked]:
    """Order candidates by MaxSim of their stored token vectors against the query's.

    Candidates come in first-stage order; ties keep it (the sort is stable). A candidate
    whose vectors are not in ``blobs`` (its document was deleted since the search) is
    left out; the caller keeps it in first-stage order after the reranked ones.

    Args:
        query_vecs: The query's L2-normalised token vectors.
        candidates: First-stage hits, best first.
        blobs: Stored token-vector blobs by chunk id (see ``deployments.common.codec``).
        top_k: How many to return (fewer if fewer could be scored).
        first_stage_weight: Above 0, the MaxSim order is fused with the input order
            (:func:`fuse_with_first_stage`) and ``score`` is the fused score.
        fusion_k: RRF constant of that fusion.

    Returns:
        At most ``top_k`` verdicts, best first.

    Raises:
        InvalidRequestError: ``top_k`` < 1.
        ConfigError: No candidate has stored vectors (the collection was ingested without
            them), or they do not match the query's dimension (another reranker model).

    Shapes:
        query_vecs: ``[Lq, dim]``.

    Example:
        >>> from deployments.common.codec import encode_tokens
        >>> q = np.array([[1.0, 0.0]], dtype=np.float32)
        >>> blobs = {"c1": encode_tokens(np.array([[0.0, 1.0]])),
        ...          "c2": encode_tokens(np.array([[1.0, 0.0]]))}
        >>> cands = [Candidate("c1", 0.9), Candidate("c2", 0.1), Candidate("gone", 0.05)]
        >>> [(r.chunk_id, round(r.score, 2)) for r in rerank(q, cands, blobs, top_k=3)]
        [('c2', 1.0), ('c1', 0.0)]
    """
    if top_k < 1:
        raise InvalidRequestError(f"top_k must be >= 1, got {top_k!r}", param="top_k")
    if not candidates:
        return []
    scored = [c for c in candidates if c.chunk_id in blobs]
    if not scored:
        raise ConfigError(
            f"none of the {len(candidates)} candidates (e.g. {candidates[0].chunk_id!r}) has "
            "stored token vectors: the collection was ingested without them. Ingest it again "
            "with this version, or set supervisor.rerank to false",
            param="supervisor.rerank",
        )
    docs = [_decode(c.chunk_id, blobs[c.chunk_id], query_vecs.shape[1]) for c in scored]
    raw = maxsim(query_vecs, docs)
    scores = raw
    if first_stage_weight > 0:
        scores = fuse_with_first_stage(raw, weight=first_stage_weight, k=fusion_k)
    order = np.argsort(-scores, kind="stable")[:top_k]
    return [Reranked(scored[i].chunk_id, float(scores[i]), float(raw[i])) for i in order]


def _decode(chunk_id: str, blob: str, dim: int) -> np.ndarray:
    try:
        vectors = decode_tokens(blob)
    except ValueError as exc:
        raise ConfigError(
            f"the stored token vectors of {chunk_id!r} are unreadable ({exc}); ingest the "
            "document again",
            param="milvus.collection",
        ) from exc
    if vectors.shape[1] != dim:
        raise ConfigError(
            f"chunk {chunk_id!r} has {vectors.shape[1]}-d token vectors but the query has "
            f"{dim}-d: the collection was ingested with another reranker model. Ingest it "
            "again with the configured reranker.model",
            param="reranker.model",
        )
    return vectors
