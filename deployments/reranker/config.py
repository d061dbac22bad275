"""Configuration of the ColBERT late-interaction reranker stage."""

from __future__ import annotations

from pydantic import Field

from deployments.common.encoders.config import TokenEncoderConfig


class RerankerConfig(TokenEncoderConfig):
    """Settings of the ``Reranker`` deployment: its token encoder (the same settings the
    Ingester encodes passages with) plus how rankings are fused and requests batched.

    Example:
        >>> RerankerConfig().first_stage_weight
        0.3
        >>> RerankerConfig(max_batch_size=4).token_encoder().model_dump().keys() >= {"model"}
        True
    """

    first_stage_weight: float = Field(
        0.3,
        ge=0.0,
        le=1.0,
        description=(
            "Weight of the retriever's ranking when it is fused with the MaxSim ranking by "
            "weighted reciprocal rank fusion; 0 ranks by MaxSim alone, 1 keeps the retriever's "
            "order. 0.3 measured best with the packaged MiniLM reranker on SciFact "
            "(docs/QUALITY.md); a trained ColBERT checkpoint may want less."
        ),
    )
    fusion_k: int = Field(
        60, ge=1, le=1000, description="RRF constant of the first-stage/MaxSim fusion."
    )
    max_batch_size: int = Field(
        16,
        ge=1,
        le=256,
        description="Most rerank requests whose queries are encoded in one forward pass.",
    )
    batch_wait_timeout_s: float = Field(
        0.005,
        ge=0.0,
        le=1.0,
        description="How long a partial batch of rerank requests waits for more requests.",
    )
