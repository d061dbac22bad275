"""Typed, strict configuration of the retriever stage (the query side of search)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from deployments.common.encoders.config import EmbedderConfig
from deployments.types import SearchMode


class RetrieverConfig(BaseModel):
    """Retriever stage: query embeddings, search mode and depth.

    The store it searches is the application's ``milvus`` section; the Ingester embeds
    passages with this same ``embedder``.
    """

    model_config = ConfigDict(extra="forbid")

    embedder: EmbedderConfig = Field(default_factory=EmbedderConfig, description="Encoder.")
    mode: SearchMode = Field(
        default="hybrid", description="dense, bm25, or hybrid (dense + BM25 fused with RRF)."
    )
    rrf_k: int = Field(default=60, ge=1, le=1000, description="RRF smoothing constant k.")
    candidates: int = Field(
        default=50, ge=1, le=1000, description="Hits fetched per query for the reranker."
    )
    max_batch_size: int = Field(
        default=16,
        ge=1,
        le=256,
        description="Most concurrent retrieve calls served by one embedding pass.",
    )
    batch_wait_timeout_s: float = Field(
        default=0.005,
        ge=0.0,
        le=1.0,
        description="How long a partial batch of retrieve calls waits for more.",
    )
