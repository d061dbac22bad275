"""Retriever deployment: a thin Serve shim over the embedder, chunker and Milvus store."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from ray import serve
from ray.serve.handle import DeploymentHandle

from deployments.retriever.chunking import Chunker
from deployments.retriever.config import RetrieverConfig
from deployments.retriever.core import ingest_documents, search
from deployments.retriever.embedder import Embedder
from deployments.retriever.store import MilvusStore
from deployments.types import Document, Hit, IngestResult

logger = logging.getLogger(__name__)


@serve.deployment(name="Retriever", ray_actor_options={"num_cpus": 0.5})
class Retriever:
    """Embeds queries and runs dense, BM25 or hybrid search; ingests documents.

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
        self._reranker = reranker
        self._write_lock = asyncio.Lock()

    async def retrieve(
        self, queries: list[str], *, limit: int | None = None, with_tokens: bool = True
    ) -> list[list[Hit]]:
        """One best-first hit list per query (``limit`` defaults to ``candidates``)."""
        return await asyncio.to_thread(
            search,
            queries,
            embedder=self.embedder,
            store=self.store,
            mode=self.cfg.mode,
            limit=limit or self.cfg.candidates,
            rrf_k=self.cfg.rrf_k,
            with_tokens=with_tokens,
        )

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


def build_retriever_deployment(cfg: RetrieverConfig, reranker) -> serve.Application:
    """The retriever bound to its config and the reranker it asks for token vectors."""
    return Retriever.bind(cfg.model_dump(), reranker)
