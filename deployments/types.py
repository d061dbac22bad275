"""Typed values passed between stages (over Ray handles, so plain picklable dataclasses)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

Route = Literal["simple", "complex", "comparative"]
SearchMode = Literal["dense", "bm25", "hybrid"]


@dataclass(frozen=True)
class Document:
    """A document to ingest. ``doc_id`` is already resolved (given, or a content hash);
    ``version`` (:func:`deployments.common.ids.version_stamp`) is set when it is submitted,
    and names its chunks."""

    doc_id: str
    text: str
    title: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    version: str = ""


@dataclass(frozen=True)
class DocumentRecord:
    """A stored document, as the library lists it (one row per document)."""

    doc_id: str
    title: str
    chunks: int
    chars: int
    version: str
    digest: str
    ingested_at: float
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Chunk:
    """One piece of a document, the unit that is embedded, searched and cited."""

    chunk_id: str
    doc_id: str
    title: str
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def search_text(self) -> str:
        """What the encoders and BM25 see: the title gives a chunk its context."""
        return f"{self.title}\n{self.text}" if self.title else self.text


@dataclass(frozen=True)
class Hit:
    """A retrieved chunk: what the supervisor carries (ids, scores, text; never vectors).

    ``score`` is the current ranking score (higher is better); ``scores`` keeps each
    stage's own score under its name, so a reply shows which stages ran: the first stage's
    ``dense``, ``bm25`` or ``hybrid`` (RRF of both), ``subquery_rrf`` when sub-question
    lists were merged, the reranker's ``maxsim`` and ``rerank`` (MaxSim fused with the
    first-stage ranking).
    """

    chunk_id: str
    doc_id: str
    title: str
    text: str
    score: float
    scores: dict[str, float] = field(default_factory=dict)

    def scored(self, name: str, score: float) -> Hit:
        """This hit ranked by ``score``, recorded as the ``name`` stage's score.

        >>> Hit("c", "d", "", "t", 0.5, {"hybrid": 0.5}).scored("rerank", 0.9).scores
        {'hybrid': 0.5, 'rerank': 0.9}
        """
        return replace(self, score=score, scores={**self.scores, name: score})


@dataclass(frozen=True)
class Candidate:
    """What the reranker is sent for one hit: its id (the reranker fetches the chunk's
    token vectors from the store by it) and its first-stage score."""

    chunk_id: str
    score: float


@dataclass(frozen=True)
class Reranked:
    """The reranker's verdict on one candidate: the ranking score and the raw MaxSim."""

    chunk_id: str
    score: float
    maxsim: float


@dataclass(frozen=True)
class Rewrite:
    """What the query rewriter produced for one query.

    ``original`` is the question as asked; in a conversation, the last user message made
    standalone from the earlier turns (what the generator answers).
    """

    original: str
    query: str
    route: Route
    sub_queries: tuple[str, ...] = ()
    expansions: tuple[str, ...] = ()

    @property
    def fans_out(self) -> bool:
        """Retrieve once per sub-question (a complex or comparative route that has some)."""
        return self.route != "simple" and bool(self.sub_queries)

    @property
    def search_queries(self) -> tuple[str, ...]:
        """Queries to retrieve with: the rewritten query, then sub-questions."""
        seen: dict[str, None] = {self.query: None}
        for q in self.sub_queries:
            seen.setdefault(q, None)
        return tuple(seen)


@dataclass(frozen=True)
class IngestResult:
    """Outcome of one ingestion call."""

    stored: int
    skipped: int
    chunks: int
    ids: list[str]
    skipped_ids: list[str] = field(default_factory=list)
    replaced: int = 0
    """Of ``stored``, documents that replaced an older version."""
    errors: dict[str, str] = field(default_factory=dict)
    """Documents refused (id -> why); only when the caller asked to go on past them."""


@dataclass(frozen=True)
class Generation:
    """An answer and which generator produced it."""

    answer: str
    generator: Literal["vllm", "extractive"]
    model: str | None = None
    completion_tokens: int | None = None
    prompt_tokens: int | None = None
    finish_reason: Literal["stop", "length"] = "stop"


Turn = tuple[str, str]
"""One earlier turn of a conversation: ``(role, content)``, role user/assistant/system."""


@dataclass(frozen=True)
class Sampling:
    """What one request asks of the LLM beyond the configured generation settings
    (OpenAI's parameters; None: the configured value). The extractive generator has no
    sampling and ignores them."""

    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: tuple[str, ...] = ()


DEFAULT_SAMPLING = Sampling()


@dataclass(frozen=True)
class Delta:
    """A piece of an answer being written: streamed ahead of the whole :class:`Answer`."""

    text: str


@dataclass(frozen=True)
class Plan:
    """How much work the supervisor spends on one query: the full graph, or a cheaper
    plan the ingress chose because the full one would miss the request's deadline.

    >>> Plan().degraded
    ()
    >>> Plan("light", rerank=False, extractive=True).degraded
    ('no_rerank', 'extractive')
    """

    name: str = "full"
    rerank_depth: int | None = None  # None: supervisor.rerank_depth
    rerank: bool = True
    extractive: bool = False  # answer from the passages instead of calling the LLM

    @property
    def degraded(self) -> tuple[str, ...]:
        """What this plan gives up against the full graph, as the reply reports it."""
        given_up = []
        if not self.rerank:
            given_up.append("no_rerank")
        elif self.rerank_depth is not None:
            given_up.append(f"rerank_depth={self.rerank_depth}")
        if self.extractive:
            given_up.append("extractive")
        return tuple(given_up)


FULL_PLAN = Plan()


@dataclass(frozen=True)
class Answer:
    """What the supervisor returns for one query."""

    answer: str
    citations: list[Hit]
    generator: Literal["vllm", "extractive"]
    route: Route
    timings_ms: dict[str, float]
    sub_queries: tuple[str, ...] = ()
    cached: bool = False
    stages: tuple[str, ...] = ()
    usage: dict[str, int | None] | None = None
    degraded: tuple[str, ...] = ()
    finish_reason: Literal["stop", "length"] = "stop"
    trace: dict[str, Any] | None = None  # the agent supervisor's decisions (agents mode)


@dataclass(frozen=True)
class Retrieval:
    """The retrieval half of a query (rewrite, search, rerank), without an answer."""

    hits: list[Hit]
    route: Route
    timings_ms: dict[str, float]
    sub_queries: tuple[str, ...] = ()
    stages: tuple[str, ...] = ()
    degraded: tuple[str, ...] = ()
    trace: dict[str, Any] | None = None  # the agent supervisor's decisions (agents mode)


JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
JOB_ENDED: tuple[JobStatus, ...] = ("succeeded", "failed", "cancelled")


@dataclass
class IngestJob:
    """An ingestion job as its runner records it (and as ``GET /v1/ingest/jobs/{id}``
    shows it). Counts cover the documents before ``next_index``, which are final."""

    job_id: str
    status: JobStatus
    version: str
    replace: bool
    total: int
    """Documents submitted."""
    chars: int
    """Characters of text submitted (progress is measured in them)."""
    done: int = 0
    skipped: int = 0
    failed: int = 0
    chunks: int = 0
    next_index: int = 0
    progress: float = 0.0
    errors: list[dict[str, str]] = field(default_factory=list)
    message: str | None = None
    """Why the job failed as a whole (None otherwise)."""
    created_at: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None
    updated_at: float = 0.0
    owner: str = ""
    heartbeat: float = 0.0
    attempts: int = 0
    """Runs started (more than one: it was taken over after its runner died)."""
