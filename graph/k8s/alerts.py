"""Prometheus alerts of the graph: one PrometheusRule (k8s/monitoring/alerts.yaml).

Every expression reads series the PodMonitor scrapes, under the names Prometheus sees:
Ray Serve's own metrics (``ray_serve_*``), the graph's (``ray_rag_*``,
``deployments/metrics.py``) and vLLM's through Ray Serve LLM (``ray_vllm_*``,
``graph.k8s.vllm_panels``); tests/k8s/test_k8s_alerts.py checks each name against the
installed Ray, vLLM and ``deployments/metrics.py``, and evaluates the rules with promtool
when it is installed. docs/OBSERVABILITY.md ("Alerts") lists them with their reasons.

The ratio and percentile alerts wait for ``MIN_REQUESTS_PER_S``: below it, one slow or
failed reply is a large share of a 5-minute window, and a page would be noise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from graph.k8s import monitoring
from graph.k8s import profiles as p
from graph.k8s.dashboard import APPLICATION, shed_share

WINDOW = "5m"
"""Rate window of every ratio: as the dashboard's panels, so a firing alert matches them."""

MIN_REQUESTS_PER_S = 0.1
"""Traffic below which no ratio or percentile alert fires: 30 requests in the window, where
two failures would already be a 6.7% error rate."""

ERROR_RATIO = 0.05
"""5xx replies, less the queries the edge shed on purpose, over all replies. The graph
retries a stage call whose replica died and sheds by design (its own alert), so what is
left (500 a bug, 504 a deadline missed, 503 a stage or Milvus down, or Serve's
back-pressure behind the edge) should be near 0; one reply in 20 for 10 minutes is not."""

SHED_RATIO = 0.10
"""Queries the edge shed (503 ``overloaded``) over all its admission decisions. Shedding a
burst is admission control working (docs/RELIABILITY.md); a tenth of queries refused for
15 minutes is capacity short of the load it is meant to take."""

LATENCY_OBJECTIVE_S = 10.0
"""p95 of ``LATENCY_ROUTE``'s successful replies, end to end at Serve's proxy. A third of the
default 30 s deadline (``ingress.admission.default_deadline_s``): past it, the slowest
queries are heading for 504s. It is also a bucket bound of Serve's latency histogram
(10,000 ms), so the alert fires exactly when more than 5% of replies take longer. The
edge's own objective is relative (3x a lone query's latency) and not exported."""
LATENCY_ROUTE = "/v1/query"
"""The non-streamed answer route: its latency is the whole answer. A streamed chat reply's
is the length of the stream, which says nothing about waiting."""

REPLICA_FAILURES = 3
REPLICA_FAILURE_WINDOW = "30m"
"""Failed health checks of one deployment's replicas in the window, above which it alerts.
Serve counts one for a crashed replica and replaces it at once, and replaces a live one
after 3 failed checks in a row (``REPLICA_HEALTH_CHECK_UNHEALTHY_THRESHOLD``): one
replacement, or up to 3 crashes (a node drained, a one-off), heal by themselves; a 4th
failure in 30 minutes is a replica that keeps dying."""

KV_CACHE_USAGE = 0.90
"""Share of an engine's KV-cache blocks in use. Near full, vLLM stops admitting sequences
and preempts running ones, which are recomputed later: 90% for 10 minutes is an engine
that is KV-bound, not busy for a moment."""

NOTE = (
    "# Alerts of the graph (graph/k8s/alerts.py; reasons in docs/OBSERVABILITY.md, Alerts).\n"
    "# Prometheus loads them only if its ruleSelector matches the `release` label: set\n"
    "# graph.k8s.monitoring.PROMETHEUS_RELEASE to your kube-prometheus-stack release.\n"
)
"""The comment on top of k8s/monitoring/alerts.yaml."""

GENERATOR = "Generator"
"""The generator's deployment name, whichever generator runs."""


@dataclass(frozen=True)
class Alert:
    """One alerting rule, with the line that says what to do when it fires."""

    name: str
    expr: str
    for_: str
    severity: Literal["warning", "critical"]
    summary: str
    description: str
    runbook: str

    def rule(self) -> dict[str, Any]:
        """The rule as a PrometheusRule lists it."""
        return {
            "alert": self.name,
            "expr": self.expr,
            "for": self.for_,
            "labels": {"severity": self.severity},
            "annotations": {
                "summary": self.summary,
                "description": self.description,
                "runbook": self.runbook,
            },
        }


def _rate(metric: str, selector: str) -> str:
    return f"sum(rate({metric}{{{selector}}}[{WINDOW}]))"


def _busy(metric: str, selector: str) -> str:
    """``and`` clause: only while the traffic is above ``MIN_REQUESTS_PER_S``."""
    return f"and {_rate(metric, selector)} > {MIN_REQUESTS_PER_S}"


def error_rate() -> Alert:
    replies = f'application="{APPLICATION}",route!~"/-/.*"'
    server_errors = replies + ',status_code=~"5.."'
    sheds = f'application="{APPLICATION}",outcome="shed"'
    requests = "ray_serve_num_http_requests_total"
    expr = (
        f"(\n  {_rate(requests, server_errors)}\n"
        f"  - ({_rate('ray_rag_admission_decisions_total', sheds)} or vector(0))\n)\n"
        f"/ {_rate(requests, replies)}\n> {ERROR_RATIO}\n{_busy(requests, replies)}"
    )
    return Alert(
        "RagServeErrorRateHigh",
        expr,
        "10m",
        "critical",
        f"rag-serve answers more than {ERROR_RATIO:.0%} of requests with a server error",
        "{{ $value | humanizePercentage }} of the application's HTTP replies are 5xx "
        "(the edge's deliberate sheds left out) over 5 minutes.",
        "See the dashboard's 'Edge: error replies' by status: 500 -> the replica logs "
        "(grep the request id); 503 stage_unavailable -> the stage's or Milvus's pods; 504 -> "
        "the slow stage in its latency panel.",
    )


