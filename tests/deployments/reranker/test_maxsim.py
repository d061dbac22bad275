import numpy as np
import pytest

from deployments.reranker.maxsim import maxsim, maxsim_padded, pad_tokens


def _unit(rng: np.random.Generator, *shape: int) -> np.ndarray:
    x = rng.standard_normal(shape).astype(np.float32)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _reference(query: np.ndarray, doc: np.ndarray) -> float:
    return float(sum(max(float(q @ d) for d in doc) for q in query)) if len(doc) else 0.0


def test_maxsim_matches_loop_reference():
    rng = np.random.default_rng(0)
    query = _unit(rng, 5, 8)
    docs = [_unit(rng, n, 8) for n in (1, 7, 3, 0)]
    expected = [_reference(query, d) for d in docs]
    np.testing.assert_allclose(maxsim(query, docs), expected, rtol=1e-5, atol=1e-6)


def test_empty_doc_scores_zero_and_no_docs_gives_empty():
    query = np.eye(2, dtype=np.float32)
    assert maxsim(query, [np.zeros((0, 2), np.float32)]).tolist() == [0.0]
    assert maxsim(query, []).shape == (0,)


def test_padded_batch_ignores_masked_query_tokens():
    rng = np.random.default_rng(1)
    queries = [_unit(rng, 4, 6), _unit(rng, 2, 6)]
    docs = [_unit(rng, 3, 6), _unit(rng, 5, 6)]
    Q, q_mask = pad_tokens(queries, dim=6)
    D, d_mask = pad_tokens(docs, dim=6)
    scores = maxsim_padded(Q, q_mask, D, d_mask)
    assert scores.shape == (2, 2)
    for b, q in enumerate(queries):
        np.testing.assert_allclose(scores[b], maxsim(q, docs), rtol=1e-6)


def test_dimension_mismatch_is_explained():
    with pytest.raises(ValueError, match="same model"):
        maxsim(np.ones((2, 4)), [np.ones((3, 5))])
