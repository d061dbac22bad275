"""The document library: one row per stored document in ``<collection>_docs``.

A document's chunks carry its version in their ids; its library row says which version
is current, how many chunks it has, and when it was ingested. The row is written after
the chunks are published, so the library never lists a document search cannot find; a
crash between the two leaves chunks without a row, which a re-run of the same job
recognises and completes (see :mod:`deployments.ingester.core`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from deployments.common.store import schema
from deployments.common.store.expr import field_equals, string_literal
from deployments.common.store.milvus import MilvusStore
from deployments.types import DocumentRecord

logger = logging.getLogger(__name__)

_FIELDS = ["doc_id", "title", "version", "digest", "chunks", "chars", "ingested_at", "metadata"]
#: Rows per page of the id scan behind :meth:`Library.page`.
SCAN_BATCH = 4096


@dataclass(frozen=True)
class Page:
    """One page of the library, in document id order."""

    documents: list[DocumentRecord]
    total: int
    next_after: str | None
    """Pass as ``after`` for the next page; None on the last one."""


class Library:
    """Reads and writes the document library of ``store``'s collections.

    Args:
        store: The chunk and token collections' adapter (its client and error mapping
            are shared).
    """

    def __init__(self, store: MilvusStore) -> None:
        self.store = store
        self.name = store.cfg.docs_collection
        store.attach(self.name, schema.docs_schema, "library schema check")

    def put(self, records: Sequence[DocumentRecord]) -> None:
        """Write (or overwrite) the rows of ``records``, all in one call."""
        rows = [
            {
                "doc_id": r.doc_id,
                "title": r.title,
                "version": r.version,
                "digest": r.digest,
                "chunks": r.chunks,
                "chars": r.chars,
                "ingested_at": r.ingested_at,
                "metadata": r.metadata,
                "placeholder": schema.PLACEHOLDER,
            }
            for r in records
        ]
        if rows:
            self.store.call("library write", self.store.client.upsert, self.name, rows)

    def records(self, doc_ids: Sequence[str]) -> dict[str, DocumentRecord]:
        """The rows of those of ``doc_ids`` that are stored."""
        rows = self.store.query_in(self.name, "doc_id", doc_ids, _FIELDS, "library read")
        return {r["doc_id"]: _record(r) for r in rows}

    def get(self, doc_id: str) -> DocumentRecord | None:
        return self.records([doc_id]).get(doc_id)

    def remove(self, doc_id: str) -> None:
        self.store.call(
            "library delete",
            self.store.client.delete,
            self.name,
            filter=field_equals("doc_id", doc_id),
        )

    def page(self, *, limit: int, after: str | None = None) -> Page:
        """Up to ``limit`` documents whose ids sort after ``after``, in id order.

        Milvus returns query rows in no particular order, so the ids after ``after`` are
        scanned (ids only, :data:`SCAN_BATCH` at a time), sorted, and the page's rows
        read: the cost grows with the size of the library (not measured beyond the tests').
        """
        where = f"doc_id > {string_literal(after)}" if after is not None else 'doc_id != ""'
        rows = self.store.scan(self.name, where, ["doc_id"], "library scan", batch=SCAN_BATCH)
        ids = sorted(r["doc_id"] for r in rows)
        total = self.count()
        chosen = ids[:limit]
        found = self.records(chosen)
        documents = [found[i] for i in chosen if i in found]
        next_after = chosen[-1] if len(ids) > limit else None
        return Page(documents, total, next_after)

    def count(self) -> int:
        return self.store.rows_in(self.name)


def _record(row: dict) -> DocumentRecord:
    return DocumentRecord(
        doc_id=row["doc_id"],
        title=row["title"],
        chunks=int(row["chunks"]),
        chars=int(row["chars"]),
        version=row["version"],
        digest=row["digest"],
        ingested_at=float(row["ingested_at"]),
        metadata=row.get("metadata") or {},
    )
