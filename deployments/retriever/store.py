"""Typed adapter over ``pymilvus.MilvusClient``: one collection of chunks.

Schema (one row per chunk):

- ``chunk_id`` VARCHAR primary key, ``doc_id`` VARCHAR, ``title`` VARCHAR
- ``text`` VARCHAR with an analyzer: the chunk as cited
- ``search_text`` VARCHAR with an analyzer: title + text, what BM25 and the encoders see
- ``sparse`` SPARSE_FLOAT_VECTOR filled by Milvus' BM25 function from ``search_text``
- ``dense`` FLOAT_VECTOR (COSINE)
- ``tokens`` VARCHAR: the chunk's compressed ColBERT passage token vectors
- ``metadata`` JSON

The same code talks to Milvus Lite (a ``.db`` file) and to a Milvus server (``http://``).
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from deployments.errors import ConfigError, StageUnavailableError
from deployments.retriever.config import MilvusConfig, SearchMode
from deployments.types import Chunk, Hit

logger = logging.getLogger(__name__)

VARCHAR_MAX = 65535
_OUTPUT = ["chunk_id", "doc_id", "title", "text"]


def _quote(values: Iterable[str]) -> str:
    """A Milvus ``in`` list literal: ``["a", "b"]`` (JSON escaping is Milvus-compatible)."""
    return json.dumps(list(values))


class MilvusStore:
    """Chunks with dense, BM25 and token-vector fields in one Milvus collection.

    Args:
        cfg: Connection and collection settings.
        dim: Dense vector dimension; checked against an existing collection.
        uri: Overrides ``cfg.uri`` (already resolved to an absolute path for Lite).
    """

    def __init__(self, cfg: MilvusConfig, *, dim: int, uri: str | None = None) -> None:
        from pymilvus import MilvusClient

        self.cfg = cfg
        self.dim = dim
        self.name = cfg.collection
        self.uri = uri or cfg.resolved_uri()
        try:
            if cfg.is_lite:
                Path(self.uri).parent.mkdir(parents=True, exist_ok=True)
            self._client = MilvusClient(self.uri, token=cfg.token(), timeout=cfg.timeout_s)
        except Exception as exc:  # pymilvus raises several unrelated types here
            hint = (
                " A Milvus Lite file can be opened by one process only: stop the other "
                "process, or run a Milvus server and set milvus.uri to it."
                if cfg.is_lite
                else ""
            )
            raise StageUnavailableError(
                f"cannot open Milvus at milvus.uri={self.uri!r}: {exc}.{hint}", param="milvus.uri"
            ) from exc
        try:
            self.ensure_collection()
        except ConfigError:
            self._client.close()
            raise

    # -- schema -------------------------------------------------------------------------
    def ensure_collection(self) -> None:
        """Create the collection if missing; check the dimension if present; load it."""
        if self._client.has_collection(self.name):
            self._check_dim()
        else:
            self._create()
        self._client.load_collection(self.name)

    def _create(self) -> None:
        from pymilvus import DataType, Function, FunctionType

        schema = self._client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("chunk_id", DataType.VARCHAR, is_primary=True, max_length=128)
        schema.add_field("doc_id", DataType.VARCHAR, max_length=128)
        schema.add_field("title", DataType.VARCHAR, max_length=2048)
        schema.add_field("text", DataType.VARCHAR, max_length=VARCHAR_MAX)
        schema.add_field(
            "search_text", DataType.VARCHAR, max_length=VARCHAR_MAX, enable_analyzer=True
        )
        schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        schema.add_field("dense", DataType.FLOAT_VECTOR, dim=self.dim)
        schema.add_field("tokens", DataType.VARCHAR, max_length=VARCHAR_MAX)
        schema.add_field("metadata", DataType.JSON)
        schema.add_function(
            Function(
                name="bm25",
                function_type=FunctionType.BM25,
                input_field_names=["search_text"],
                output_field_names=["sparse"],
            )
        )
        index = self._client.prepare_index_params()
        index.add_index("dense", index_type="AUTOINDEX", metric_type="COSINE")
        index.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
        self._client.create_collection(self.name, schema=schema, index_params=index)
        logger.info("created Milvus collection %s (dim %d) at %s", self.name, self.dim, self.uri)

    def _check_dim(self) -> None:
        fields = self._client.describe_collection(self.name)["fields"]
        dense = next((f for f in fields if f["name"] == "dense"), None)
        have = int(dense["params"]["dim"]) if dense else None
        if have != self.dim:
            raise ConfigError(
                f"collection {self.name!r} holds {have}-d vectors but the embedder gives "
                f"{self.dim}-d; use another milvus.collection or the model it was built with",
                param="milvus.collection",
            )

    # -- writes -------------------------------------------------------------------------
    def existing_doc_ids(self, doc_ids: Sequence[str]) -> set[str]:
        """Which of ``doc_ids`` already have chunks stored."""
        found: set[str] = set()
        for start in range(0, len(doc_ids), 256):
            batch = doc_ids[start : start + 256]
            rows = self._client.query(
                self.name, filter=f"doc_id in {_quote(batch)}", output_fields=["doc_id"]
            )
            found.update(r["doc_id"] for r in rows)
        return found

    def upsert(self, chunks: Sequence[Chunk], dense: np.ndarray, tokens: Sequence[str]) -> None:
        """Store chunks with their vectors, then flush so searches see them at full speed.

        An upsert keyed by chunk id: two writers racing on one document leave one copy.

        Shapes:
            dense: ``[len(chunks), dim]``; tokens: one codec string per chunk.
        """
        if not (len(chunks) == len(dense) == len(tokens)):
            raise ValueError("chunks, dense vectors and token blobs differ in length")
        rows = [
            {
                "chunk_id": c.chunk_id,
                "doc_id": c.doc_id,
                "title": c.title,
                "text": c.text,
                "search_text": c.search_text,
                "dense": vec.tolist(),
                "tokens": blob,
                "metadata": c.metadata,
            }
            for c, vec, blob in zip(chunks, dense, tokens, strict=True)
        ]
        for start in range(0, len(rows), 128):
            self._client.upsert(self.name, rows[start : start + 128])
        self._client.flush(self.name)

    def count(self) -> int:
        stats = self._client.get_collection_stats(self.name)
        return int(stats.get("row_count", 0))

    # -- reads --------------------------------------------------------------------------
    def search(
        self,
        texts: Sequence[str],
        vectors: np.ndarray,
        *,
        mode: SearchMode,
        limit: int,
        rrf_k: int = 60,
        with_tokens: bool = False,
        tokens_for: int | None = None,
    ) -> list[list[Hit]]:
        """One hit list per query, best first.

        Args:
            with_tokens: Attach the stored token vectors (``Hit.token_blob``).
            tokens_for: With ``with_tokens``, attach them to the first this many hits of
                each list only (None: all), fetched by id in one call afterwards. They are
                the bulk of a row (~65 KB each), so fetching only what the reranker will
                score saves most of a search's time.

        Shapes:
            vectors: ``[len(texts), dim]`` (ignored in ``bm25`` mode).
        """
        if with_tokens and tokens_for is not None and tokens_for < limit:
            lists = self._search(
                texts, vectors, mode=mode, limit=limit, rrf_k=rrf_k, fields=_OUTPUT
            )
            return self._attach_tokens(lists, tokens_for)
        fields = _OUTPUT + (["tokens"] if with_tokens else [])
        return self._search(texts, vectors, mode=mode, limit=limit, rrf_k=rrf_k, fields=fields)

    def _attach_tokens(self, lists: list[list[Hit]], depth: int) -> list[list[Hit]]:
        ids = list(dict.fromkeys(h.chunk_id for hits in lists for h in hits[:depth]))
        if not ids:
            return lists
        rows = self._client.get(self.name, ids=ids, output_fields=["chunk_id", "tokens"])
        blobs = {r["chunk_id"]: r["tokens"] for r in rows}
        return [
            [
                dataclasses.replace(h, token_blob=blobs.get(h.chunk_id)) if i < depth else h
                for i, h in enumerate(hits)
            ]
            for hits in lists
        ]

    def _search(
        self,
        texts: Sequence[str],
        vectors: np.ndarray,
        *,
        mode: SearchMode,
        limit: int,
        rrf_k: int,
        fields: list[str],
    ) -> list[list[Hit]]:
        from pymilvus import AnnSearchRequest, RRFRanker

        if mode == "dense":
            raw = self._client.search(
                self.name,
                data=vectors.tolist(),
                anns_field="dense",
                limit=limit,
                output_fields=fields,
                search_params={"metric_type": "COSINE"},
            )
        elif mode == "bm25":
            raw = self._client.search(
                self.name,
                data=list(texts),
                anns_field="sparse",
                limit=limit,
                output_fields=fields,
                search_params={"metric_type": "BM25"},
            )
        else:
            # One call per query: Milvus Lite took longer for one hybrid call of 8 queries
            # than for 8 calls of one (146 vs 118 ms on 2,189 chunks, docs/PERFORMANCE.md).
            raw = []
            for text, vec in zip(texts, vectors, strict=True):
                reqs = [
                    AnnSearchRequest(
                        data=[vec.tolist()], anns_field="dense", param={}, limit=limit
                    ),
                    AnnSearchRequest(data=[text], anns_field="sparse", param={}, limit=limit),
                ]
                raw.extend(
                    self._client.hybrid_search(
                        self.name, reqs, ranker=RRFRanker(rrf_k), limit=limit, output_fields=fields
                    )
                )
        return [[_to_hit(h, bm25=mode == "bm25") for h in hits] for hits in raw]

    def close(self) -> None:
        self._client.close()


def _to_hit(hit: dict, *, bm25: bool) -> Hit:
    entity = hit.get("entity", hit)
    score = float(hit["distance"])
    if bm25:  # Milvus Lite reports BM25 as a negated distance; a server as the score
        score = abs(score)
    return Hit(
        chunk_id=str(entity.get("chunk_id", hit.get("chunk_id"))),
        doc_id=entity["doc_id"],
        title=entity.get("title", ""),
        text=entity["text"],
        score=score,
        token_blob=entity.get("tokens"),
    )
