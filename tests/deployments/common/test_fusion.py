from __future__ import annotations

import pytest

from deployments.common.fusion import rrf_fuse, rrf_scores
from deployments.types import Hit


def _hit(cid: str, score: float = 0.0, text: str | None = None) -> Hit:
    return Hit(cid, cid.split("#")[0], "", text or f"text of {cid}", score, {"hybrid": score})


def test_scores_sum_reciprocal_ranks() -> None:
    s = rrf_scores([["a", "b", "c"], ["c", "a"]], k=10)
    assert s["a"] == pytest.approx(1 / 11 + 1 / 12)
    assert s["b"] == pytest.approx(1 / 12)
    assert s["c"] == pytest.approx(1 / 13 + 1 / 11)


def test_bad_k_rejected() -> None:
    with pytest.raises(ValueError, match="k must be >= 1, got 0"):
        rrf_scores([["a"]], k=0)


def test_fuse_merges_and_orders_by_rrf() -> None:
    lists = [
        [_hit("a", 9.0), _hit("b", 8.0), _hit("c", 7.0)],
        [_hit("c", 0.9), _hit("d", 0.8)],
        [_hit("c", 5.0), _hit("b", 4.0)],
    ]
    fused = rrf_fuse(lists, k=60)
    assert [h.chunk_id for h in fused] == ["c", "b", "a", "d"]
    expected = rrf_scores([[h.chunk_id for h in hits] for hits in lists], k=60)
    assert [h.score for h in fused] == pytest.approx([expected[h.chunk_id] for h in fused])


def test_first_copy_is_kept_with_fused_score() -> None:
    lists = [[_hit("a", 1.0, text="first")], [_hit("a", 2.0, text="second")]]
    (only,) = rrf_fuse(lists, k=1)
    assert only.text == "first"
    assert only.score == pytest.approx(1.0)  # 1/(1+1) twice
    assert only.scores == {"hybrid": 1.0, "subquery_rrf": only.score}


def test_ties_keep_first_seen_order() -> None:
    assert [h.chunk_id for h in rrf_fuse([[_hit("a")], [_hit("b")]])] == ["a", "b"]
    assert [h.chunk_id for h in rrf_fuse([[_hit("b")], [_hit("a")]])] == ["b", "a"]
    fused = rrf_fuse([[_hit("x"), _hit("y")], [_hit("y"), _hit("x")]])
    assert [h.chunk_id for h in fused] == ["x", "y"]
    assert fused[0].score == fused[1].score


def test_limit_truncates_after_fusion() -> None:
    lists = [[_hit("a"), _hit("b"), _hit("c")], [_hit("b"), _hit("c")]]
    assert [h.chunk_id for h in rrf_fuse(lists, limit=2)] == ["b", "c"]
    assert rrf_fuse(lists, limit=0) == []
    assert len(rrf_fuse(lists, limit=10)) == 3


def test_duplicate_id_in_one_list_counts_once_at_its_best_rank() -> None:
    s = rrf_scores([["a", "b", "a"]], k=60)
    assert s == pytest.approx({"a": 1 / 61, "b": 1 / 62})
    fused = rrf_fuse([[_hit("a"), _hit("b"), _hit("a", text="later copy")]], k=60)
    assert [h.chunk_id for h in fused] == ["a", "b"]
    assert fused[0].text == "text of a"


def test_empty_input() -> None:
    assert rrf_fuse([]) == []
    assert rrf_fuse([[], []]) == []
