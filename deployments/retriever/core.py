"""Ingestion orchestration, shared by the Serve deployment and offline tools."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import numpy as np

from deployments.cache import CountingCache
from deployments.retriever.chunking import Chunker
from deployments.retriever.config import SearchMode
from deployments.retriever.embedder import Embedder
from deployments.retriever.store import MilvusStore
from deployments.types import Document, Hit, IngestResult

logger = logging.getLogger(__name__)


def search(
    queries: Sequence[str],
    *,
    embedder: Embedder,
    store: MilvusStore,
    mode: SearchMode,
    limit: int,
    rrf_k: int,
    with_tokens: bool = False,
    tokens_for: int | None = None,
) -> list[list[Hit]]:
    """First-stage search: one best-first hit list per query (BM25 alone embeds nothing)."""
    if mode == "bm25":
        vectors = np.zeros((len(queries), embedder.dim), dtype=np.float32)
    else:
        vectors = embedder.embed(queries)
    return store.search(
        queries,
        vectors,
        mode=mode,
        limit=limit,
        rrf_k=rrf_k,
        with_tokens=with_tokens,
        tokens_for=tokens_for,
    )


@dataclass(frozen=True)
class SearchRequest:
    """One caller's share of a batched search."""

    queries: tuple[str, ...]
    limit: int
    with_tokens: bool = False
    tokens_for: int | None = None


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
    """Answer several callers at once: one embedding pass, one store call per shape.

    Requests with the same ``limit`` and ``with_tokens`` share a store call. BM25 alone
    embeds nothing. Returns, per request, one hit list per query.
    """
    groups: dict[tuple[int, bool, int | None], list[int]] = {}
    for i, req in enumerate(requests):
        groups.setdefault((req.limit, req.with_tokens, req.tokens_for), []).append(i)
    texts = [q for req in requests for q in req.queries]
    if mode == "bm25" or not texts:
        vectors = np.zeros((len(texts), store.dim), dtype=np.float32)
    else:
        vectors = embed(texts)
    offsets = np.cumsum([0] + [len(req.queries) for req in requests])
    results: list[list[list[Hit]]] = [[] for _ in requests]
    for (limit, with_tokens, tokens_for), members in groups.items():
        rows = [r for i in members for r in range(offsets[i], offsets[i + 1])]
        if not rows:
            continue
        hits = store.search(
            [texts[r] for r in rows],
            vectors[rows],
            mode=mode,
            limit=limit,
            rrf_k=rrf_k,
            with_tokens=with_tokens,
            tokens_for=tokens_for,
        )
        start = 0
        for i in members:
            n = len(requests[i].queries)
            results[i] = hits[start : start + n]
            start += n
    return results


#: Turns passage texts into compressed token-vector strings (the reranker's job).
PassageEncoder = Callable[[list[str]], Awaitable[list[str]]]


async def ingest_documents(
    docs: Sequence[Document],
    *,
    chunker: Chunker,
    embedder: Embedder,
    store: MilvusStore,
    encode_passages: PassageEncoder,
) -> IngestResult:
    """Chunk, embed and store documents whose id is not stored yet.

    Idempotent: a document whose id is already in the collection (or repeated
    within ``docs``) is skipped, never stored twice. All vectors of a call are
    computed before anything is written, so a failure stores nothing partial.
    """
    ids = list(dict.fromkeys(d.doc_id for d in docs))
    seen = await asyncio.to_thread(store.existing_doc_ids, ids)
    new: list[Document] = []
    skipped_ids: list[str] = []
    for doc in docs:
        if doc.doc_id in seen:
            skipped_ids.append(doc.doc_id)
        else:
            seen.add(doc.doc_id)
            new.append(doc)
    chunks = chunker.split_all(new)
    if chunks:
        texts = [c.search_text for c in chunks]
        dense = await asyncio.to_thread(embedder.embed, texts)
        tokens = await encode_passages(texts)
        await asyncio.to_thread(store.upsert, chunks, dense, tokens)
    logger.info(
        "ingested %d documents (%d chunks), skipped %d", len(new), len(chunks), len(skipped_ids)
    )
    return IngestResult(
        stored=len(new),
        skipped=len(skipped_ids),
        chunks=len(chunks),
        ids=[d.doc_id for d in docs],
        skipped_ids=skipped_ids,
    )
