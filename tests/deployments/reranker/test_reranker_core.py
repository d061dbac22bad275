import numpy as np
import pytest

from deployments.errors import ConfigError, InvalidRequestError
from deployments.reranker.codec import decode_tokens, encode_tokens, max_tokens_for
from deployments.reranker.core import passage_blobs, rerank
from deployments.reranker.maxsim import maxsim
from deployments.types import Hit


def _unit(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    x = rng.standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _hit(i: int, blob: str | None, score: float = 0.5) -> Hit:
    return Hit(f"c{i}", f"d{i}", "title", f"text {i}", score, blob)


def test_rerank_sorts_by_maxsim_and_replaces_scores():
    rng = np.random.default_rng(0)
    query = _unit(rng, 4, 16)
    docs = [_unit(rng, n, 16) for n in (3, 9, 5, 7)]
    hits = [_hit(i, encode_tokens(d), score=1.0 - i / 10) for i, d in enumerate(docs)]
    expected = maxsim(query, [decode_tokens(h.token_blob) for h in hits])

    out = rerank(query, hits, top_k=3)

    order = np.argsort(-expected)[:3]
    assert [h.chunk_id for h in out] == [f"c{i}" for i in order]
    np.testing.assert_allclose([h.score for h in out], expected[order], rtol=1e-6)
    assert all(h.token_blob is None for h in out)
    assert out[0].text == hits[order[0]].text


def test_rerank_ties_keep_first_stage_order_and_top_k_caps():
    query = np.eye(2, dtype=np.float32)
    blob = encode_tokens(np.eye(2, dtype=np.float32))
    hits = [_hit(i, blob) for i in range(3)]
    assert [h.chunk_id for h in rerank(query, hits, top_k=10)] == ["c0", "c1", "c2"]
    assert rerank(query, [], top_k=3) == []


def test_missing_token_blob_names_chunk_and_fix():
    query = np.eye(2, dtype=np.float32)
    hits = [_hit(0, encode_tokens(np.eye(2))), _hit(1, None)]
    with pytest.raises(ValueError, match=r"'c1'.*without token vectors.*[Rr]e-ingest") as info:
        rerank(query, hits, top_k=2)
    assert isinstance(info.value, ConfigError)


def test_dimension_mismatch_names_chunk():
    query = np.eye(4, dtype=np.float32)
    with pytest.raises(ConfigError, match=r"'c0' has 2-d token vectors but the query has 4-d"):
        rerank(query, [_hit(0, encode_tokens(np.eye(2)))], top_k=1)


def test_bad_top_k():
    with pytest.raises(InvalidRequestError, match="top_k") as info:
        rerank(np.eye(2, dtype=np.float32), [], top_k=0)
    assert info.value.status_code == 400


class _FakeEncoder:
    dim = 384

    def encode_passages(self, texts: list[str]) -> list[np.ndarray]:
        rng = np.random.default_rng(len(texts))
        return [_unit(rng, 10 * len(t), self.dim) for t in texts]


def test_passage_blobs_truncate_to_varchar_limit():
    blobs = passage_blobs(_FakeEncoder(), ["ab", "a" * 50])
    shapes = [decode_tokens(b).shape for b in blobs]
    assert shapes == [(20, 384), (max_tokens_for(384), 384)]
    assert all(len(b) <= 65535 for b in blobs)


def test_first_stage_fusion_interpolates_between_the_two_orders():
    rng = np.random.default_rng(1)
    query = _unit(rng, 4, 16)
    hits = [_hit(i, encode_tokens(_unit(rng, 6, 16))) for i in range(8)]
    by_maxsim = [h.chunk_id for h in rerank(query, hits, top_k=8)]
    pure = [h.chunk_id for h in rerank(query, hits, top_k=8, first_stage_weight=0.0)]
    kept = [h.chunk_id for h in rerank(query, hits, top_k=8, first_stage_weight=1.0)]
    half = rerank(query, hits, top_k=8, first_stage_weight=0.5, fusion_k=1)
    assert pure == by_maxsim
    assert kept == [h.chunk_id for h in hits]
    assert by_maxsim != kept  # the case is not trivial
    assert all(0 < h.score <= 1.0 for h in half)
    assert [h.score for h in half] == sorted((h.score for h in half), reverse=True)
