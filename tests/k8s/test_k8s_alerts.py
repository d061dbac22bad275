"""Observability on the cluster: the PrometheusRule's alerts, the PodMonitor a standard
kube-prometheus-stack selects, and the metric names every alert and panel reads, each
checked against what really exports it (the installed Ray and vLLM, deployments/metrics.py).
With promtool (scripts/setup.sh puts it in .venv-tools; or $PROMTOOL), the rules are also
checked and evaluated on synthetic series: each alert fires on the trouble it names and
stays quiet otherwise."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from graph.k8s import alerts, monitoring, profiles
from graph.k8s.dashboard import dashboard
from graph.k8s.render import K8S_DIR, generated_files

ROOT = Path(__file__).resolve().parents[2]

#: The Ray built-in metrics the alerts and the dashboard read, as Prometheus names them less
#: the ``ray_`` prefix and the type's suffix: (type, file under the ``ray`` package, the name
#: as that file writes it). Serve names its per-protocol metrics with an f-string.
RAY_BUILTINS: dict[str, tuple[str, str, str]] = {
    "serve_num_http_requests": (
        "counter",
        "serve/_private/request_ingress_metrics.py",
        'f"serve_num_{protocol_name}_requests"',
    ),
    "serve_num_http_error_requests": (
        "counter",
        "serve/_private/request_ingress_metrics.py",
        'f"serve_num_{protocol_name}_error_requests"',
    ),
    "serve_http_request_latency_ms": (
        "histogram",
        "serve/_private/request_ingress_metrics.py",
        'f"serve_{protocol_name}_request_latency_ms"',
    ),
    "serve_deployment_processing_latency_ms": (
        "histogram",
        "serve/_private/replica.py",
        '"serve_deployment_processing_latency_ms"',
    ),
    "serve_deployment_request_counter": (
        "counter",
        "serve/_private/replica.py",
        '"serve_deployment_request_counter"',
    ),
    "serve_deployment_error_counter": (
        "counter",
        "serve/_private/replica.py",
        '"serve_deployment_error_counter"',
    ),
    "serve_replica_processing_queries": (
        "gauge",
        "serve/_private/replica.py",
        '"serve_replica_processing_queries"',
    ),
    "serve_deployment_replica_healthy": (
        "gauge",
        "serve/_private/deployment_state.py",
        '"serve_deployment_replica_healthy"',
    ),
    # Named with its _total already; Prometheus does not add a second one.
    "serve_health_check_failures_total": (
        "counter",
        "serve/_private/deployment_state.py",
        '"serve_health_check_failures_total"',
    ),
    "serve_deployment_queued_queries": (
        "gauge",
        "serve/_private/router.py",
        '"serve_deployment_queued_queries"',
    ),
    "component_gpu_memory_mb": (
        "gauge",
        "dashboard/modules/reporter/reporter_agent.py",
        '"component_gpu_memory_mb"',
    ),
    "component_gpu_percentage": (
        "gauge",
        "dashboard/modules/reporter/reporter_agent.py",
        '"component_gpu_percentage"',
    ),
}

ALERT_KINDS = {
    "RagServeErrorRateHigh",  # error rate
    "RagServeShedRateHigh",  # shed rate
    "RagServeLatencyP95High",  # p95 latency
    "RagServeReplicaRestarts",  # replica restarts
    "RagServeKVCacheNearlyFull",  # vLLM KV-cache use
}


def docs(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def package_dir(name: str) -> Path | None:
    """Where an installed package lives, without importing it (vLLM's import is slow)."""
    spec = importlib.util.find_spec(name)
    return None if spec is None else Path(next(iter(spec.submodule_search_locations)))


def exprs() -> list[str]:
    panels = [t["expr"] for p in dashboard()["panels"] for t in p.get("targets", [])]
    return panels + [a.expr for a in alerts.alerts()]


def app_metrics() -> dict[str, str]:
    """``rag_*`` family -> type, from deployments/metrics.py."""
    text = (ROOT / "deployments" / "metrics.py").read_text()
    found = re.findall(r"\b(Counter|Gauge|Histogram)\(\s*\"(rag_\w+)\"", text)
    return {name: kind.lower() for kind, name in found}


def vllm_metrics(vllm: Path) -> dict[str, str]:
    """``vllm_*`` family (Ray's name for ``vllm:*``) -> type, from vLLM's stat logger."""
    text = (vllm / "v1" / "metrics" / "loggers.py").read_text()
    found = re.findall(r"self\._(gauge|counter|histogram)_cls\(\s*name=\"vllm:(\w+)\"", text)
    return {f"vllm_{name}": kind for kind, name in found}


def resolves(name: str, families: dict[str, str]) -> bool:
    """Whether a scraped name is one of ``families`` with the suffix its type gets."""
    base = name.removeprefix("ray_")
    stem, _, suffix = base.rpartition("_")
    if suffix in ("bucket", "sum", "count") and families.get(stem) == "histogram":
        return True
    if suffix == "total" and "counter" in (families.get(stem), families.get(base)):
        return True
    return families.get(base) == "gauge"


def test_the_documented_ray_builtins_are_what_the_installed_ray_defines():
    import ray

    ray_dir = Path(ray.__file__).parent
    for family, (kind, relative, literal) in RAY_BUILTINS.items():
        text = (ray_dir / relative).read_text()
        pattern = rf"\b{kind.capitalize()}\(\s*(?:name=)?{re.escape(literal)}"
        assert re.search(pattern, text), f"{family}: no {kind} {literal} in ray/{relative}"


def test_every_metric_of_the_alerts_and_the_dashboard_exists_with_its_type():
    families = {family: kind for family, (kind, _, _) in RAY_BUILTINS.items()}
    families |= app_metrics()
    vllm = package_dir("vllm")
    if vllm is not None:
        families |= vllm_metrics(vllm)
    names = {m for e in exprs() for m in re.findall(r"\bray_\w+", e)}
    assert {"ray_rag_admission_decisions_total", "ray_vllm_kv_cache_usage_perc"} <= names
    missing = sorted(n for n in names if not resolves(n, families))
    if vllm is None:
        if all(n.startswith("ray_vllm_") for n in missing):
            pytest.skip("vLLM is not installed (RAG_SKIP_VLLM=1): its names are unchecked")
    assert missing == [], "no such metric (or the wrong suffix for its type)"


def test_the_name_check_catches_a_wrong_suffix_and_an_unknown_name():
    families = {"rag_generated_tokens": "counter", "vllm_kv_cache_usage_perc": "gauge"}
    assert resolves("ray_rag_generated_tokens_total", families)
    assert not resolves("ray_rag_generated_tokens", families)  # a counter needs _total
    assert not resolves("ray_vllm_kv_cache_usage_perc_total", families)
    assert not resolves("ray_vllm_gpu_cache_usage_perc", families)  # vLLM's old name


def test_the_alerts_file_is_a_prometheus_rule_with_every_alert_kind():
    (rule,) = docs(K8S_DIR / "monitoring" / "alerts.yaml")
    assert (rule["apiVersion"], rule["kind"]) == ("monitoring.coreos.com/v1", "PrometheusRule")
    assert rule["metadata"]["labels"]["release"] == monitoring.PROMETHEUS_RELEASE
    assert rule["metadata"]["namespace"] == profiles.NAMESPACE
    assert generated_files()["monitoring/alerts.yaml"] == (
        (K8S_DIR / "monitoring" / "alerts.yaml").read_text()
    )
    (group,) = rule["spec"]["groups"]
    names = [r["alert"] for r in group["rules"]]
    assert ALERT_KINDS <= set(names) and len(names) == len(set(names))
    for r in group["rules"]:
        assert re.fullmatch(r"\d+m", r["for"]), r["alert"]
        assert r["labels"]["severity"] in ("warning", "critical")
        assert {"summary", "description", "runbook"} <= r["annotations"].keys()
    (kustomization,) = docs(K8S_DIR / "monitoring" / "kustomization.yaml")
    assert "alerts.yaml" in kustomization["resources"]


def test_the_thresholds_are_in_the_expressions():
    by_name = {a.name: a.expr for a in alerts.alerts()}
    assert f"> {alerts.ERROR_RATIO}\n" in by_name["RagServeErrorRateHigh"]
    assert f"> {alerts.SHED_RATIO}\n" in by_name["RagServeShedRateHigh"]
    assert f"> {alerts.LATENCY_OBJECTIVE_S * 1000:g}\n" in by_name["RagServeLatencyP95High"]
    assert by_name["RagServeReplicaRestarts"].endswith(f"> {alerts.REPLICA_FAILURES}")
    assert by_name["RagServeKVCacheNearlyFull"].endswith(f"> {alerts.KV_CACHE_USAGE}")


def test_the_pod_monitor_is_selected_by_the_release_and_scrapes_the_head_servers():
    (monitor,) = docs(K8S_DIR / "monitoring" / "podmonitor.yaml")
    assert monitor["metadata"]["labels"]["release"] == monitoring.PROMETHEUS_RELEASE
    ports = [e["port"] for e in monitor["spec"]["podMetricsEndpoints"]]
    assert ports == ["metrics", "as-metrics", "dash-metrics"]
    assert monitoring.HEAD_METRICS_PORTS == {"as-metrics": 44217, "dash-metrics": 44227}
    assert all(len(name) <= 15 for name in ports)  # a container port name's limit


def test_the_head_container_declares_the_autoscaler_and_dashboard_metrics_ports():
    for overlay in profiles.PROFILES:
        (obj,) = docs(K8S_DIR / "overlays" / overlay / "rayservice.yaml")
        head = obj["spec"]["rayClusterConfig"]["headGroupSpec"]["template"]["spec"]
        (container,) = [c for c in head["containers"] if c["name"] == "ray-head"]
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert monitoring.HEAD_METRICS_PORTS.items() <= ports.items()


def test_the_vllm_row_shows_the_engine():
    board = dashboard()
    rows = [p["title"] for p in board["panels"] if p["type"] == "row"]
    assert rows[:4] == ["Edge", "Generation", "vLLM", "Ingestion"]
    vllm = {p["title"]: p for p in board["panels"] if p["title"].startswith("vLLM: ")}
    assert set(vllm) == {
        f"vLLM: {t}"
        for t in (
            "requests",
            "KV-cache use",
            "preemptions",
            "time to first token",
            "inter-token latency",
            "tokens/s",
        )
    }
    for title in ("vLLM: time to first token", "vLLM: inter-token latency"):
        assert [t["legendFormat"] for t in vllm[title]["targets"]] == ["p50", "p95", "p99"]
    assert vllm["vLLM: KV-cache use"]["fieldConfig"]["defaults"]["unit"] == "percentunit"


# promtool: the rules load, and each alert fires on synthetic series of its trouble.

HEALTHY_GENERATOR = 'ray_serve_deployment_replica_healthy{application="rag",deployment="Generator"}'
REQUESTS = 'ray_serve_num_http_requests_total{application="rag",route="/v1/query",method="POST"'
DECISIONS = 'ray_rag_admission_decisions_total{application="rag",route="query"'
LATENCY = (
    'ray_serve_http_request_latency_ms_{kind}{{application="rag",route="/v1/query",'
    'status_code="200"{le}}}'
)


def _series(name: str, values: str) -> dict[str, str]:
    return {"series": name, "values": values}


def _case(series: list[dict[str, str]], expected: dict[str, list[dict]]) -> dict:
    """One promtool test: 31 one-minute samples; each alert's firing instances at 30m."""
    return {
        "interval": "1m",
        "input_series": series,
        "alert_rule_test": [
            {"eval_time": "30m", "alertname": name, "exp_alerts": exp}
            for name, exp in expected.items()
        ],
    }


def promtool_cases() -> list[dict]:
    warning, critical = {"severity": "warning"}, {"severity": "critical"}
    return [
        # 1/s answered, 0.1/s 500s: 9% errors; nothing shed, the LLM is up.
        _case(
            [
                _series(f'{REQUESTS},status_code="200"}}', "0+60x30"),
                _series(f'{REQUESTS},status_code="500"}}', "0+6x30"),
                _series(HEALTHY_GENERATOR, "1x30"),
                _series('ray_vllm_engine_sleep_state{sleep_state="awake"}', "1x30"),
            ],
            {
                "RagServeErrorRateHigh": [{"exp_labels": critical}],
                "RagServeGeneratorWithoutLLM": [],
            },
        ),
        # As many 503s as the edge shed: not errors, but 17% of queries shed.
        _case(
            [
                _series(f'{REQUESTS},status_code="200"}}', "0+60x30"),
                _series(f'{REQUESTS},status_code="503"}}', "0+12x30"),
                _series(f'{DECISIONS},outcome="full"}}', "0+60x30"),
                _series(f'{DECISIONS},outcome="shed"}}', "0+12x30"),
            ],
            {"RagServeErrorRateHigh": [], "RagServeShedRateHigh": [{"exp_labels": warning}]},
        ),
        # 10 of 60 replies a minute over 10 s: p95 past the objective.
        _case(
            [
                _series(LATENCY.format(kind="bucket", le=',le="10000"'), "0+50x30"),
                _series(LATENCY.format(kind="bucket", le=',le="60000"'), "0+60x30"),
                _series(LATENCY.format(kind="bucket", le=',le="+Inf"'), "0+60x30"),
                _series(LATENCY.format(kind="count", le=""), "0+60x30"),
            ],
            {"RagServeLatencyP95High": [{"exp_labels": warning}]},
        ),
        # A Generator replica failing a check a minute; a full KV cache; no vLLM engine.
        _case(
            [
                _series(
                    'ray_serve_health_check_failures_total{application="rag",'
                    'deployment="Generator"}',
                    "0+1x30",
                ),
                _series('ray_vllm_kv_cache_usage_perc{model_name="m",ReplicaId="r1"}', "0.95x30"),
                _series('ray_vllm_kv_cache_usage_perc{model_name="m",ReplicaId="r2"}', "0.5x30"),
                _series(HEALTHY_GENERATOR, "1x30"),
            ],
            {
                "RagServeReplicaRestarts": [{"exp_labels": warning | {"deployment": "Generator"}}],
                "RagServeKVCacheNearlyFull": [
                    {"exp_labels": warning | {"model_name": "m", "ReplicaId": "r1"}}
                ],
                "RagServeGeneratorWithoutLLM": [{"exp_labels": warning}],
            },
        ),
        # Two failures in 30 minutes (a node drained): below the alert.
        _case(
            [
                _series(
                    'ray_serve_health_check_failures_total{application="rag",'
                    'deployment="Retriever"}',
                    "0x10 1x10 2x10",
                )
            ],
            {"RagServeReplicaRestarts": []},
        ),
    ]


def promtool() -> str | None:
    """$PROMTOOL, else the one scripts/setup.sh puts in .venv-tools, else PATH's."""
    local = ROOT / ".venv-tools" / "bin" / "promtool"
    return (
        os.environ.get("PROMTOOL")
        or (str(local) if local.is_file() else None)
        or shutil.which("promtool")
    )


def test_promtool_loads_the_rules_and_each_alert_fires_on_its_trouble(tmp_path):
    tool = promtool()
    if tool is None:
        pytest.fail("promtool is missing: bash scripts/setup.sh installs it into .venv-tools/bin")
    (rule,) = docs(K8S_DIR / "monitoring" / "alerts.yaml")
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump(rule["spec"]))
    check = subprocess.run([tool, "check", "rules", str(rules)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    # promtool compares annotations too; the templated ones are checked above, not here.
    for group in rule["spec"]["groups"]:
        for r in group["rules"]:
            r.pop("annotations")
    (tmp_path / "bare.yaml").write_text(yaml.safe_dump(rule["spec"]))
    covered = {t["alertname"] for case in promtool_cases() for t in case["alert_rule_test"]}
    assert covered == {a.name for a in alerts.alerts()}
    tests = tmp_path / "tests.yaml"
    tests.write_text(yaml.safe_dump({"rule_files": ["bare.yaml"], "tests": promtool_cases()}))
    run = subprocess.run([tool, "test", "rules", str(tests)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
