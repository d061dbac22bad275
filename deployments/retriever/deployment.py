"""Retriever deployment: a thin Serve shim over the query embedder and the Milvus store."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import numpy as np
from ray import serve

from deployments.batching import batched
from deployments.cache import CountingCache
from deployments.common.encoders.embedder import Embedder
from deployments.common.store.config import MilvusConfig
from deployments.common.store.milvus import MilvusStore
from deployments.metrics import cache_lookup_recorder
from deployments.observability.logs import route_stage_logs
from deployments.retriever.config import RetrieverConfig
from deployments.retriever.core import SearchRequest, embed_cached, search_batch
from deployments.types import Hit

logger = logging.getLogger(__name__)


@serve.deployment(name="Retriever", ray_actor_options={"num_cpus": 0.5})
class Retriever:
    """Embeds queries and runs dense, BM25 or hybrid search over the shared store.

    Concurrent ``retrieve`` calls are batched: their queries are embedded in one forward
    pass (repeated queries come from a cache) and handed to the store together. It holds
    no state of its own beside that cache, so it scales to any number of replicas.

    Args:
        config: A ``RetrieverConfig`` (or its dict form).
        milvus: The store's ``MilvusConfig`` (or its dict form).
        embedder: The query embedder; loaded from ``config`` when omitted.
        store: The store; connected from ``milvus`` when omitted.
    """

    def __init__(
        self,
        config: dict[str, Any] | RetrieverConfig,
        milvus: dict[str, Any] | MilvusConfig,
        *,
        embedder: Embedder | None = None,
        store: MilvusStore | None = None,
    ) -> None:
        route_stage_logs()  # this replica's deployments.* logs through Serve's logger
        self.cfg = RetrieverConfig.model_validate(config)
        self.embedder = embedder or Embedder(self.cfg.embedder)
        self.store = store or MilvusStore(
            MilvusConfig.model_validate(milvus), dim=self.embedder.dim
        )
        self.query_cache: CountingCache = CountingCache(
            self.cfg.embedder.query_cache, on_lookup=cache_lookup_recorder("query_embedding")
        )
        self._batched = batched(
            self._retrieve_batch,
            max_batch_size=self.cfg.max_batch_size,
            batch_wait_timeout_s=self.cfg.batch_wait_timeout_s,
        )

    async def retrieve(
        self, queries: list[str], limit: int | None = None, where: str | None = None
    ) -> list[list[Hit]]:
        """One best-first hit list per query (``limit`` defaults to ``candidates``), over
        the chunks matching ``where`` (a metadata filter expression; None: all)."""
        request = SearchRequest(tuple(queries), limit or self.cfg.candidates, where)
        return await self._batched(request)

    async def embed(self, texts: list[str]) -> list[list[float]]:
        """Query vectors of ``texts`` (the agent supervisor compares questions with its
        agents' descriptions by them)."""
        vectors = await asyncio.to_thread(self.embed_queries, list(texts))
        return vectors.tolist()

    async def _retrieve_batch(self, requests: list[SearchRequest]) -> list[list[list[Hit]]]:
        return await asyncio.to_thread(self.search_many, requests)

    def search_many(self, requests: list[SearchRequest]) -> list[list[list[Hit]]]:
        """The batch body: one embedding pass and one search per request shape."""
        return search_batch(
            requests,
            embed=self.embed_queries,
            store=self.store,
            mode=self.cfg.mode,
            rrf_k=self.cfg.rrf_k,
        )

    def embed_queries(self, queries: list[str]) -> np.ndarray:
        """Query vectors, from the cache where the exact query text was seen."""
        return embed_cached(queries, embed=self.embedder.embed, cache=self.query_cache)

    def check_health(self) -> None:
        """Healthy once constructed. A Milvus outage is not this replica's fault: calls
        then fail with 503, and restarting the replica would not bring Milvus back."""


def get_deployment_options(cfg: RetrieverConfig) -> dict[str, Any]:
    """``max_ongoing_requests`` lets a full batch gather while one runs (Serve's default is 5)."""
    return {"max_ongoing_requests": 2 * cfg.max_batch_size}


def build_retriever_deployment(cfg: RetrieverConfig, milvus: MilvusConfig) -> serve.Application:
    """The retriever bound to its config and the store it searches."""
    return Retriever.options(**get_deployment_options(cfg)).bind(
        cfg.model_dump(), milvus.model_dump()
    )
