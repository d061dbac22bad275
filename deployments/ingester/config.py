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


class JobsConfig(BaseModel):
    """Ingestion jobs (``POST /v1/ingest/jobs``): how they are run, leased and kept."""

    model_config = ConfigDict(extra="forbid")

    batch_documents: int = Field(
        default=32,
        ge=1,
        le=4096,
        description="Documents ingested between two saves of a job's counts; a replica "
        "that takes a job over redoes at most this many.",
    )
    lease_s: float = Field(
        default=30.0,
        ge=2,
        le=3600,
        description="A running job whose runner has not renewed its lease for this long is "
        "taken over by another (or the restarted) replica.",
    )
    heartbeat_s: float = Field(
        default=2.0,
        gt=0,
        le=60,
        description="How often a runner renews its lease, saves progress and looks for a "
        "cancel request.",
    )
    poll_s: float = Field(
        default=2.0, gt=0, le=60, description="How often an idle replica looks for jobs."
    )
    claim_settle_s: float = Field(
        default=0.3,
        ge=0,
        le=10,
        description="Pause between claiming a job and checking the claim held (another "
        "replica may have claimed it at the same time).",
    )
    store_outage_s: float = Field(
        default=300.0,
        ge=0,
        le=86_400,
        description="How long a job waits for an unreachable Milvus before it fails.",
    )
    max_active: int = Field(
        default=64,
        ge=1,
        le=100_000,
        description="Most jobs queued or running at once; more are refused with 503.",
    )
    max_documents: int = Field(
        default=100_000, ge=1, le=10_000_000, description="Most documents in one job."
    )
    retention_s: float = Field(
        default=7 * 86_400,
        gt=0,
        description="How long an ended job stays readable before it is forgotten.",
    )
    sched_idle: bool = Field(
        default=True,
        description="Run the job thread under Linux's SCHED_IDLE policy: it gets only the "
        "CPU cycles no other thread wants, so a bulk load on a machine shared with the "
        "query path takes what queries leave idle. False: use `nice`.",
    )
    nice: int = Field(
        default=10,
        ge=0,
        le=19,
        description="CPU niceness of the job thread when sched_idle is false (0: normal).",
    )

    @model_validator(mode="after")
    def _heartbeat_within_lease(self) -> JobsConfig:
        if self.heartbeat_s * 2 > self.lease_s:
            raise ValueError(
                f"jobs.heartbeat_s={self.heartbeat_s} must be at most half of "
                f"jobs.lease_s={self.lease_s}, or a live runner loses its jobs"
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
        default=256,
        ge=1,
        le=10000,
        description="Most documents one POST /v1/documents call accepts (jobs take more).",
    )
    num_threads: int | None = Field(
        default=None,
        ge=1,
        le=256,
        description="torch threads of the Ingester's encoder; None: the replica's CPU share "
        "rounded up (the encoders' own settings are the query stages').",
    )
    jobs: JobsConfig = Field(default_factory=JobsConfig, description="Ingestion jobs.")
