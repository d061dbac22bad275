"""The dashboard's vLLM row: the Generator's engine seen from inside (batch, KV cache,
token latencies, throughput, preemptions).

The Generator is Ray Serve LLM's ``LLMServer`` with ``log_engine_metrics=True``
(``deployments/generator/deployment.py``), so vLLM's stat logger is its Ray variant
(``vllm/v1/metrics/ray_wrappers.py``): every ``vllm:<name>`` metric of
``vllm/v1/metrics/loggers.py`` goes through Ray's metrics agent as ``ray_vllm_<name>`` (the
``:`` is not allowed there; counters gain ``_total``, histograms ``_bucket``), labelled
``model_name``, ``engine`` and ``ReplicaId`` but not ``application`` or ``deployment``. The
row is empty while the generator is the extractive fallback (no engine runs).
"""

from __future__ import annotations

from typing import Any

from graph.k8s.panel import panel

QUANTILES = (0.5, 0.95, 0.99)


def _quantiles(histogram: str) -> list[tuple[str, str]]:
    """p50/p95/p99 of a vLLM histogram over every engine, each with its legend."""
    buckets = f"sum by (le) (rate({histogram}_bucket[5m]))"
    return [(f"histogram_quantile({q}, {buckets})", f"p{round(q * 100)}") for q in QUANTILES]


def vllm_panels() -> list[dict[str, Any]]:
    """The six panels of the vLLM row, in reading order."""
    return [
        panel(
            "vLLM: requests",
            "short",
            [
                ("sum by (model_name) (ray_vllm_num_requests_running)", "running {{model_name}}"),
                ("sum by (model_name) (ray_vllm_num_requests_waiting)", "waiting {{model_name}}"),
            ],
            "Requests in the engines' running batches, and requests waiting for a place in "
            "one (for KV-cache blocks or a batch slot). A waiting line that does not drain "
            "means the engine, not the graph, is the bottleneck.",
        ),
        panel(
            "vLLM: KV-cache use",
            "percentunit",
            [
                (
                    "max by (model_name, ReplicaId) (ray_vllm_kv_cache_usage_perc)",
                    "{{model_name}} {{ReplicaId}}",
                )
            ],
            "Share of each engine's KV-cache blocks in use (1 = full). Near 1 the scheduler "
            "stops admitting sequences and preempts running ones (see Preemptions).",
        ),
        panel(
            "vLLM: preemptions",
            "short",
            [("sum(rate(ray_vllm_num_preemptions_total[5m]))", "preemptions/s")],
            "Sequences the engine evicted per second to free KV-cache blocks; each is "
            "recomputed later, so a steady rate costs throughput and latency.",
        ),
        panel(
            "vLLM: time to first token",
            "s",
            _quantiles("ray_vllm_time_to_first_token_seconds"),
            "Seconds from the engine receiving a request to its first token, p50/p95/p99 "
            "(the engine's own share of the Generation row's time to first token).",
        ),
        panel(
            "vLLM: inter-token latency",
            "s",
            _quantiles("ray_vllm_inter_token_latency_seconds"),
            "Seconds between two tokens of one sequence, p50/p95/p99: decode speed as a "
            "streaming client sees it, before the graph's hops.",
        ),
        panel(
            "vLLM: tokens/s",
            "short",
            [
                ("sum(rate(ray_vllm_generation_tokens_total[5m]))", "generated"),
                ("sum(rate(ray_vllm_prompt_tokens_total[5m]))", "prompt (prefill)"),
            ],
            "Tokens the engines generated and prompt tokens they prefilled, per second.",
        ),
    ]
