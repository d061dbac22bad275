"""Ingestion without Ray: chunk, encode once, write token vectors, publish chunks.

Each document becomes searchable in one store call (:meth:`MilvusStore.publish`), after
all its token vectors are stored, so a query never sees part of a document; then the
library lists it. Chunk ids carry the document's version, which is fixed when it is
submitted, so a re-run of an interrupted job writes the same ids (upserts) and ends
with exactly the rows a clean run writes: leftovers of the interrupted run (token rows,
or chunks published but not yet listed) are overwritten or deleted.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from deployments.common.chunking import Chunker
from deployments.common.encoders.passages import PassageEncoder
from deployments.common.ids import content_digest, version_stamp
from deployments.common.store.library import Library
from deployments.common.store.milvus import MilvusStore
from deployments.common.store.state import StateStore
from deployments.errors import InvalidRequestError, StageUnavailableError
from deployments.types import Chunk, Document, DocumentRecord, IngestResult

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
    replaces: bool = False
    published: bool = False
    """Chunks of this document may exist already (an older version, or leftovers of an
    interrupted run): delete those older than this version once it is published."""

    @property
    def ready(self) -> bool:
        return all(v is not None for v in self.dense)


def row_bytes(chunk: Chunk, dim: int) -> int:
    """Approximate size of a chunk row on the wire (text fields, vector, metadata, and
    entity keys, counted as the text once more: their names and the stretches of them)."""
    text = 2 * len(chunk.text.encode()) + len(chunk.search_text.encode())
    text += len(chunk.title.encode())
    meta = len(json.dumps(chunk.metadata, ensure_ascii=False).encode())
    return text + 4 * dim + meta + 2 * len(chunk.chunk_id.encode())


def ingest_documents(
    docs: Sequence[Document],
    *,
    chunker: Chunker,
    encoder: PassageEncoder,
    store: MilvusStore,
    library: Library,
    state: StateStore | None = None,
    replace: bool = False,
    strict: bool = True,
    encode_batch: int = 64,
    publish_max_bytes: int = 64 * 1024**2,
    progress: Progress | None = None,
) -> IngestResult:
    """Store ``docs``, each all-or-nothing, and list them in the library.

    A document already in the library is skipped (never stored twice), unless ``replace``
    is set and its content changed: then its new version is published beside the old in
    one write (search shows one version: see :meth:`MilvusStore.search`), listed, and the
    old version deleted. A document whose version the library already lists (a re-run of
    the job that stored it) counts as stored and only has its old versions cleared.
    Chunks are encoded ``encode_batch`` at a time across document boundaries; token
    vectors are written after each pass; documents are published as soon as all their
    chunks are, several to a call up to ``publish_max_bytes``; the corpus stamp (in
    ``state``) changes after every publication.

    Args:
        docs: Documents with their version set (one is stamped now where it is not).
        strict: Refuse the whole call (before writing anything) when a document is too
            large for one write; False: skip it and name it in ``IngestResult.errors``.

    Raises:
        InvalidRequestError: ``strict`` and a document's rows exceed ``publish_max_bytes``.
    """
    now = version_stamp()
    docs = [d if d.version else dataclasses.replace(d, version=now) for d in docs]
    ids = [d.doc_id for d in docs]
    records = library.records(ids)
    unlisted = [i for i in ids if i not in records]
    # rows of an earlier run that stopped before listing its document (or from before
    # the library): deleted once this version is published
    leftovers = store.published_doc_ids(unlisted) | store.doc_ids_with_tokens(unlisted)
    plan = _Plan()
    for doc in docs:
        if doc.doc_id in plan.seen:
            plan.skipped.append(doc.doc_id)
            continue
        plan.seen.add(doc.doc_id)
        record = records.get(doc.doc_id)
        if record is not None and record.version == doc.version:  # stored by this job
            plan.finished.append(record)
        elif record is not None and not (
            replace and record.version < doc.version and record.digest != _digest(doc)
        ):
            plan.skipped.append(doc.doc_id)
        else:
            try:
                pending = _pending(doc, chunker, store.dim or encoder.dim, publish_max_bytes)
            except InvalidRequestError as exc:
                if strict:
                    raise
                plan.errors[doc.doc_id] = exc.message
                continue
            pending.replaces = record is not None or doc.doc_id in leftovers
            plan.pending.append(pending)
    try:
        _encode_and_publish(
            plan.pending, encoder, store, library, state, encode_batch, publish_max_bytes, progress
        )
    except BaseException:
        _drop_unpublished(store, plan.pending)
        raise
    for record in plan.finished:
        store.delete_versions_before(record.doc_id, record.version)
    if plan.finished and state is not None:
        state.bump_corpus()
    chunks = sum(len(p.chunks) for p in plan.pending) + sum(r.chunks for r in plan.finished)
    stored = len(plan.pending) + len(plan.finished)
    logger.info(
        "ingested %d documents (%d chunks), skipped %d, refused %d",
        stored,
        chunks,
        len(plan.skipped),
        len(plan.errors),
    )
    return IngestResult(
        stored=stored,
        skipped=len(plan.skipped),
        chunks=chunks,
        ids=ids,
        skipped_ids=plan.skipped,
        replaced=sum(p.replaces and p.doc.doc_id in records for p in plan.pending),
        errors=plan.errors,
    )


@dataclass
class _Plan:
    seen: set[str] = field(default_factory=set)
    skipped: list[str] = field(default_factory=list)
    finished: list[DocumentRecord] = field(default_factory=list)
    pending: list[_Pending] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)


def _encode_and_publish(
    pending: list[_Pending],
    encoder: PassageEncoder,
    store: MilvusStore,
    library: Library,
    state: StateStore | None,
    encode_batch: int,
    publish_max_bytes: int,
    progress: Progress | None,
) -> None:
    queue = [(p, i) for p in pending for i in range(len(p.chunks))]
    ready: list[_Pending] = []
    total = len(queue)
    publish = functools.partial(_publish, store, library, state, publish_max_bytes)
    for start in range(0, total, encode_batch):
        part = queue[start : start + encode_batch]
        vectors = encoder.encode([p.chunks[i].search_text for p, i in part])
        store.write_tokens([p.chunks[i] for p, i in part], vectors.tokens)
        for (p, i), vec in zip(part, vectors.dense, strict=True):
            p.dense[i] = vec
        ready.extend(p for p in dict.fromkeys(p for p, _ in part) if p.ready)
        if sum(p.row_bytes for p in ready) >= publish_max_bytes // 2:
            publish(ready)
            ready = []
        if progress is not None:
            progress(min(start + encode_batch, total), total)
    publish(ready)
    if pending:
        store.flush()


def _drop_unpublished(store: MilvusStore, pending: list[_Pending]) -> None:
    """After an interruption (a cancel, a failure), delete the token rows written for
    documents not published: nothing would ever read or overwrite them. (A process that
    dies cannot; the job's re-run writes the same ids over them.)"""
    for p in pending:
        if p.published:
            continue
        try:
            store.delete_version_tokens(p.doc.doc_id, p.doc.version)
        except StageUnavailableError:
            logger.warning("could not delete the token rows of %r", p.doc.doc_id)


def _digest(doc: Document) -> str:
    return content_digest(doc.text, doc.title, doc.metadata)


def _pending(doc: Document, chunker: Chunker, dim: int, max_bytes: int) -> _Pending:
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


def _publish(
    store: MilvusStore,
    library: Library,
    state: StateStore | None,
    max_bytes: int,
    ready: list[_Pending],
) -> None:
    """Publish ready documents, several to a call, each call at most ``max_bytes``; list
    them in the library; delete the versions they replace; change the corpus stamp."""
    group: list[_Pending] = []
    size = 0
    for p in ready:
        if group and size + p.row_bytes > max_bytes:
            _publish_group(store, library, group)
            group, size = [], 0
        group.append(p)
        size += p.row_bytes
    if group:
        _publish_group(store, library, group)
    if ready and state is not None:
        state.bump_corpus()


def _publish_group(store: MilvusStore, library: Library, group: list[_Pending]) -> None:
    chunks = [c for p in group for c in p.chunks]
    dense = np.stack([v for p in group for v in p.dense])
    store.publish(chunks, dense)
    for p in group:
        p.published = True
    now = time.time()
    library.put(
        [
            DocumentRecord(
                doc_id=p.doc.doc_id,
                title=p.doc.title,
                chunks=len(p.chunks),
                chars=len(p.doc.text),
                version=p.doc.version,
                digest=_digest(p.doc),
                ingested_at=now,
                metadata=p.doc.metadata,
            )
            for p in group
        ]
    )
    for p in group:
        if p.replaces:
            store.delete_versions_before(p.doc.doc_id, p.doc.version)
