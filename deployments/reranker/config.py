"""Configuration of the ColBERT late-interaction reranker stage."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from deployments.devices import Device

# [CLS], the ColBERT query/document marker and [SEP] must fit in every sequence.
MIN_SEQUENCE_LENGTH = 3


class RerankerConfig(BaseModel):
    """Settings of the ``Reranker`` deployment.

    Example:
        >>> RerankerConfig().query_maxlen
        32
        >>> RerankerConfig(model="  ")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        pydantic_core._pydantic_core.ValidationError: 1 validation error for RerankerConfig
        model
          Value error, model must be a checkpoint path or a Hugging Face id, got '  '; ...
    """

    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(
        None,
        description=(
            "Local path or Hugging Face id of a ColBERT checkpoint in the colbert-ir/colbertv2.0 "
            "layout (BERT encoder + `linear.weight` projection). None uses the packaged "
            "all-MiniLM-L6-v2 encoder's token embeddings (384-d, no projection)."
        ),
    )
    query_maxlen: int = Field(
        32,
        ge=MIN_SEQUENCE_LENGTH,
        le=512,
        description=(
            "Query length in tokens. ColBERT checkpoints pad queries with [MASK] tokens up to "
            "this length (query augmentation); the MiniLM default truncates to it."
        ),
    )
    doc_maxlen: int = Field(
        180,
        ge=MIN_SEQUENCE_LENGTH,
        le=512,
        description=(
            "Passage length in tokens before punctuation is dropped. The stored token matrix "
            "is further capped by what fits a Milvus VARCHAR (see `codec.max_tokens_for`)."
        ),
    )
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
    device: Device = Field(
        "auto", description="auto: CUDA when the replica has a GPU share, else CPU."
    )
    num_threads: int | None = Field(
        None,
        ge=1,
        description="torch intra-op threads per replica (`torch.set_num_threads`); None: the "
        "replica's CPU share rounded up (torch's default outside Ray).",
    )

    @field_validator("model")
    @classmethod
    def _model_not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError(
                f"model must be a checkpoint path or a Hugging Face id, got {value!r}; omit it "
                "(None) to use the packaged MiniLM encoder"
            )
        return value.strip() if value is not None else None
