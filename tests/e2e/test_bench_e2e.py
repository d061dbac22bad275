"""The benchmark command end to end, small: its own graph, baseline and micro-benchmarks.

Named to sort before test_graph_e2e.py: it runs before the session's shared graph starts,
so two graphs never share this machine's cores.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from graph.serve_process import ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.mark.timeout(1500)  # the whole benchmark, small, in its own processes
def test_bench_writes_report_with_ratios(tmp_path: Path) -> None:
    output = tmp_path / "bench.json"
    cmd = [
        sys.executable,
        "-m",
        "loadtests.bench",
        "--output",
        str(output),
        "--generator",
        "extractive",
        "--concurrency",
        "1,4",
        "--search-concurrency",
        "4",
        "--baseline-requests",
        "4",
        "--requests-per-client",
        "2",
        "--queries",
        "8",
        "--milvus-dir",
        str(tmp_path / "milvus"),
    ]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-4000:]
    report = json.loads(output.read_text())
    graph = report["graph"]["default"]
    for level in ("c1", "c4"):
        assert graph["levels"][level]["errors"] == 0, graph["levels"][level]["error_samples"]
        assert graph["levels"][level]["requests"] == 16
    assert graph["search"]["c4"]["errors"] == 0
    assert {"rewrite", "retrieve", "rerank", "generate"} <= set(graph["levels"]["c1"]["stages_ms"])
    assert {"embed", "search", "rerank"} <= set(report["baseline"]["search"]["stages_ms"])
    search_ms = report["micro"]["search_ms_per_query"]
    assert {"hybrid_search_ms", "token_fetch_50_ms"} <= set(search_ms), search_ms
    for key in (
        "throughput_ratio_c4",
        "p50_ratio_c1",
        "search_throughput_ratio_c4",
        "rerank_batching_ratio",
        "embed_padded_ratio",
        "retrieve_batching_ratio",
    ):
        assert report["ratios"][key] > 0, key
    assert report["corpus"]["ingest"]["stored"] == report["corpus"]["documents"]
    table = output.with_suffix(".md").read_text()
    assert "## Targets" in table and "## Batching micro-benchmarks" in table
