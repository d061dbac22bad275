"""What ingestion stores for each chunk: its dense vector and its token vectors.

With the packaged MiniLM as both the dense embedder and the late-interaction encoder
(the defaults), both come from ONE forward pass: the token states are the encoder's
output, and the dense vector is their masked mean, normalised, exactly as
sentence-transformers computes it for that model. With a ColBERT checkpoint (or another
dense model) the two models differ and each passage goes through both.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from deployments.common.codec import encode_tokens, max_tokens_for
from deployments.common.encoders.checkpoint import packaged_model_dir
from deployments.common.encoders.config import EmbedderConfig, TokenEncoderConfig
from deployments.common.encoders.embedder import Embedder
from deployments.common.encoders.tokens import TokenEncoder, token_encoder_from

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PassageVectors:
    """Both vector kinds of a list of passages, in order.

    Shapes:
        dense: ``[n, dim]`` float32, L2-normalised; tokens: ``n`` codec strings.
    """

    dense: np.ndarray
    tokens: list[str]


def token_blobs(matrices: Sequence[np.ndarray], dim: int) -> list[str]:
    """Codec strings of token matrices, each cut to what fits a Milvus VARCHAR."""
    limit = max_tokens_for(dim)
    return [encode_tokens(m[:limit]) for m in matrices]


class PassageEncoder:
    """Encodes passages for storage.

    Args:
        tokens: The late-interaction token encoder.
        embedder: The dense embedder, or None to pool the token encoder's own states
            (one pass; only for a plain encoder such as the packaged MiniLM).
        pooled_max_length: Sequence length of the one-pass mode (the dense model's
            ``max_seq_length``).
    """

    def __init__(
        self,
        tokens: TokenEncoder,
        embedder: Embedder | None = None,
        *,
        pooled_max_length: int = 256,
    ) -> None:
        self._tokens = tokens
        self._embedder = embedder
        self._max_length = pooled_max_length
        # One forward pass at a time: callers on several threads (a job runner, a
        # synchronous request) take turns per batch instead of splitting the cores.
        self._lock = threading.Lock()

    @property
    def token_encoder(self) -> TokenEncoder:
        """The late-interaction encoder (queries are encoded with it too)."""
        return self._tokens

    @property
    def one_pass(self) -> bool:
        """True when both vector kinds come from one forward pass."""
        return self._embedder is None

    @property
    def dim(self) -> int:
        """Size of the dense vectors."""
        return self._tokens.dim if self._embedder is None else self._embedder.dim

    @property
    def tokenize(self) -> Callable[[str], list]:
        """The dense model's tokenizer, which chunk budgets are counted in."""
        return self._tokens.tokenize if self._embedder is None else self._embedder.tokenize

    def encode(self, texts: Sequence[str]) -> PassageVectors:
        """Both vector kinds of ``texts`` (thread-safe: one batch at a time)."""
        texts = list(texts)
        with self._lock:
            if self._embedder is None:
                dense, matrices = self._tokens.encode_passages_pooled(
                    texts, max_length=self._max_length
                )
            else:
                dense = self._embedder.embed(texts)
                matrices = self._tokens.encode_passages(texts)
        return PassageVectors(dense, token_blobs(matrices, self._tokens.dim))


def packaged_max_seq_length() -> int:
    """The packaged MiniLM's sentence-transformers ``max_seq_length`` (256)."""
    config = packaged_model_dir() / "sentence_bert_config.json"
    return int(json.loads(config.read_text(encoding="utf-8"))["max_seq_length"])


def load_passage_encoder(
    embedder: EmbedderConfig,
    tokens: TokenEncoderConfig,
    *,
    token_encoder: TokenEncoder | None = None,
    dense: Embedder | None = None,
) -> PassageEncoder:
    """One pass when both encoders are the packaged MiniLM (the defaults), else two.

    ``token_encoder`` and ``dense`` reuse models already loaded in this process.
    """
    encoder = token_encoder or token_encoder_from(tokens)
    if embedder.model is None and tokens.model is None:
        logger.info("passage encoder: packaged MiniLM, dense and token vectors in one pass")
        return PassageEncoder(encoder, pooled_max_length=packaged_max_seq_length())
    logger.info("passage encoder: %s (dense) and %s (tokens)", embedder.model, encoder.name)
    return PassageEncoder(encoder, dense or Embedder(embedder))
