"""First-stage search requests (dense, BM25 or hybrid) and their typed results."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from deployments.types import Hit, SearchMode

HIT_FIELDS = ["chunk_id", "doc_id", "title", "text"]


def search_requests(
    client,
    collection: str,
    texts: Sequence[str],
    vectors: np.ndarray,
    mode: SearchMode,
    limit: int,
    rrf_k: int,
    where: str | None = None,
) -> list:
    """Milvus' raw results for ``mode``, one list per query, best first, over the chunks
    matching ``where`` (a Milvus boolean expression; None: all).

    Shapes:
        vectors: ``[len(texts), dim]`` (ignored in ``bm25`` mode).
    """
    from pymilvus import AnnSearchRequest, RRFRanker

    if mode == "dense":
        return client.search(
            collection,
            data=vectors.tolist(),
            anns_field="dense",
            limit=limit,
            output_fields=HIT_FIELDS,
            search_params={"metric_type": "COSINE"},
            filter=where or "",
        )
    if mode == "bm25":
        return client.search(
            collection,
            data=list(texts),
            anns_field="sparse",
            limit=limit,
            output_fields=HIT_FIELDS,
            search_params={"metric_type": "BM25"},
            filter=where or "",
        )
    # One call per query: Milvus Lite took longer for one hybrid call of 8 queries than
    # for 8 calls of one (docs/PERFORMANCE.md).
    raw: list = []
    for text, vec in zip(texts, vectors, strict=True):
        requests = [
            AnnSearchRequest(
                data=[vec.tolist()], anns_field="dense", param={}, limit=limit, expr=where
            ),
            AnnSearchRequest(data=[text], anns_field="sparse", param={}, limit=limit, expr=where),
        ]
        raw.extend(
            client.hybrid_search(
                collection, requests, ranker=RRFRanker(rrf_k), limit=limit, output_fields=HIT_FIELDS
            )
        )
    return raw


def to_hit(hit: dict, mode: SearchMode) -> Hit:
    """A typed hit from one raw result; its score is also kept as ``scores[mode]``.

    >>> to_hit({"distance": -2.5, "entity": {"chunk_id": "d#0000", "doc_id": "d",
    ...         "title": "T", "text": "x"}}, "bm25").scores
    {'bm25': 2.5}
    """
    entity = hit.get("entity", hit)
    score = float(hit["distance"])
    if mode == "bm25":  # Milvus Lite reports BM25 as a negated distance; a server as the score
        score = abs(score)
    return Hit(
        chunk_id=str(entity.get("chunk_id", hit.get("chunk_id"))),
        doc_id=entity["doc_id"],
        title=entity.get("title", ""),
        text=entity["text"],
        score=score,
        scores={mode: score},
    )
