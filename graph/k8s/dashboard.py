"""Grafana dashboard of the graph: the edge, generation and the vLLM engine
(``graph.k8s.vllm_panels``), ingestion, then one row per stage (latency, throughput,
replicas, queue, GPU share), built from the metrics Ray Serve, Ray's reporter agent and
vLLM export.

Metric names are Ray's own (the ``ray_`` prefix is added at export; counters gain
``_total``, histograms ``_bucket``): ``serve_deployment_processing_latency_ms``,
``serve_deployment_request_counter``, ``serve_deployment_error_counter``,
``serve_deployment_replica_healthy``, ``serve_deployment_queued_queries``,
``serve_replica_processing_queries`` (ray/serve/_private/replica.py, router.py,
deployment_state.py) and ``component_gpu_memory_mb`` / ``component_gpu_percentage``
(ray/dashboard/modules/reporter/reporter_agent.py); tests check each against the
installed Ray. The graph's own (deployments/metrics.py): ``rag_admission_decisions``,
``rag_time_to_first_token_seconds`` and ``rag_generated_tokens``.
"""

from __future__ import annotations

import json
from typing import Any

from graph.k8s.panel import panel
from graph.k8s.vllm_panels import vllm_panels

STAGES = (
    "Ingress",
    "Supervisor",
    "QueryRewriter",
    "Retriever",
    "Reranker",
    "Ingester",
    "Generator",
    "Quota",
)
APPLICATION = "rag"


def _sel(stage: str, extra: str = "") -> str:
    return f'application="$application",deployment="{stage}"{extra}'


def stage_panels(stage: str) -> list[dict[str, Any]]:
    """The five panels of one stage's row."""
    http = _sel(stage, ',route!~"/-/.*"')
    bucket = f"sum(rate(ray_serve_deployment_processing_latency_ms_bucket{{{http}}}[5m])) by (le)"
    component = f'Component=~".*ServeReplica:$application:{stage}.*"'
    gpu_targets = [
        (f"sum(ray_component_gpu_memory_mb{{{component}}}) * 1024 * 1024", "GPU memory"),
        (f"sum(ray_component_gpu_percentage{{{component}}}) / 100", "GPU busy"),
    ]
    if stage == "Generator":  # vLLM's engine runs in its own process (titled VLLM::...)
        gpu_targets.append(
            ('sum(ray_component_gpu_memory_mb{Component=~"VLLM::.*"}) * 1024 * 1024', "vLLM engine")
        )
    return [
        panel(
            f"{stage}: latency",
            "ms",
            [(f"histogram_quantile({q}, {bucket})", f"p{int(q * 100)}") for q in (0.5, 0.95, 0.99)],
            "Time a replica spends on one request (Serve's processing latency).",
        ),
        panel(
            f"{stage}: throughput",
            "reqps",
            [
                (
                    f"sum(rate(ray_serve_deployment_request_counter_total{{{http}}}[5m]))",
                    "requests",
                ),
                (f"sum(rate(ray_serve_deployment_error_counter_total{{{http}}}[5m]))", "errors"),
            ],
            "Requests and errors per second over all replicas.",
        ),
        panel(
            f"{stage}: replicas",
            "short",
            [(f"sum(ray_serve_deployment_replica_healthy{{{_sel(stage)}}})", "healthy")],
            "Healthy replicas; Serve's autoscaler moves this between min and max_replicas.",
        ),
        panel(
            f"{stage}: queue",
            "short",
            [
                (f"sum(ray_serve_deployment_queued_queries{{{_sel(stage)}}})", "queued at callers"),
                (f"sum(ray_serve_replica_processing_queries{{{_sel(stage)}}})", "in flight"),
            ],
            "Requests waiting for a replica, and requests being processed by replicas.",
        ),
        panel(
            f"{stage}: GPU share",
            "bytes",
            gpu_targets,
            "GPU memory and busy share of this stage's replica processes (0 on the CPU "
            "profile). Compare with its num_gpus share in serveConfigV2.",
            units_by_ref={"B": "percentunit"},
        ),
    ]


def shed_share(by: str = "", application: str = "$application") -> str:
    """Shed decisions over all decisions, optionally per label ``by`` (0 while nothing is
    shed, rather than "no data": the shed rate falls back to 0 times every rate), of the
    dashboard's chosen application or a named one (the alerts').

    >>> shed_share("route").split(" (rate(")[0]
    'sum by (route)'
    """
    every = f'rate(ray_rag_admission_decisions_total{{application="{application}"}}[5m])'
    shed = every.replace(f'"{application}"', f'"{application}",outcome="shed"')
    total = f"sum by ({by})" if by else "sum"
    return f"{total} ({shed} or 0 * {every}) / {total} ({every})"


