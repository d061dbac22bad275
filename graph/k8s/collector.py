"""The OpenTelemetry Collector the Ray pods send their spans to (k8s/monitoring/).

Every Ray container has ``OTEL_EXPORTER_OTLP_ENDPOINT`` pointing at this Service
(``profiles.TRACING_ENV``); the collector receives OTLP over HTTP on 4318, batches, and
exports to its ``debug`` exporter (a summary per batch in its own log). Tempo or Jaeger are
one exporter away: ``COLLECTOR_CONFIG`` carries both, commented, with the line to change.
"""

from __future__ import annotations

from typing import Any

from graph.k8s import pods
from graph.k8s import profiles as p

IMAGE = "otel/opentelemetry-collector:0.139.0"
"""The core distribution: OTLP receiver, batch and memory_limiter processors, debug, otlp and
otlphttp exporters, health_check extension (its 0.139.0 manifest)."""
HEALTH_PORT = 13133
CHECKOV_SKIPS = {
    "checkov.io/skip1": "CKV_K8S_43=An upstream image by tag: its digest could not be "
    "resolved offline; pin it where you mirror the image (crane digest IMAGE)",
}
CONFIG_DIR = "/etc/otelcol-rag"

COLLECTOR_CONFIG = f"""\
# OpenTelemetry Collector: OTLP/HTTP in (the Ray pods' spans), debug out.
extensions:
  health_check:
    endpoint: 0.0.0.0:{HEALTH_PORT}
receivers:
  otlp:
    protocols:
      http:
        endpoint: 0.0.0.0:{p.OTLP_HTTP_PORT}
processors:
  memory_limiter:
    check_interval: 1s
    limit_mib: 400
    spike_limit_mib: 100
  batch: {{}}
exporters:
  # A line per batch in this pod's log: kubectl -n {p.NAMESPACE} logs deploy/{p.OTEL_COLLECTOR}
  # (`verbosity: detailed` prints every span with its attributes: rag.request_id, ...).
  debug:
    verbosity: basic
  # Grafana Tempo (its distributor takes OTLP/HTTP on 4318):
  # otlphttp/tempo:
  #   endpoint: http://tempo.monitoring.svc.cluster.local:4318
  # Jaeger (v1.35+ and v2 take OTLP; gRPC on 4317):
  # otlp/jaeger:
  #   endpoint: jaeger-collector.monitoring.svc.cluster.local:4317
  #   tls:
  #     insecure: true
service:
  extensions: [health_check]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [memory_limiter, batch]
      # Add otlphttp/tempo or otlp/jaeger here once uncommented above.
      exporters: [debug]
"""


def _labels() -> dict[str, str]:
    # Not the Ray pods' app label: their NetworkPolicy and PodMonitor must not select it.
    return {
        "app.kubernetes.io/name": p.OTEL_COLLECTOR,
        "app.kubernetes.io/part-of": p.APP_LABEL,
        "app.kubernetes.io/component": "tracing",
    }


def _meta(name: str) -> dict[str, Any]:
    return {"name": name, "namespace": p.NAMESPACE, "labels": _labels()}


def config_map() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _meta(f"{p.OTEL_COLLECTOR}-config"),
        "data": {"collector.yaml": COLLECTOR_CONFIG},
    }


def deployment() -> dict[str, Any]:
    """One collector replica; it keeps spans in memory only (memory_limiter, batch)."""
    probe = {"httpGet": {"path": "/", "port": "health"}, "periodSeconds": 10}
    container = {
        "name": "otel-collector",
        "image": IMAGE,
        "imagePullPolicy": "Always",  # by tag: always the registry's bytes for it
        "args": [f"--config={CONFIG_DIR}/collector.yaml"],
        "ports": [
            {"name": "otlp-http", "containerPort": p.OTLP_HTTP_PORT},
            {"name": "health", "containerPort": HEALTH_PORT},
        ],
        "readinessProbe": probe,
        "livenessProbe": probe,
        "resources": pods.resources("500m", "512Mi", disk="256Mi"),
        "volumeMounts": [{"name": "config", "mountPath": CONFIG_DIR, "readOnly": True}],
        # The image's user (10001), not root; the Ray pods' hardening otherwise.
        "securityContext": pods.container_security() | {"runAsGroup": 10001},
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(p.OTEL_COLLECTOR) | {"annotations": CHECKOV_SKIPS},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": _labels()},
            "template": {
                "metadata": {"labels": _labels()},
                "spec": {
                    "automountServiceAccountToken": False,
                    "securityContext": pods.pod_security(10001, 10001),
                    "containers": [container],
                    "volumes": [
                        {"name": "config", "configMap": {"name": f"{p.OTEL_COLLECTOR}-config"}}
                    ],
                },
            },
        },
    }


def service() -> dict[str, Any]:
    """``otel-collector.rag.svc:4318``: where ``OTEL_EXPORTER_OTLP_ENDPOINT`` points."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(p.OTEL_COLLECTOR),
        "spec": {
            "selector": _labels(),
            "ports": [
                {
                    "name": "otlp-http",
                    "port": p.OTLP_HTTP_PORT,
                    "targetPort": "otlp-http",
                    "protocol": "TCP",
                }
            ],
        },
    }


def network_policy() -> dict[str, Any]:
    """Only the Ray pods send spans (OTLP/HTTP); the kubelet's probes are not subject to
    NetworkPolicies."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _meta(f"{p.OTEL_COLLECTOR}-from-ray"),
        "spec": {
            "podSelector": {"matchLabels": _labels()},
            "policyTypes": ["Ingress"],
            "ingress": [
                {
                    "from": [
                        {"podSelector": {"matchLabels": {"app.kubernetes.io/name": p.APP_LABEL}}}
                    ],
                    "ports": [{"protocol": "TCP", "port": p.OTLP_HTTP_PORT}],
                }
            ],
        },
    }


def objects() -> list[dict[str, Any]]:
    return [config_map(), deployment(), service(), network_policy()]
