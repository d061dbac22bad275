"""Ranking metrics through ``pytrec_eval`` (trec_eval's own implementation)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pytrec_eval

from deployments.types import Hit

METRICS = (
    "ndcg@10",
    "recall@10",
    "recall@100",
    "mrr@10",
    "complete@2",
    "complete@5",
    "complete@10",
)
COMPLETE_AT = (2, 5, 10)


def doc_run(hits: Sequence[Hit], *, depth: int = 100) -> dict[str, float]:
    """Rank documents by their best chunk, as scores pytrec_eval can sort without ties.

    >>> from deployments.types import Hit
    >>> doc_run([Hit("a#1", "a", "", "", 9.0), Hit("b#0", "b", "", "", 5.0),
    ...          Hit("a#0", "a", "", "", 1.0)])
    {'a': 1.0, 'b': 0.5}
    """
    ranked: dict[str, float] = {}
    for hit in hits:
        if hit.doc_id not in ranked:
            ranked[hit.doc_id] = 1.0 / (len(ranked) + 1)
            if len(ranked) == depth:
                break
    return ranked


def evaluate(
    qrels: Mapping[str, Mapping[str, int]], run: Mapping[str, Mapping[str, float]]
) -> dict[str, float]:
    """Mean nDCG@10, Recall@10, Recall@100 and MRR@10 over the judged queries.

    Queries missing from ``run`` count as retrieving nothing.

    >>> evaluate({"q": {"d1": 1}}, {"q": {"d2": 1.0, "d1": 0.5}})["mrr@10"]
    0.5
    """
    run = {qid: dict(run.get(qid, {})) or {"__none__": 0.0} for qid in qrels}
    main = pytrec_eval.RelevanceEvaluator(
        {q: dict(r) for q, r in qrels.items()}, {"ndcg_cut.10", "recall.10", "recall.100"}
    ).evaluate(run)
    top10 = {qid: dict(sorted(r.items(), key=lambda kv: -kv[1])[:10]) for qid, r in run.items()}
    mrr = pytrec_eval.RelevanceEvaluator(
        {q: dict(r) for q, r in qrels.items()}, {"recip_rank"}
    ).evaluate(top10)
    return {
        "ndcg@10": float(np.mean([m["ndcg_cut_10"] for m in main.values()])),
        "recall@10": float(np.mean([m["recall_10"] for m in main.values()])),
        "recall@100": float(np.mean([m["recall_100"] for m in main.values()])),
        "mrr@10": float(np.mean([m["recip_rank"] for m in mrr.values()])),
    }


def ranking_scores(
    qrels: Mapping[str, Mapping[str, int]], run: Mapping[str, Mapping[str, float]]
) -> dict[str, float]:
    """:func:`evaluate`'s metrics and ``complete@k`` (every relevant document in the top
    k) for k in :data:`COMPLETE_AT`: the :data:`METRICS` of a report."""
    from graph.evaluation.answers import complete_at

    scores = evaluate(qrels, run)
    return {**scores, **{f"complete@{k}": complete_at(qrels, run, k) for k in COMPLETE_AT}}


def latency_summary(samples_ms: Sequence[float]) -> dict[str, float]:
    """p50/p95/mean of per-query latencies in milliseconds."""
    a = np.asarray(samples_ms, dtype=float)
    if a.size == 0:
        return {"latency_p50_ms": 0.0, "latency_p95_ms": 0.0, "latency_mean_ms": 0.0}
    return {
        "latency_p50_ms": round(float(np.percentile(a, 50)), 2),
        "latency_p95_ms": round(float(np.percentile(a, 95)), 2),
        "latency_mean_ms": round(float(a.mean()), 2),
    }
