"""Ingestion orchestration, shared by the Serve deployment and offline tools."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

import numpy as np

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
) -> list[list[Hit]]:
    """First-stage search: one best-first hit list per query (BM25 alone embeds nothing)."""
    if mode == "bm25":
        vectors = np.zeros((len(queries), embedder.dim), dtype=np.float32)
    else:
        vectors = embedder.embed(queries)
    return store.search(
        queries, vectors, mode=mode, limit=limit, rrf_k=rrf_k, with_tokens=with_tokens
    )


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
