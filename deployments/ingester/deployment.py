"""Ingester deployment: a thin Serve shim over the chunker, the passage encoder and the
store. Ingestion runs here, apart from the replicas that answer queries."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from ray import serve

from deployments.common.chunking import Chunker
from deployments.common.encoders.config import EmbedderConfig, TokenEncoderConfig
from deployments.common.encoders.passages import PassageEncoder, load_passage_encoder
from deployments.common.store.config import MilvusConfig
from deployments.common.store.milvus import MilvusStore
from deployments.errors import InvalidRequestError
from deployments.ingester.config import IngesterConfig
from deployments.ingester.core import ingest_documents
from deployments.observability.logs import route_stage_logs
from deployments.types import Document, IngestResult

logger = logging.getLogger(__name__)


@serve.deployment(name="Ingester", ray_actor_options={"num_cpus": 0.25})
class Ingester:
    """Chunks documents, encodes each chunk once (dense and token vectors), and stores
    each document all-or-nothing in the shared store.

    Args:
        config: An ``IngesterConfig`` (or its dict form).
        milvus: The store's ``MilvusConfig`` (or its dict form).
        embedder: The dense embedder's settings (the Retriever's, so passages and queries
            share a model).
        tokens: The token encoder's settings (the Reranker's).
        encoder: The passage encoder; loaded from ``embedder`` and ``tokens`` when omitted.
        store: The store; connected from ``milvus`` when omitted.
    """

    def __init__(
        self,
        config: dict[str, Any] | IngesterConfig,
        milvus: dict[str, Any] | MilvusConfig,
        embedder: dict[str, Any] | EmbedderConfig,
        tokens: dict[str, Any] | TokenEncoderConfig,
        *,
        encoder: PassageEncoder | None = None,
        store: MilvusStore | None = None,
    ) -> None:
        route_stage_logs()  # this replica's deployments.* logs through Serve's logger
        self.cfg = IngesterConfig.model_validate(config)
        self.encoder = encoder or load_passage_encoder(
            EmbedderConfig.model_validate(embedder), TokenEncoderConfig.model_validate(tokens)
        )
        self.store = store or MilvusStore(MilvusConfig.model_validate(milvus), dim=self.encoder.dim)
        self.chunker = Chunker(
            chunk_size=self.cfg.chunking.chunk_size,
            chunk_overlap=self.cfg.chunking.chunk_overlap,
            tokenize=self.encoder.tokenize,
        )
        # One ingestion at a time per replica: the models are not re-entrant, and the
        # CPU share is spent better on one batch than split between two.
        self._lock = asyncio.Lock()

    async def ingest(self, documents: list[Document]) -> IngestResult:
        """Store the documents not stored yet (see :func:`.core.ingest_documents`)."""
        limit = self.cfg.max_documents_per_request
        if len(documents) > limit:
            raise InvalidRequestError(
                f"{len(documents)} documents in one call, more than "
                f"ingester.max_documents_per_request={limit}; send them in several calls",
                param="documents",
            )
        async with self._lock:
            return await asyncio.to_thread(
                ingest_documents,
                documents,
                chunker=self.chunker,
                encoder=self.encoder,
                store=self.store,
                encode_batch=self.cfg.encode_batch,
                publish_max_bytes=self.cfg.publish_max_bytes,
            )

    def check_health(self) -> None:
        """Healthy once constructed (a Milvus outage gives 503s, not restarts)."""


def build_ingester_deployment(
    cfg: IngesterConfig,
    milvus: MilvusConfig,
    embedder: EmbedderConfig,
    tokens: TokenEncoderConfig,
) -> serve.Application:
    """The ingester bound to its config, the store, and the two encoders' settings."""
    return Ingester.bind(
        cfg.model_dump(), milvus.model_dump(), embedder.model_dump(), tokens.model_dump()
    )
