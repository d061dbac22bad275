"""The Locust load test, run headless for a few seconds against the real graph."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from graph.ingest import corpus
from loadtests.locust_run import main, read_summary

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SAMPLE_CORPUS = Path(__file__).resolve().parents[2] / "graph" / "sample_corpus"


@pytest.fixture(scope="module")
def sample_corpus(graph) -> None:
    """The questions of the load test are about the sample corpus; ingest it (idempotent)."""
    docs = corpus([str(SAMPLE_CORPUS)])
    reply = httpx.post(graph.url + "/v1/documents", json={"documents": docs}, timeout=300)
    assert reply.status_code == 200, reply.text
    assert reply.json()["stored"] + reply.json()["skipped"] == len(docs)


def test_locust_run_writes_reports_without_failures(graph, sample_corpus, tmp_path: Path):
    out = tmp_path / "locust"
    code = main(
        [
            "--host",
            graph.url,
            "--users",
            "5",  # with the 10:1 weights, the fifth user is the ingesting one
            "--spawn-rate",
            "5",
            "--run-time",
            "10s",
            "--out-dir",
            str(out),
            "--max-failure-ratio",
            "0",
        ]
    )
    stats = out / "locust_stats.csv"
    assert stats.is_file()
    assert (out / "locust.html").is_file()
    summary = read_summary(stats)
    failures = (out / "locust_failures.csv").read_text()
    assert summary.requests > 0, failures
    assert summary.failures == 0, failures
    assert code == 0
