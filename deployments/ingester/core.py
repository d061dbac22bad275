"""Ingestion without Ray: chunk, encode once, write token vectors, publish chunks.

Each document becomes searchable in one store call (:meth:`MilvusStore.publish`), after
all its token vectors are stored, so a query never sees part of a document. A document
counts as stored once published; an interrupted run leaves only token rows behind,
which a re-run overwrites (same chunk ids, upserts), ending with exactly the rows a
clean run writes.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from deployments.common.chunking import Chunker
from deployments.common.encoders.passages import PassageEncoder
from deployments.common.store.milvus import MilvusStore
from deployments.errors import InvalidRequestError
from deployments.types import Chunk, Document, IngestResult

logger = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
"""Called with (chunks encoded so far, chunks in all)."""


@dataclass(eq=False)
class _Pending:
    """A document whose chunks are being encoded; publishable once all are."""

    doc: Document
    chunks: list[Chunk]
    dense: list[np.ndarray | None] = field(default_factory=list)
    row_bytes: int = 0

    @property
    def ready(self) -> bool:
        return all(v is not None for v in self.dense)


def row_bytes(chunk: Chunk, dim: int) -> int:
    """Approximate size of a chunk row on the wire (text fields, vector, metadata)."""
    text = len(chunk.text.encode()) + len(chunk.search_text.encode()) + len(chunk.title.encode())
    meta = len(json.dumps(chunk.metadata, ensure_ascii=False).encode())
    return text + 4 * dim + meta + 2 * len(chunk.chunk_id.encode())


def ingest_documents(
    docs: Sequence[Document],
    *,
    chunker: Chunker,
    encoder: PassageEncoder,
    store: MilvusStore,
    encode_batch: int = 64,
    publish_max_bytes: int = 64 * 1024**2,
    progress: Progress | None = None,
) -> IngestResult:
    """Store the documents not stored yet; each one all-or-nothing.

    Idempotent: a document whose id is already published (or repeated within ``docs``)
    is skipped, never stored twice. Chunks are encoded ``encode_batch`` at a time across
    document boundaries; their token vectors are written after each pass; documents are
    published as soon as all their chunks are, several to a call up to
    ``publish_max_bytes``.

    Raises:
        InvalidRequestError: A document's rows exceed ``publish_max_bytes`` (before
            anything of it is written).
    """
    published = store.published_doc_ids([d.doc_id for d in docs])
    seen = set(published)
    skipped_ids, new = [], []
    for doc in docs:
        if doc.doc_id in seen:
            skipped_ids.append(doc.doc_id)
        else:
            seen.add(doc.doc_id)
            new.append(doc)
    pending = [_plan(doc, chunker, store.dim or encoder.dim, publish_max_bytes) for doc in new]
    queue = [(p, i) for p in pending for i in range(len(p.chunks))]
    ready: list[_Pending] = []
    total = len(queue)
    for start in range(0, total, encode_batch):
        part = queue[start : start + encode_batch]
        vectors = encoder.encode([p.chunks[i].search_text for p, i in part])
        store.write_tokens([p.chunks[i] for p, i in part], vectors.tokens)
        for (p, i), vec in zip(part, vectors.dense, strict=True):
            p.dense[i] = vec
        ready.extend(p for p in dict.fromkeys(p for p, _ in part) if p.ready)
        if sum(p.row_bytes for p in ready) >= publish_max_bytes // 2:
            _publish(store, ready, publish_max_bytes)
            ready = []
        if progress is not None:
            progress(min(start + encode_batch, total), total)
    _publish(store, ready, publish_max_bytes)
    if pending:
        store.flush()
    chunks = sum(len(p.chunks) for p in pending)
    logger.info("ingested %d documents (%d chunks), skipped %d", len(new), chunks, len(skipped_ids))
    return IngestResult(
        stored=len(new),
        skipped=len(skipped_ids),
        chunks=chunks,
        ids=[d.doc_id for d in docs],
        skipped_ids=skipped_ids,
    )


def _plan(doc: Document, chunker: Chunker, dim: int, max_bytes: int) -> _Pending:
    chunks = chunker.split(doc)
    size = sum(row_bytes(c, dim) for c in chunks)
    if size > max_bytes:
        raise InvalidRequestError(
            f"document {doc.doc_id!r} makes {len(chunks)} chunks of {size / 1024**2:.1f} MiB, "
            f"more than one atomic write takes (ingester.publish_max_bytes = "
            f"{max_bytes / 1024**2:.0f} MiB); split it into several documents",
            param="documents",
        )
    return _Pending(doc, chunks, [None] * len(chunks), size)


def _publish(store: MilvusStore, ready: list[_Pending], max_bytes: int) -> None:
    """Publish ready documents, several to a call, each call at most ``max_bytes``."""
    group: list[_Pending] = []
    size = 0
    for p in ready:
        if group and size + p.row_bytes > max_bytes:
            _publish_group(store, group)
            group, size = [], 0
        group.append(p)
        size += p.row_bytes
    if group:
        _publish_group(store, group)


def _publish_group(store: MilvusStore, group: list[_Pending]) -> None:
    chunks = [c for p in group for c in p.chunks]
    dense = np.stack([v for p in group for v in p.dense])
    store.publish(chunks, dense)
