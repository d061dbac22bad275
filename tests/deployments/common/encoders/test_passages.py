"""The passage encoder: with the packaged MiniLM, one forward pass gives the dense vector
sentence-transformers computes and the token vectors the reranker's encoder computes."""

from __future__ import annotations

import numpy as np
import pytest

from deployments.common.codec import decode_tokens, max_tokens_for
from deployments.common.encoders.config import EmbedderConfig, TokenEncoderConfig
from deployments.common.encoders.embedder import Embedder
from deployments.common.encoders.passages import (
    PassageEncoder,
    load_passage_encoder,
    packaged_max_seq_length,
)
from deployments.common.encoders.tokens import token_encoder_from

TEXTS = [
    "Tides are the rise and fall of sea levels caused by the Moon.",
    "short",
    "A much longer passage about rivers, deltas and sediment. " * 30,
]


@pytest.fixture(scope="module")
def models():
    return Embedder(EmbedderConfig()), token_encoder_from(TokenEncoderConfig())


def test_one_pass_dense_vectors_equal_sentence_transformers(models) -> None:
    embedder, tokens = models
    encoder = load_passage_encoder(EmbedderConfig(), TokenEncoderConfig(), token_encoder=tokens)
    assert encoder.one_pass and encoder.dim == embedder.dim == 384
    assert packaged_max_seq_length() == 256
    out = encoder.encode(TEXTS)
    np.testing.assert_allclose(out.dense, embedder.embed(TEXTS), atol=1e-5)
    assert np.allclose(np.linalg.norm(out.dense, axis=1), 1.0, atol=1e-5)


def test_one_pass_token_vectors_match_the_rerankers_encoder(models) -> None:
    _, tokens = models
    out = PassageEncoder(tokens, pooled_max_length=256).encode(TEXTS)
    separate = tokens.encode_passages(TEXTS)
    for blob, matrix in zip(out.tokens, separate, strict=True):
        stored = decode_tokens(blob)
        assert stored.shape[1] == 384
        assert len(stored) == min(len(matrix), max_tokens_for(384))
    # Short passages fit both passes whole: the same tokens, up to the int8 codec.
    for blob, matrix in zip(out.tokens[:2], separate[:2], strict=True):
        np.testing.assert_allclose(decode_tokens(blob), matrix, atol=0.02)


def test_other_models_take_two_passes(models) -> None:
    embedder, tokens = models
    encoder = PassageEncoder(tokens, embedder)
    assert not encoder.one_pass
    out = encoder.encode(TEXTS[:2])
    np.testing.assert_allclose(out.dense, embedder.embed(TEXTS[:2]), atol=1e-6)
    assert len(out.tokens) == 2
