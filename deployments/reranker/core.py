"""Reranking logic without Ray: decode stored token vectors, MaxSim, sort."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from deployments.errors import ConfigError, InvalidRequestError
from deployments.reranker.codec import decode_tokens, encode_tokens, max_tokens_for
from deployments.reranker.maxsim import maxsim
from deployments.retriever.fusion import rrf_scores
from deployments.types import Hit


class PassageEncoder(Protocol):
    """What :func:`passage_blobs` needs from a :class:`~.encoder.TokenEncoder`."""

    @property
    def dim(self) -> int: ...

    def encode_passages(self, texts: list[str]) -> list[np.ndarray]: ...


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
    hits: Sequence[Hit],
    top_k: int,
    *,
    first_stage_weight: float = 0.0,
    fusion_k: int = 60,
) -> list[Hit]:
    """Order hits by MaxSim against the query's token vectors.

    Ties keep the first-stage order (the sort is stable). Returned hits carry the
    MaxSim score and no ``token_blob`` (it is only needed here and is large).

    Args:
        query_vecs: The query's L2-normalised token vectors.
        hits: Candidates from the retriever, each with a ``token_blob``.
        top_k: How many hits to return (fewer if there are fewer candidates).
        first_stage_weight: Above 0, the MaxSim order is fused with the input order
            (:func:`fuse_with_first_stage`) and ``score`` is the fused score.
        fusion_k: RRF constant of that fusion.

    Returns:
        At most ``top_k`` hits, best first.

    Raises:
        InvalidRequestError: ``top_k`` < 1.
        ConfigError: A hit has no ``token_blob`` (the collection was ingested without
            token vectors), or its vectors do not match the query's dimension.

    Shapes:
        query_vecs: ``[Lq, dim]``.

    Example:
        >>> q = np.array([[1.0, 0.0]], dtype=np.float32)
        >>> hits = [
        ...     Hit("c1", "d1", "", "far", 0.9, encode_tokens(np.array([[0.0, 1.0]]))),
        ...     Hit("c2", "d2", "", "near", 0.1, encode_tokens(np.array([[1.0, 0.0]]))),
        ... ]
        >>> [(h.chunk_id, round(h.score, 2), h.token_blob) for h in rerank(q, hits, top_k=2)]
        [('c2', 1.0, None), ('c1', 0.0, None)]
    """
    if top_k < 1:
        raise InvalidRequestError(f"top_k must be >= 1, got {top_k!r}", param="top_k")
    if not hits:
        return []
    docs = [_decode(hit, query_vecs.shape[1]) for hit in hits]
    scores = maxsim(query_vecs, docs)
    if first_stage_weight > 0:
        scores = fuse_with_first_stage(scores, weight=first_stage_weight, k=fusion_k)
    order = np.argsort(-scores, kind="stable")[:top_k]
    return [dataclasses.replace(hits[i], score=float(scores[i]), token_blob=None) for i in order]


def passage_blobs(encoder: PassageEncoder, texts: list[str]) -> list[str]:
    """Encode passages into codec blobs that fit a Milvus VARCHAR (65,535 characters).

    Each passage keeps its first ``max_tokens_for(encoder.dim)`` token vectors.
    """
    limit = max_tokens_for(encoder.dim)
    return [encode_tokens(m[:limit]) for m in encoder.encode_passages(texts)]


def _decode(hit: Hit, dim: int) -> np.ndarray:
    if hit.token_blob is None:
        raise ConfigError(
            f"hit {hit.chunk_id!r} has no token_blob: the collection was ingested without "
            "token vectors, so it cannot be reranked with MaxSim. Re-ingest it with the "
            "reranker enabled, or disable the reranker",
            param="token_blob",
        )
    vectors = decode_tokens(hit.token_blob)
    if vectors.shape[1] != dim:
        raise ConfigError(
            f"hit {hit.chunk_id!r} has {vectors.shape[1]}-d token vectors but the query has "
            f"{dim}-d: the collection was ingested with another reranker model. Re-ingest it "
            "with the configured reranker.model",
            param="token_blob",
        )
    return vectors
