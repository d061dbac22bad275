"""The stages' Prometheus metrics without Ray: each recorder is called against a fake metric
(what it records, with which tags), and the real Ray metrics are built as the dashboard
expects them (names, tag keys, buckets)."""

from __future__ import annotations

import pytest

from deployments import metrics


class FakeMetric:
    """Records ``inc``/``observe`` calls as (value, tags)."""

    def __init__(self) -> None:
        self.calls: list[tuple[float, dict[str, str]]] = []

    def inc(self, value: float = 1.0, tags: dict[str, str] | None = None) -> None:
        self.calls.append((value, tags or {}))

    def observe(self, value: float, tags: dict[str, str] | None = None) -> None:
        self.calls.append((value, tags or {}))


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch):
    """Replace one metric factory of ``deployments.metrics`` with a fake metric."""

    def install(factory: str) -> FakeMetric:
        metric = FakeMetric()
        monkeypatch.setattr(metrics, factory, lambda: metric)
        return metric

    return install


def test_record_first_token_observes_seconds_by_route(fake):
    histogram = fake("_first_token")
    metrics.record_first_token("/v1/query", 0.42)
    metrics.record_first_token("/v1/chat/completions", 0.0)
    assert histogram.calls == [
        (0.42, {"route": "/v1/query"}),
        (0.0, {"route": "/v1/chat/completions"}),
    ]


def test_record_first_token_refuses_a_negative_time(fake):
    histogram = fake("_first_token")
    with pytest.raises(ValueError, match=r"seconds must be >= 0 \(got -0.1\)"):
        metrics.record_first_token("/v1/query", -0.1)
    assert histogram.calls == []


def test_record_generated_tokens_counts_by_route_and_skips_zero(fake):
    counter = fake("_generated_tokens")
    metrics.record_generated_tokens("/v1/query", 32)
    metrics.record_generated_tokens("/v1/query", 0)  # Ray's Counter refuses inc(0)
    assert counter.calls == [(32, {"route": "/v1/query"})]


def test_record_generated_tokens_refuses_a_negative_count(fake):
    counter = fake("_generated_tokens")
    with pytest.raises(ValueError, match=r"n must be >= 0 generated tokens \(got -3\)"):
        metrics.record_generated_tokens("/v1/query", -3)
    assert counter.calls == []


def test_record_admission_and_the_cache_recorder(fake):
    admissions, lookups = fake("_admissions"), fake("_cache_lookups")
    metrics.record_admission("/v1/query", "shed")
    record = metrics.cache_lookup_recorder("answer")
    record(True)
    record(False)
    assert admissions.calls == [(1.0, {"route": "/v1/query", "outcome": "shed"})]
    assert lookups.calls == [
        (1.0, {"cache": "answer", "result": "hit"}),
        (1.0, {"cache": "answer", "result": "miss"}),
    ]


def test_the_ray_metrics_have_the_names_the_dashboard_reads():
    first_token = metrics._first_token().info
    assert first_token["name"] == "rag_time_to_first_token_seconds"  # ..._bucket in Prometheus
    assert first_token["tag_keys"] == ("route",)
    assert first_token["boundaries"] == sorted(first_token["boundaries"])
    assert first_token["boundaries"] == list(metrics.FIRST_TOKEN_BOUNDARIES_S)
    tokens = metrics._generated_tokens().info
    assert tokens["name"] == "rag_generated_tokens"  # ray_rag_generated_tokens_total
    assert tokens["tag_keys"] == ("route",)


def test_the_recorders_run_outside_a_replica():
    # Ray's metrics need no running cluster: records are dropped until one exports them.
    metrics.record_first_token("/v1/query", 0.25)
    metrics.record_generated_tokens("/v1/query", 7)