def edge_panels() -> list[dict[str, Any]]:
    """The edge's row: what admission control decided, the share it shed, the error replies
    by code."""
    return [
        panel(
            "Edge: admission",
            "reqps",
            [
                (
                    "sum(rate(ray_rag_admission_decisions_total"
                    '{application="$application"}[5m])) by (route, outcome)',
                    "{{route}} {{outcome}}",
                )
            ],
            "Queries served with the full graph, served degraded (a cheaper plan: shallow "
            "rerank, or no rerank and an extractive answer) and shed (503 overloaded).",
        ),
        panel(
            "Edge: shed share",
            "percentunit",
            [(shed_share(), "all routes"), (shed_share("route"), "{{route}}")],
            "Share of admission decisions that shed the query (503 overloaded with "
            "Retry-After): shed / (full + degraded + shed), over 5 minutes.",
        ),
        panel(
            "Edge: error replies",
            "reqps",
            [
                (
                    "sum(rate(ray_serve_num_http_error_requests_total"
                    '{application="$application"}[5m])) by (error_code)',
                    "{{error_code}}",
                )
            ],
            "HTTP replies that are errors, by status: 429 and 503 are the graph protecting "
            "itself, 504 a deadline missed, 500 a bug.",
        ),
    ]


def generation_panels() -> list[dict[str, Any]]:
    """The generation row: time to first token and generated tokens, per route."""
    ttft = (
        "sum(rate(ray_rag_time_to_first_token_seconds_bucket"
        '{application="$application"}[5m])) by (le, route)'
    )
    return [
        panel(
            "Generation: time to first token",
            "s",
            [
                (f"histogram_quantile({q}, {ttft})", f"p{int(q * 100)} {{{{route}}}}")
                for q in (0.5, 0.95)
            ],
            "Seconds from a request's arrival to the first token of its streamed answer "
            "(rag_time_to_first_token_seconds), p50 and p95 per route.",
        ),
        panel(
            "Generation: tokens/s",
            "short",
            [
                (
                    "sum(rate(ray_rag_generated_tokens_total"
                    '{application="$application"}[5m])) by (route)',
                    "{{route}}",
                )
            ],
            "Tokens generated per second (rag_generated_tokens, counted by the route that "
            "answered: /v1/query, /v1/chat/completions streamed or not), per route.",
        ),
    ]


def ingestion_panels() -> list[dict[str, Any]]:
    """Documents and chunks the Ingester stores, by way in (requests or jobs)."""
    return [
        panel(
            "Ingestion: documents/s",
            "short",
            [
                (
                    "sum(rate(ray_rag_ingested_documents_total"
                    '{application="$application"}[5m])) by (via, outcome)',
                    "{{via}} {{outcome}}",
                )
            ],
            "Documents stored, skipped (stored already, or unchanged) and refused per second "
            "(rag_ingested_documents), by way in: requests (POST/PUT /v1/documents) or jobs.",
        ),
        panel(
            "Ingestion: chunks/s",
            "short",
            [
                (
                    "sum(rate(ray_rag_ingested_chunks_total"
                    '{application="$application"}[5m])) by (via)',
                    "{{via}}",
                )
            ],
            "Chunks stored per second (rag_ingested_chunks), by way in.",
        ),
    ]


def _row(title: str, y: int) -> dict[str, Any]:
    return {
        "type": "row",
        "title": title,
        "collapsed": False,
        "panels": [],
        "gridPos": {"h": 1, "w": 24, "x": 0, "y": y},
    }


def _lay_out(
    panels: list[dict[str, Any]], widths: tuple[int, ...], y: int
) -> tuple[list[dict[str, Any]], int]:
    """``panels`` placed left to right on lines of ``widths`` (each line 7 high) from ``y``;
    returns them and the first free ``y`` below."""
    placed = []
    for start in range(0, len(panels), len(widths)):
        x = 0
        for item, width in zip(panels[start : start + len(widths)], widths, strict=False):
            placed.append(item | {"gridPos": {"h": 7, "w": width, "x": x, "y": y}})
            x += width
        y += 7
    return placed, y


def dashboard() -> dict[str, Any]:
    """The dashboard JSON model (Grafana schema 39): the edge's row, the generation row,
    the vLLM engine's row, the ingestion row, then one row per stage."""
    sections = [
        ("Edge", edge_panels(), (8, 8, 8)),
        ("Generation", generation_panels(), (12, 12)),
        ("vLLM", vllm_panels(), (8, 8, 8)),
        ("Ingestion", ingestion_panels(), (12, 12)),
        *((stage, stage_panels(stage), (5, 5, 4, 5, 5)) for stage in STAGES),
    ]
    panels: list[dict[str, Any]] = []
    y = 0
    for title, row_panels, widths in sections:
        panels.append(_row(title, y))
        placed, y = _lay_out(row_panels, widths, y + 1)
        panels += placed
    for i, item in enumerate(panels, start=1):
        item["id"] = i
    return {
        "uid": "rag-serve-stages",
        "title": "rag-serve: stages",
        "description": "Admission, generation (time to first token, tokens/s), the vLLM "
        "engine (batch, KV cache, token latencies, preemptions) and per-stage latency, "
        "throughput, replicas, queue and GPU share of the RAG graph (Ray Serve and vLLM "
        "metrics; generated by `python -m graph.k8s render`).",
        "tags": ["ray", "serve", "rag"],
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "refresh": "30s",
        "time": {"from": "now-1h", "to": "now"},
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "label": "Data source",
                    "type": "datasource",
                    "query": "prometheus",
                },
                {
                    "name": "application",
                    "label": "Serve application",
                    "type": "custom",
                    "query": APPLICATION,
                    "current": {"text": APPLICATION, "value": APPLICATION},
                },
            ]
        },
        "panels": panels,
    }


def dashboard_json() -> str:
    return json.dumps(dashboard(), indent=2, sort_keys=False) + "\n"
