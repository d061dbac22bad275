"""Retriever deployment: a thin Serve shim over the embedder, chunker and Milvus store."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from ray import serve
from ray.serve.handle import DeploymentHandle

from deployments.cache import CountingCache
from deployments.metrics import cache_lookup_recorder
from deployments.retriever.chunking import Chunker
from deployments.retriever.config import RetrieverConfig
from deployments.retriever.core import SearchRequest, embed_cached, ingest_documents, search_batch
from deployments.retriever.embedder import Embedder
from deployments.retriever.store import MilvusStore
from deployments.types import Document, Hit, IngestResult

logger = logging.getLogger(__name__)


@serve.deployment(name="Retriever", ray_actor_options={"num_cpus": 0.5})
class Retriever:
    """Embeds queries and runs dense, BM25 or hybrid search; ingests documents.

    Concurrent ``retrieve`` calls are batched: their queries are embedded in one forward
    pass (repeated queries come from a cache) and handed to the store together.

    Args:
        config: A ``RetrieverConfig`` (or its dict form).
        reranker: Handle of the reranker, which computes passage token vectors at ingestion.
    """

    def __init__(
        self, config: dict[str, Any] | RetrieverConfig, reranker: DeploymentHandle
    ) -> None:
        self.cfg = RetrieverConfig.model_validate(config)
        self.embedder = Embedder(self.cfg.embedder)
        self.store = MilvusStore(self.cfg.milvus, dim=self.embedder.dim)
        self.chunker = Chunker(
            chunk_size=self.cfg.chunking.chunk_size,
            chunk_overlap=self.cfg.chunking.chunk_overlap,
            tokenize=self.embedder.tokenize,
        )
        self.query_cache: CountingCache = CountingCache(
            self.cfg.embedder.query_cache, on_lookup=cache_lookup_recorder("query_embedding")
        )
        self._reranker = reranker
        self._write_lock = asyncio.Lock()
        # Per-instance @serve.batch queue (see the Reranker for why not class-level).
        self._batched = serve.batch(
            max_batch_size=self.cfg.max_batch_size,
            batch_wait_timeout_s=self.cfg.batch_wait_timeout_s,
        )(self._retrieve_batch)

    async def retrieve(
        self,
        queries: list[str],
        tokens_for: int | None = None,
        *,
        limit: int | None = None,
        with_tokens: bool = True,
    ) -> list[list[Hit]]:
        """One best-first hit list per query (``limit`` defaults to ``candidates``).

        ``tokens_for``: the first this many hits of each list carry their token vectors
        for the reranker (None: all of them); the others come without.
        """
        request = SearchRequest(
            tuple(queries), limit or self.cfg.candidates, with_tokens, tokens_for
        )
        return await self._batched(request)

    async def _retrieve_batch(self, requests: list[SearchRequest]) -> list[list[list[Hit]]]:
        return await asyncio.to_thread(self.search_many, requests)

    def search_many(self, requests: list[SearchRequest]) -> list[list[list[Hit]]]:
        """The batch body without Ray: one embedding pass and search per request shape."""
        return search_batch(
            requests,
            embed=self.embed_queries,
            store=self.store,
            mode=self.cfg.mode,
            rrf_k=self.cfg.rrf_k,
        )

    def embed_queries(self, queries: list[str]):
        """Query vectors, from the cache where the exact query text was seen."""
        return embed_cached(queries, embed=self.embedder.embed, cache=self.query_cache)

    async def ingest(self, documents: list[Document]) -> IngestResult:
        """Store documents not stored yet (serialised, so concurrent calls cannot duplicate)."""
        async with self._write_lock:
            return await ingest_documents(
                documents,
                chunker=self.chunker,
                embedder=self.embedder,
                store=self.store,
                encode_passages=self._encode_passages,
            )

    async def _encode_passages(self, texts: list[str]) -> list[str]:
        return await self._reranker.encode_passages.remote(texts)

    async def count(self) -> int:
        return await asyncio.to_thread(self.store.count)

    def check_health(self) -> None:
        self.store.count()


def get_deployment_options(cfg: RetrieverConfig) -> dict[str, Any]:
    """``max_ongoing_requests`` lets a full batch gather while one runs (Serve's default is 5)."""
    return {"max_ongoing_requests": 2 * cfg.max_batch_size}


def build_retriever_deployment(cfg: RetrieverConfig, reranker) -> serve.Application:
    """The retriever bound to its config and the reranker it asks for token vectors."""
    return Retriever.options(**get_deployment_options(cfg)).bind(cfg.model_dump(), reranker)
