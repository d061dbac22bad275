"""Ratios, targets and markdown of a benchmark report built by hand."""

from __future__ import annotations

import pytest

from loadtests.bench import _ints, _variants
from loadtests.report import markdown, ratios, targets


def _run(rps: float, p50: float, p95: float, **stages: float) -> dict:
    return {
        "requests": 16,
        "errors": 0,
        "rps": rps,
        "p50_ms": p50,
        "p95_ms": p95,
        "p99_ms": p95 + 1,
        "stages_ms": stages,
    }


@pytest.fixture
def report() -> dict:
    report = {
        "baseline": {
            "query": _run(0.5, 2000.0, 2100.0, embed=10.0, generate=1900.0),
            "search": _run(20.0, 50.0, 60.0, embed=10.0),
        },
        "graph": {
            "default": {
                "levels": {"c1": _run(0.45, 2200.0, 2300.0), "c32": _run(2.0, 9000.0, 12000.0)},
                "search": {"c8": _run(30.0, 150.0, 250.0, retrieve=80.0)},
            },
            "throughput": {
                "levels": {"c1": _run(0.5, 2000.0, 2100.0), "c32": _run(3.0, 8000.0, 9000.0)},
            },
        },
        "micro": {
            "rerank": {"unbatched_passages_per_s": 500.0, "serve_batched_passages_per_s": 900.0},
            "embed": {"unbatched_queries_per_s": 80.0},
            "retrieve": {"serve_batched_queries_per_s": 70.0},
            "ratios": {"rerank_batching_ratio": 2.5},
        },
    }
    report["ratios"] = ratios(report)
    return report


def test_ratios_compare_the_first_variant_with_the_baseline(report) -> None:
    r = report["ratios"]
    assert r["throughput_ratio_c32"] == 4.0
    assert r["p50_ratio_c1"] == 1.1
    assert r["search_throughput_ratio_c8"] == 1.5
    assert r["throughput_vs_default_throughput_ratio_c32"] == 1.5
    assert r["rerank_batching_ratio"] == 2.5


def test_targets_say_which_bar_was_met(report) -> None:
    met = {t["target"]: t["met"] for t in targets(report)}
    assert met == {
        "graph throughput at c32 / baseline >= 3": True,
        "graph p50 at c1 / baseline <= 1.3": True,
        "reranker, Serve batching / batch size 1, passages/s >= 2": True,
        "retrieval path p95 at c8 (ms, /v1/search) < 200": False,
    }


def test_missing_measurements_are_not_counted_as_met(report) -> None:
    del report["micro"]
    report["ratios"] = ratios(report)
    by_name = {t["target"]: t for t in targets(report)}
    row = by_name["reranker, Serve batching / batch size 1, passages/s >= 2"]
    assert (row["value"], row["met"]) == (None, None)


def test_markdown_has_every_table(report) -> None:
    text = markdown(report)
    for heading in ("## Targets", "## Throughput and latency", "## Mean time per stage"):
        assert heading in text
    assert "| retrieval path p95 at c8 (ms, /v1/search) < 200 | 250 | **no** |" in text
    assert "| graph (throughput) | query | 32 | 16 | 0 | 3.00 |" in text
    assert "| rerank | serve_batched | 900 passages/s |" in text
    assert "`throughput_ratio_c32` | 4.00" in text


def test_cli_lists_are_validated() -> None:
    assert _ints("1, 8,32") == [1, 8, 32]
    assert _variants("default,throughput") == ["default", "throughput"]
    for bad in ("0", "a,b", ""):
        with pytest.raises(Exception, match="client counts|integers"):
            _ints(bad)
    with pytest.raises(Exception, match="choose from default, throughput, haproxy"):
        _variants("fast")
