"""Metrics through pytrec_eval, chunk-to-document runs, and regression detection."""

from __future__ import annotations

import pytest

from deployments.types import Hit
from graph.evaluate import app_args, markdown, regressions
from graph.evaluation.metrics import doc_run, evaluate, latency_summary


def test_perfect_and_empty_runs():
    qrels = {"q1": {"a": 1}, "q2": {"b": 1, "c": 1}}
    perfect = evaluate(qrels, {"q1": {"a": 1.0}, "q2": {"b": 1.0, "c": 0.5}})
    assert perfect == pytest.approx({"ndcg@10": 1, "recall@10": 1, "recall@100": 1, "mrr@10": 1})
    empty = evaluate(qrels, {})
    assert empty == pytest.approx({"ndcg@10": 0, "recall@10": 0, "recall@100": 0, "mrr@10": 0})


def test_mrr_is_cut_at_ten():
    run = {f"x{i}": 1.0 - i / 100 for i in range(10)} | {"a": 0.5}
    scores = evaluate({"q": {"a": 1}}, {"q": run})
    assert scores["mrr@10"] == 0.0 and scores["recall@100"] == 1.0


def test_doc_run_ranks_documents_by_best_chunk_and_cuts_depth():
    hits = [Hit(f"{d}#{i}", d, "", "", 1.0) for d, i in [("a", 1), ("b", 0), ("a", 0), ("c", 0)]]
    assert doc_run(hits) == {"a": 1.0, "b": 0.5, "c": 1 / 3}
    assert list(doc_run(hits, depth=2)) == ["a", "b"]


def test_latency_summary():
    s = latency_summary([10.0] * 19 + [100.0])
    assert s["latency_p50_ms"] == 10.0 and s["latency_p95_ms"] > 10.0


def _report(ndcg: float) -> dict:
    metrics = {
        "ndcg@10": ndcg,
        "recall@10": 0.9,
        "recall@100": 1.0,
        "mrr@10": 0.8,
        "complete@2": 0.5,
        "complete@5": 0.6,
        "complete@10": 0.7,
        "latency_p50_ms": 1.0,
        "latency_p95_ms": 2.0,
    }
    return {
        "dataset": "d",
        "split": "s",
        "queries": 3,
        "documents": 9,
        "modes": {"hybrid": metrics},
    }


def test_regressions_flag_drops_beyond_tolerance_only():
    assert regressions(_report(0.695), _report(0.70), 0.01) == []
    (found,) = regressions(_report(0.68), _report(0.70), 0.01)
    assert found.startswith("hybrid ndcg@10: 0.7000 -> 0.6800")
    assert (
        "full: missing"
        in regressions(
            _report(0.7),
            {
                **_report(0.7),
                "modes": {**_report(0.7)["modes"], "full": _report(0.7)["modes"]["hybrid"]},
            },
            0.01,
        )[0]
    )


def test_incomparable_baseline_is_refused():
    with pytest.raises(SystemExit, match="queries"):
        regressions(_report(0.7), {**_report(0.7), "queries": 4}, 0.01)


def test_markdown_has_a_row_per_mode():
    table = markdown(_report(0.7))
    assert "| hybrid | 0.700 | 0.900 | 1.000 | 0.800 | 0.500 | 0.600 | 0.700 | 1.0 | 2.0 |" in table


def test_markdown_adds_rows_per_query_type_and_the_selection_accuracy():
    report = _report(0.7)
    scores = report["modes"]["hybrid"]
    scores["by_type"] = {"bridge": {**scores, "ndcg@10": 0.6}}
    scores["selection"] = {
        "accuracy": 0.75,
        "by_type": {"bridge": 0.75},
        "chosen": {"bridge": {"multihop": 3, "lookup": 1}},
        "questions": 4,
    }
    table = markdown(report)
    assert "| hybrid (bridge) | 0.600 |" in table
    assert "accuracy 0.750 over 4 typed questions (bridge 0.750)" in table


def test_a_baseline_without_the_newer_metrics_is_compared_on_those_it_has():
    old = _report(0.7)
    for key in ("complete@2", "complete@5", "complete@10"):
        del old["modes"]["hybrid"][key]
    assert regressions(_report(0.7), old, 0.01) == []


def test_app_args_reads_serve_config_and_applies_overrides(tmp_path):
    cfg = tmp_path / "serve.yaml"
    cfg.write_text("applications:\n  - args:\n      retriever: {mode: hybrid}\n")
    args = app_args(cfg, ["retriever.rrf_k=30", "reranker.model=null"])
    assert args == {"retriever": {"mode": "hybrid", "rrf_k": 30}, "reranker": {"model": None}}
    with pytest.raises(SystemExit, match="dotted.key=value"):
        app_args(cfg, ["retriever.rrf_k"])
