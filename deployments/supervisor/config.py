"""Typed, strict configuration of the agent supervisor."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from deployments.cache import CacheConfig
from deployments.supervisor.agents.config import AgentsConfig


class SupervisorConfig(BaseModel):
    """How the supervisor drives the stages."""

    model_config = ConfigDict(extra="forbid")

    rerank: bool = Field(
        default=True, description="Rerank first-stage hits with the ColBERT reranker."
    )
    rerank_depth: int = Field(
        default=50,
        ge=1,
        le=1000,
        description="Candidates the reranker scores (the first-stage order fills the rest); "
        "only these are fetched with their token vectors.",
    )
    fusion_k: int = Field(
        default=60, ge=1, le=1000, description="RRF constant for merging sub-question hits."
    )
    request_timeout_s: float = Field(
        default=180.0, gt=0, description="Longest one query may take end to end."
    )
    answer_cache: CacheConfig = Field(
        default_factory=lambda: CacheConfig(max_entries=1024, ttl_s=60),
        description="Whole answers kept per exact (query, top_k); an answer may lag newly "
        "ingested documents by up to ttl_s. max_entries 0 turns it off.",
    )
    agents: AgentsConfig = Field(
        default_factory=AgentsConfig,
        description="The agent supervisor: registered agents, selection, hop budget, "
        "answer validation (used per request with `agents: true`, or by default).",
    )
