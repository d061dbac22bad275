"""Typed adapter over ``pymilvus.MilvusClient``: chunks and their token vectors.

Every stage that needs the store builds one :class:`MilvusStore` from the same
:class:`~deployments.common.store.config.MilvusConfig` and reaches Milvus by URI: a
Milvus server on Kubernetes, ``milvus-lite server`` locally. Reads return typed hits;
writes go through :meth:`MilvusStore.write_tokens` then :meth:`MilvusStore.publish`, so a
document becomes searchable whole or not at all. Every value in an expression goes
through :mod:`deployments.common.store.expr`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import numpy as np

from deployments.common.entity_keys import entity_field, passage_keys
from deployments.common.ids import keep_latest_versions, versions_before
from deployments.common.store import schema
from deployments.common.store.config import MilvusConfig
from deployments.common.store.expr import field_equals, field_in, string_literal
from deployments.common.store.search import search_requests, to_hit
from deployments.errors import StageUnavailableError, StoreError
from deployments.types import Chunk, Hit, SearchMode

logger = logging.getLogger(__name__)

T = TypeVar("T")
#: Values per ``in [...]`` list, so an expression stays small.
IN_LIST_BATCH = 256
#: gRPC channel settings. Keepalive pings only while a call is in flight, at most once a
#: minute: pymilvus pings idle channels every 10 s by default, which a gRPC server with
#: default settings (Milvus Lite's) answers with GOAWAY "too_many_pings", dropping the
#: connection. Reconnect attempts at most 2 s apart: after an outage gRPC backs off up to
#: 120 s by default, so a replica could keep failing long after Milvus is back.
GRPC_OPTIONS = {
    "grpc.keepalive_time_ms": 60_000,
    "grpc.keepalive_permit_without_calls": 0,
    "grpc.initial_reconnect_backoff_ms": 250,
    "grpc.max_reconnect_backoff_ms": 2_000,
}


def skip_per_character_check() -> None:
    """Turn off pymilvus' client-side VARCHAR check of row writes, which walks every
    CHARACTER of a string in Python: pymilvus 3.0.2's row path passes one string where
    its checker expects a list of strings (``convert_to_str_array``), so a 40 KB token
    blob costs ~20 ms to pack. Measured on 300 SciFact abstracts (654 chunks, 2 threads):
    12.8 of 45 s of ingestion went there. The server still refuses an over-long VARCHAR
    (an input error, a 400 here), and this project bounds every string it writes.
    """
    from pymilvus.client import entity_helper

    entity_helper.CHECK_STR_ARRAY = False


def connect(cfg: MilvusConfig):
    """A ``MilvusClient`` for ``cfg.uri``, waiting up to ``cfg.connect_timeout_s`` for it to
    accept calls (stages and the Lite server start at the same time).

    Raises:
        StageUnavailableError: Milvus did not answer in time.
    """
    from pymilvus import MilvusClient

    skip_per_character_check()

    deadline = time.monotonic() + cfg.connect_timeout_s
    logged = 0.0
    while True:
        try:
            client = MilvusClient(
                cfg.uri, token=cfg.token(), timeout=cfg.timeout_s, grpc_options=GRPC_OPTIONS
            )
            client.list_collections()
            return client
        except Exception as exc:  # pymilvus raises MilvusException or grpc errors here
            now = time.monotonic()
            if now >= deadline:
                raise StageUnavailableError(
                    f"cannot reach Milvus at milvus.uri={cfg.uri!r} after "
                    f"{cfg.connect_timeout_s:.0f}s ({exc}). Locally, the graph's Milvus "
                    "deployment runs it (see its replica log); on a cluster, check the "
                    "Milvus service and MILVUS_TOKEN",
                    param="milvus.uri",
                ) from exc
            if now - logged > 10:
                logger.info("waiting for Milvus at %s (%s)", cfg.uri, type(exc).__name__)
                logged = now
            time.sleep(0.5)


class MilvusStore:
    """The chunk collection and the token-vector collection of one :class:`MilvusConfig`.

    Args:
        cfg: Where Milvus is and which collections to use.
        dim: Dense vector dimension. Stages that search or write chunks give it (the chunk
            collection is created or checked); the reranker, which only reads token
            vectors, passes None.
        client: A connected ``MilvusClient``; by default one is made with :func:`connect`.
    """

    def __init__(self, cfg: MilvusConfig, *, dim: int | None, client: Any = None) -> None:
        self.cfg = cfg
        self.dim = dim
        self.chunks = cfg.collection
        self.tokens = cfg.tokens_collection
        self._client = client if client is not None else connect(cfg)
        self._tracked: set[str] = set()
        self.call("schema check", self._ensure_collections)

    @property
    def client(self):
        """The connected ``MilvusClient`` (for the library and state adapters)."""
        return self._client

    def _ensure_collections(self) -> None:
        client = self._client
        schema.ensure_collection(client, self.tokens, lambda: schema.tokens_schema(client))
        if self.dim is not None:
            dim = self.dim
            fields = schema.ensure_collection(
                client, self.chunks, lambda: schema.chunks_schema(client, dim)
            )
            schema.check_dense_dim(fields, self.chunks, dim)

    def call(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run one client call; Milvus failures become errors that explain themselves.

        A Milvus that restarted (locally: the Milvus deployment replaced its replica) has
        its collections released; they are loaded again and the call retried once.
        """
        from pymilvus.exceptions import MilvusException

        try:
            try:
                return fn(*args, **kwargs)
            except MilvusException as exc:
                if not _released(exc):
                    raise
                logger.warning("Milvus at %s released the collections; loading them", self.cfg.uri)
                self._load()
                return fn(*args, **kwargs)
        except MilvusException as exc:
            if exc.is_input_error:
                raise StoreError(f"Milvus refused the {what}: {exc.message}") from exc
            raise StageUnavailableError(
                f"Milvus at {self.cfg.uri} failed the {what} ({exc.message}); retry shortly"
            ) from exc
        except (ConnectionError, TimeoutError) as exc:
            raise StageUnavailableError(
                f"Milvus at {self.cfg.uri} did not answer the {what} ({exc}); retry shortly"
            ) from exc

    def attach(self, collection: str, build: Callable[[Any], tuple], what: str) -> None:
        """Create or check ``collection`` (``build(client)`` gives its schema and index) and
        load it again after a Milvus restart: the library's and the state's collections."""
        client = self._client
        self._tracked.add(collection)
        self.call(what, schema.ensure_collection, client, collection, lambda: build(client))

    def scan(
        self, collection: str, where: str, fields: list[str], what: str, *, batch: int = 256
    ) -> list[dict[str, Any]]:
        """Every row of ``collection`` matching ``where`` (read ``batch`` at a time; Milvus
        caps one query's result, an iterator does not)."""

        def read() -> list[dict[str, Any]]:
            iterator = self._client.query_iterator(
                collection, batch_size=batch, filter=where, output_fields=fields
            )
            rows: list[dict[str, Any]] = []
            try:
                while part := iterator.next():
                    rows.extend(part)
            finally:
                iterator.close()
            return rows

        return self.call(what, read)

    def _load(self) -> None:
        """Load every collection this store reads: a restarted Milvus has released them."""
        self._client.load_collection(self.tokens)
        if self.dim is not None:
            self._client.load_collection(self.chunks)
        for name in sorted(self._tracked):
            self._client.load_collection(name)

    # -- writes -------------------------------------------------------------------------
    def write_tokens(self, chunks: Sequence[Chunk], blobs: Sequence[str]) -> None:
        """Store chunks' token vectors (upsert by chunk id: a re-run overwrites, never
        duplicates). Invisible to search until :meth:`publish` writes the chunks."""
        if len(chunks) != len(blobs):
            raise ValueError(f"{len(chunks)} chunks but {len(blobs)} token blobs")
        rows = [
            {
                "chunk_id": c.chunk_id,
                "doc_id": c.doc_id,
                "tokens": blob,
                "placeholder": schema.PLACEHOLDER,
            }
            for c, blob in zip(chunks, blobs, strict=True)
        ]
        if rows:
            self.call("token write", self._client.upsert, self.tokens, rows)

    def publish(self, chunks: Sequence[Chunk], dense: np.ndarray) -> None:
        """Make chunks searchable: all of them in ONE upsert call.

        Milvus applies one insert/upsert request at one timestamp (Milvus Lite: one WAL
        batch applied under one lock), so a search sees every chunk of the call or none.
        Their token vectors must have been written first (:meth:`write_tokens`). Each row
        carries the entity keys of its text (:func:`passage_keys`), for the agents' links.

        Shapes:
            dense: ``[len(chunks), dim]``.
        """
        if len(chunks) != len(dense):
            raise ValueError(f"{len(chunks)} chunks but {len(dense)} dense vectors")
        rows = [
            {
                "chunk_id": c.chunk_id,
                "doc_id": c.doc_id,
                "title": c.title,
                "text": c.text,
                "search_text": c.search_text,
                "dense": vec.tolist(),
                "metadata": c.metadata,
                "entities": entity_field(passage_keys(c.text)),
            }
            for c, vec in zip(chunks, dense, strict=True)
        ]
        if rows:
            self.call("chunk write", self._client.upsert, self.chunks, rows)

    def delete_versions_before(self, doc_id: str, version: str) -> None:
        """Delete the chunks (then token vectors) of ``doc_id``'s versions older than
        ``version``: one call per collection, chunks first so search stops seeing them."""
        expr = f"{field_equals('doc_id', doc_id)} and chunk_id < " + string_literal(
            versions_before(doc_id, version)
        )
        self.call("old version delete", self._client.delete, self.chunks, filter=expr)
        self.call("old version delete", self._client.delete, self.tokens, filter=expr)

    def delete_version_tokens(self, doc_id: str, version: str) -> None:
        """Delete the token rows of one version of ``doc_id`` (never published)."""
        low = versions_before(doc_id, version)  # "<doc>#<version>#"; "$" follows "#"
        expr = (
            f"{field_equals('doc_id', doc_id)} and chunk_id >= {string_literal(low)} "
            f"and chunk_id < {string_literal(low[:-1] + '$')}"
        )
        self.call("token delete", self._client.delete, self.tokens, filter=expr)

    def delete_document(self, doc_id: str) -> None:
        """Delete every chunk (then token vector) of ``doc_id``, whatever its version."""
        expr = field_equals("doc_id", doc_id)
        self.call("document delete", self._client.delete, self.chunks, filter=expr)
        self.call("document delete", self._client.delete, self.tokens, filter=expr)

    def flush(self) -> None:
        """Persist what was written (Milvus Lite searches unflushed rows much slower)."""
        self.call("flush", self._client.flush, self.chunks)
        self.call("flush", self._client.flush, self.tokens)

    # -- reads --------------------------------------------------------------------------
    def published_doc_ids(self, doc_ids: Sequence[str]) -> set[str]:
        """Which of ``doc_ids`` are searchable (their chunks were published)."""
        rows = self.query_in(self.chunks, "doc_id", doc_ids, ["doc_id"], "document lookup")
        return {r["doc_id"] for r in rows}

    def doc_ids_with_tokens(self, doc_ids: Sequence[str]) -> set[str]:
        """Which of ``doc_ids`` have token rows (published or left by an interrupted run)."""
        rows = self.query_in(self.tokens, "doc_id", doc_ids, ["doc_id"], "token lookup")
        return {r["doc_id"] for r in rows}

    def fetch_tokens(self, chunk_ids: Sequence[str]) -> dict[str, str]:
        """The stored token-vector blob of each chunk id found (missing ids are left out)."""
        rows = self.query_in(
            self.tokens, "chunk_id", chunk_ids, ["chunk_id", "tokens"], "token read"
        )
        return {r["chunk_id"]: r["tokens"] for r in rows}

    def rows(self, doc_id: str, *, tokens: bool = False) -> list[dict[str, Any]]:
        """Every stored row of one document (chunk rows, or token rows), by chunk id."""
        name, fields = (
            (self.tokens, ["chunk_id", "doc_id"])
            if tokens
            else (self.chunks, ["chunk_id", "doc_id", "title", "text"])
        )
        found = self.query_in(name, "doc_id", [doc_id], fields, "document read")
        return sorted(found, key=lambda r: r["chunk_id"])

    def query_in(
        self, collection: str, field: str, values: Sequence[str], fields: list[str], what: str
    ) -> list[dict[str, Any]]:
        """Rows of ``collection`` whose ``field`` is one of ``values`` (distinct values,
        :data:`IN_LIST_BATCH` to an expression)."""
        rows: list[dict[str, Any]] = []
        for batch in _batches(list(dict.fromkeys(values))):
            rows.extend(
                self.call(
                    what,
                    self._client.query,
                    collection,
                    filter=field_in(field, batch),
                    output_fields=fields,
                )
            )
        return rows

    def count(self, *, tokens: bool = False) -> int:
        """Rows in the chunk collection (or the token collection)."""
        return self.rows_in(self.tokens if tokens else self.chunks)

    def rows_in(self, collection: str) -> int:
        """Rows in ``collection``."""
        rows = self.call(
            "count", self._client.query, collection, filter="", output_fields=["count(*)"]
        )
        return int(rows[0]["count(*)"]) if rows else 0

    def search(
        self,
        texts: Sequence[str],
        vectors: np.ndarray,
        *,
        mode: SearchMode,
        limit: int,
        rrf_k: int = 60,
        where: str | None = None,
    ) -> list[list[Hit]]:
        """One best-first hit list per query; ``Hit.scores[mode]`` holds the score. Only
        chunks matching ``where`` (a Milvus expression from
        :mod:`deployments.common.store.filters`) are searched. A document being replaced
        shows one version: chunks of an older one seen beside a newer are dropped.

        Shapes:
            vectors: ``[len(texts), dim]`` (ignored in ``bm25`` mode).
        """
        if not texts:
            return []
        raw = self.call(
            "search",
            search_requests,
            self._client,
            self.chunks,
            texts,
            vectors,
            mode,
            limit,
            rrf_k,
            where,
        )
        return [keep_latest_versions([to_hit(h, mode) for h in hits], key=_hit_key) for hits in raw]

    def close(self) -> None:
        self._client.close()


def _hit_key(hit: Hit) -> tuple[str, str]:
    return hit.chunk_id, hit.doc_id


def _released(exc: Exception) -> bool:
    """Milvus refused a read because the collection is not loaded (code 101)."""
    message = str(getattr(exc, "message", exc))
    return getattr(exc, "code", None) == 101 or "released" in message or "not loaded" in message


def _batches(values: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(values), IN_LIST_BATCH):
        yield values[start : start + IN_LIST_BATCH]
