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


def _streamed(rps: float, ttft: float, itl: float) -> dict:
    run = _run(rps, ttft + 31 * itl, ttft + 31 * itl + 50)
    del run["stages_ms"]
    return run | {
        "ttft_ms": {"p50": ttft, "p95": ttft + 40, "mean": ttft + 5},
        "itl_ms": {"p50": itl, "p95": itl + 2, "mean": itl},
        "chunks_per_answer": 32.0,
    }


@pytest.fixture
def report() -> dict:
    report = {
        "baseline": {
            "query": _run(0.5, 2000.0, 2100.0, embed=10.0, generate=1900.0),
            "search": _run(20.0, 50.0, 60.0, embed=10.0),
            "stream": {
                "requests": 16,
                "ttft_ms": {"p50": 180.0, "p95": 200.0, "mean": 185.0},
                "itl_ms": {"p50": 50.0, "p95": 55.0, "mean": 50.0},
                "stages_ms": {"rerank": 40.0, "first_token": 120.0},
                "prompt_repeats": 0,
                "generator": "vllm",
                "prefix_caching": True,
            },
        },
        "graph": {
            "default": {
                "levels": {"c1": _run(0.45, 2200.0, 2300.0), "c32": _run(2.0, 9000.0, 12000.0)},
                "search": {"c8": _run(30.0, 150.0, 250.0, retrieve=80.0)},
                "stream": {"c1": _streamed(0.4, 250.0, 55.0), "c32": _streamed(1.5, 900.0, 150.0)},
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
    report["spec"] = {"app": {"generator": {"max_tokens": 32}}}
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
        "graph TTFT p50 at c1 - baseline (ms, streamed) <= 100": True,
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


def test_stream_ratios_compare_ttft_with_the_baseline_and_rps_with_query(report) -> None:
    r = report["ratios"]
    assert r["ttft_delta_ms_c1"] == 70.0
    assert (r["ttft_ratio_c1"], r["ttft_ratio_c32"]) == (1.389, 5.0)
    assert (r["itl_ratio_c1"], r["itl_ratio_c32"]) == (1.1, 3.0)
    assert (r["stream_throughput_cost_c1"], r["stream_throughput_cost_c32"]) == (0.889, 0.75)


def test_the_ttft_target_fails_past_100_ms_and_is_unknown_without_c1(report) -> None:
    def ttft_row() -> dict:
        report["ratios"] = ratios(report)
        (row,) = [t for t in targets(report) if t["target"].startswith("graph TTFT")]
        return row

    report["graph"]["default"]["stream"]["c1"]["ttft_ms"]["p50"] = 281.0
    assert (ttft_row()["value"], ttft_row()["met"]) == (101.0, False)
    del report["graph"]["default"]["stream"]["c1"]
    assert (ttft_row()["value"], ttft_row()["met"]) == (None, None)
    assert "stream_throughput_cost_c32" in report["ratios"]


def test_extractive_baseline_has_no_itl_ratio(report) -> None:
    report["baseline"]["stream"] |= {"itl_ms": {"p50": None, "p95": None, "mean": None}}
    report["baseline"]["stream"]["generator"] = "extractive"
    report["ratios"] = ratios(report)
    assert report["ratios"]["itl_ratio_c1"] is None
    assert report["ratios"]["ttft_delta_ms_c1"] == 70.0
    assert "extractive answer's sentences" in markdown(report)


def test_reports_without_streamed_levels_keep_their_tables(report) -> None:
    del report["baseline"]["stream"]
    for graph in report["graph"].values():
        graph.pop("stream", None)
    report["ratios"] = ratios(report)
    assert not any(k.startswith(("ttft", "itl", "stream")) for k in report["ratios"])
    assert "## Streaming" not in markdown(report)
    row = [t for t in targets(report) if t["target"].startswith("graph TTFT")][0]
    assert (row["value"], row["met"]) == (None, None)


def test_markdown_streaming_section(report) -> None:
    text = markdown(report)
    assert "## Streaming: time to first token (TTFT) and inter-token latency (ITL)" in text
    assert "| graph TTFT p50 at c1 - baseline (ms, streamed) <= 100 | 70.00 | yes |" in text
    assert "| baseline | 1 | 16 | 0 | 180 | 200 | 50.00 | 55.00 | n/a | n/a | 0.50 | n/a |" in text
    assert (
        "| graph (default) | 32 | 16 | 0 | 900 | 940 | 150 | 152 | 32.00 | 1.50 | 2.00 | 0.75 |"
        in text
    )
    assert "(32-token generation - 1-token generation) / (32 - 1)" in text
    assert "prefix caching: on" in text and "Repeated prompts: 0" in text
    assert "`stream_throughput_cost_c32` | 0.75" in text


def test_cli_lists_are_validated() -> None:
    assert _ints("1, 8,32") == [1, 8, 32]
    assert _variants("default,throughput") == ["default", "throughput"]
    for bad in ("0", "a,b", ""):
        with pytest.raises(Exception, match="client counts|integers"):
            _ints(bad)
    with pytest.raises(Exception, match="choose from default, throughput, haproxy"):
        _variants("fast")
