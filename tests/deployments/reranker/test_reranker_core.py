"""Reranking of candidates by the token vectors stored for them (pure: blobs passed in)."""

import numpy as np
import pytest

from deployments.common.codec import decode_tokens, encode_tokens
from deployments.errors import ConfigError, InvalidRequestError
from deployments.reranker.core import rerank
from deployments.reranker.maxsim import maxsim
from deployments.types import Candidate


def _unit(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    x = rng.standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _candidates(n: int) -> list[Candidate]:
    return [Candidate(f"c{i}", 1.0 - i / 10) for i in range(n)]


def test_rerank_sorts_by_maxsim_and_reports_it():
    rng = np.random.default_rng(0)
    query = _unit(rng, 4, 16)
    blobs = {f"c{i}": encode_tokens(_unit(rng, n, 16)) for i, n in enumerate((3, 9, 5, 7))}
    expected = maxsim(query, [decode_tokens(blobs[f"c{i}"]) for i in range(4)])

    out = rerank(query, _candidates(4), blobs, top_k=3)

    order = np.argsort(-expected)[:3]
    assert [r.chunk_id for r in out] == [f"c{i}" for i in order]
    np.testing.assert_allclose([r.score for r in out], expected[order], rtol=1e-6)
    assert [r.maxsim for r in out] == [r.score for r in out]  # no fusion: the same


def test_ties_keep_first_stage_order_and_top_k_caps():
    query = np.eye(2, dtype=np.float32)
    blob = encode_tokens(np.eye(2, dtype=np.float32))
    blobs = {f"c{i}": blob for i in range(3)}
    assert [r.chunk_id for r in rerank(query, _candidates(3), blobs, top_k=10)] == [
        "c0",
        "c1",
        "c2",
    ]
    assert rerank(query, [], blobs, top_k=3) == []


def test_candidates_without_vectors_are_left_to_the_caller():
    query = np.eye(2, dtype=np.float32)
    blobs = {"c0": encode_tokens(np.eye(2)), "c2": encode_tokens(np.eye(2))}
    assert [r.chunk_id for r in rerank(query, _candidates(3), blobs, top_k=3)] == ["c0", "c2"]


def test_no_stored_vectors_at_all_names_the_fix():
    with pytest.raises(ConfigError, match=r"'c0'.*without them.*[Ii]ngest it again") as info:
        rerank(np.eye(2, dtype=np.float32), _candidates(2), {}, top_k=2)
    assert info.value.param == "supervisor.rerank"


def test_dimension_mismatch_names_chunk_and_model():
    query = np.eye(4, dtype=np.float32)
    with pytest.raises(ConfigError, match=r"'c0' has 2-d token vectors but the query has 4-d"):
        rerank(query, _candidates(1), {"c0": encode_tokens(np.eye(2))}, top_k=1)


def test_unreadable_vectors_name_the_chunk():
    with pytest.raises(ConfigError, match=r"'c0' are unreadable"):
        rerank(np.eye(2, dtype=np.float32), _candidates(1), {"c0": "not base64!"}, top_k=1)


def test_bad_top_k():
    with pytest.raises(InvalidRequestError, match="top_k") as info:
        rerank(np.eye(2, dtype=np.float32), [], {}, top_k=0)
    assert info.value.status_code == 400


def test_first_stage_fusion_interpolates_between_the_two_orders():
    rng = np.random.default_rng(1)
    query = _unit(rng, 4, 16)
    cands = _candidates(8)
    blobs = {c.chunk_id: encode_tokens(_unit(rng, 6, 16)) for c in cands}
    by_maxsim = [r.chunk_id for r in rerank(query, cands, blobs, top_k=8)]
    kept = [r.chunk_id for r in rerank(query, cands, blobs, top_k=8, first_stage_weight=1.0)]
    half = rerank(query, cands, blobs, top_k=8, first_stage_weight=0.5, fusion_k=1)
    assert kept == [c.chunk_id for c in cands]
    assert by_maxsim != kept  # the case is not trivial
    assert all(0 < r.score <= 1.0 for r in half)
    assert [r.score for r in half] == sorted((r.score for r in half), reverse=True)
    raw = dict(zip(by_maxsim, sorted((r.maxsim for r in half), reverse=True), strict=True))
    assert all(r.maxsim == pytest.approx(raw[r.chunk_id]) for r in half)
