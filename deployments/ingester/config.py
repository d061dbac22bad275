"""Typed, strict configuration of the ingestion stage."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


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


class IngesterConfig(BaseModel):
    """Ingester stage: chunking, encoding batch and the size of one atomic write.

    Passages are embedded with ``retriever.embedder`` and token-encoded with the
    reranker's encoder settings, so what is stored matches what queries are compared with.
    """

    model_config = ConfigDict(extra="forbid")

    chunking: ChunkingConfig = Field(default_factory=ChunkingConfig, description="Chunking.")
    encode_batch: int = Field(
        default=64,
        ge=1,
        le=4096,
        description="Chunks encoded in one forward pass (across documents); their token "
        "vectors are written after each pass.",
    )
    publish_max_bytes: int = Field(
        default=64 * 1024**2,
        ge=1024**2,
        le=200 * 1024**2,
        description="Largest single write of chunk rows. A document is always written in one "
        "call (so it appears whole); one whose rows exceed this is refused with a 400.",
    )
    max_documents_per_request: int = Field(
        default=256, ge=1, le=10000, description="Most documents one ingestion call accepts."
    )