def shed_rate() -> Alert:
    every = f'application="{APPLICATION}"'
    busy = _busy("ray_rag_admission_decisions_total", every)
    expr = f"{shed_share(application=APPLICATION)}\n> {SHED_RATIO}\n{busy}"
    return Alert(
        "RagServeShedRateHigh",
        expr,
        "15m",
        "warning",
        f"rag-serve sheds more than {SHED_RATIO:.0%} of queries (503 overloaded)",
        "The edge refused {{ $value | humanizePercentage }} of queries for lack of capacity "
        "over 5 minutes, for 15 minutes.",
        "Raise max_replicas of the stages whose queue grows (dashboard rows) and the worker "
        "groups' maxReplicas; if replicas are at max and nodes cannot be added, the load is "
        "beyond the cluster: add nodes or GPUs.",
    )


def latency_p95() -> Alert:
    replies = f'application="{APPLICATION}",route="{LATENCY_ROUTE}",status_code="200"'
    buckets = f"sum by (le) (rate(ray_serve_http_request_latency_ms_bucket{{{replies}}}[{WINDOW}]))"
    expr = (
        f"histogram_quantile(0.95, {buckets})\n> {LATENCY_OBJECTIVE_S * 1000:g}\n"
        f"{_busy('ray_serve_http_request_latency_ms_count', replies)}"
    )
    return Alert(
        "RagServeLatencyP95High",
        expr,
        "10m",
        "warning",
        f"rag-serve {LATENCY_ROUTE} p95 latency above {LATENCY_OBJECTIVE_S:g} s",
        "p95 of successful " + LATENCY_ROUTE + " replies is {{ $value | humanize }} ms over "
        "5 minutes (objective " + f"{LATENCY_OBJECTIVE_S * 1000:g}" + " ms).",
        "Find the slow stage in the dashboard's per-stage latency and queue panels; a full "
        "vLLM KV cache or waiting line (vLLM row) means the Generator needs more replicas or "
        "memory; a long queue elsewhere, that stage's max_replicas.",
    )


def replica_failures() -> Alert:
    failures = f'ray_serve_health_check_failures_total{{application="{APPLICATION}"}}'
    expr = (
        f"sum by (deployment) (increase({failures}[{REPLICA_FAILURE_WINDOW}]))\n"
        f"> {REPLICA_FAILURES}"
    )
    return Alert(
        "RagServeReplicaRestarts",
        expr,
        "5m",
        "warning",
        "rag-serve deployment {{ $labels.deployment }}: replicas keep failing",
        "{{ $value | humanize }} failed health checks (crashes count one each) of "
        "{{ $labels.deployment }} replicas in " + REPLICA_FAILURE_WINDOW + "; Serve replaces "
        "each failed replica.",
        "Read why they die: `kubectl -n " + p.NAMESPACE + " logs` of the worker pods "
        "(replica_rag_{{ $labels.deployment }}_*.log, OOM kills in `kubectl describe pod`); "
        "raise the stage's memory or fix the crash.",
    )


def kv_cache() -> Alert:
    expr = f"max by (model_name, ReplicaId) (ray_vllm_kv_cache_usage_perc)\n> {KV_CACHE_USAGE}"
    return Alert(
        "RagServeKVCacheNearlyFull",
        expr,
        "10m",
        "warning",
        "vLLM KV cache of {{ $labels.model_name }} above " + f"{KV_CACHE_USAGE:.0%}",
        "Engine {{ $labels.ReplicaId }} has {{ $value | humanizePercentage }} of its KV-cache "
        "blocks in use; new sequences wait and running ones get preempted.",
        "Give the engine more KV cache (generator.engine_kwargs gpu_memory_utilization or "
        "kv_cache_memory_bytes), lower max_model_len, or add Generator replicas and GPUs.",
    )


def generator_without_llm() -> Alert:
    generator = f'application="{APPLICATION}",deployment="{GENERATOR}"'
    healthy = f"ray_serve_deployment_replica_healthy{{{generator}}}"
    expr = (
        f"sum({healthy}) > 0\n"
        'unless on () (sum(ray_vllm_engine_sleep_state{sleep_state="awake"}) > 0)'
    )
    return Alert(
        "RagServeGeneratorWithoutLLM",
        expr,
        "15m",
        "warning",
        "rag-serve answers without an LLM (extractive fallback)",
        "The Generator deployment is healthy but no awake vLLM engine reports: with "
        "generator.mode auto the graph fell back to extractive answers (copied sentences), "
        "or the engine sleeps.",
        "Look for 'GENERATOR: no LLM will run (...)' in the Generator replica's log; make "
        "generator.model loadable (model cache volume, HF_TOKEN, hub reachable) and restart.",
    )


def alerts() -> list[Alert]:
    """Every alert of the graph, in the order docs/OBSERVABILITY.md lists them."""
    return [
        error_rate(),
        shed_rate(),
        latency_p95(),
        replica_failures(),
        kv_cache(),
        generator_without_llm(),
    ]


def prometheus_rule() -> dict[str, Any]:
    """The PrometheusRule, labelled for kube-prometheus-stack's ``ruleSelector``."""
    labels = {
        "app.kubernetes.io/name": p.APP_LABEL,
        "app.kubernetes.io/component": "monitoring",
    } | monitoring.release_label()
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "rag-serve-alerts", "namespace": p.NAMESPACE, "labels": labels},
        "spec": {"groups": [{"name": "rag-serve", "rules": [a.rule() for a in alerts()]}]},
    }
