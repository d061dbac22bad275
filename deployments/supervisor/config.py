"""Typed, strict configuration of the agent supervisor."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class SupervisorConfig(BaseModel):
    """How the supervisor drives the stages."""

    model_config = ConfigDict(extra="forbid")

    rerank: bool = Field(
        default=True, description="Rerank first-stage hits with the ColBERT reranker."
    )
    fusion_k: int = Field(
        default=60, ge=1, le=1000, description="RRF constant for merging sub-question hits."
    )
    request_timeout_s: float = Field(
        default=180.0, gt=0, description="Longest one query may take end to end."
    )
