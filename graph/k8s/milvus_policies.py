"""NetworkPolicies for Milvus and the etcd and MinIO the Milvus Helm chart installs with it.

Without them every pod in the cluster reaches Milvus's gRPC port, etcd (Milvus's metadata,
with no auth in the chart's defaults: ``etcd.auth.rbac.enabled: false``) and MinIO (every
vector and index file). Each policy selects one set of pods and lists who may reach them:
a pod selected by a policy with ``policyTypes: [Ingress]`` refuses every connection that
no rule allows, so the policies are the default deny for those pods as well.

- Milvus (every component: standalone, or proxy, mixcoord, query/data/streaming nodes):
  the RAG pods reach the gRPC port; Milvus components reach each other on any port (their
  internal gRPC ports differ per component and version); namespace ``monitoring`` reaches
  the metrics port (9091, also ``/healthz``).
- etcd: Milvus reaches the client port; etcd members reach each other on the client and
  peer ports (raft, and ``etcdctl member`` calls when the StatefulSet scales).
- MinIO: Milvus reaches the S3 port; MinIO servers reach each other on it (distributed mode).

Kubelet probes are not affected: traffic from a pod's own node is always allowed.
``kubectl port-forward`` is not subject to NetworkPolicies either.

The pod labels are the ones the pinned chart's templates set (see each ``PodLabels``). They
were read at milvus-helm commit 98324768 (chart 5.0.19, the newest the sources held) and are
unchanged there since 2020 (``milvus.matchLabels``) and across MinIO chart 8.0.17-8.0.19; the
etcd labels come from Bitnami's ``common.labels.standard``. ``app.kubernetes.io/instance``
and ``release`` are the Helm release name, ``milvus`` in every install command.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from graph.k8s.profiles import APP_LABEL, MILVUS_NAMESPACE, NAMESPACE

MILVUS_CHART_REPO = "https://zilliztech.github.io/milvus-helm/"
MILVUS_CHART_VERSION = "5.0.27"
"""The first Milvus chart in the published Helm index whose defaults are Milvus 3
(``appVersion`` and ``image.all.tag`` v3.0.1). 5.0.26 (Milvus v3.0.0) exists only as a
GitHub release asset, not in the index, so ``helm --version 5.0.26`` cannot resolve it."""
MILVUS_APP_VERSION = "3.0.1"
"""The Milvus image the pinned chart deploys by default; the values files do not override it."""
RELEASE = "milvus"
"""The Helm release name: the charts put it in ``app.kubernetes.io/instance`` / ``release``."""
MONITORING_NAMESPACE = "monitoring"

MILVUS_TEMPLATES = "zilliztech/milvus-helm charts/milvus/templates"
ETCD_CHART = "bitnami etcd 8.12.0 (charts/milvus/charts/etcd-8.12.0.tgz)"
MINIO_CHART = "milvus-helm minio 8.0.17 (charts/milvus/charts/minio-8.0.17.tgz)"


@dataclass(frozen=True)
class PodLabels:
    """The labels a chart template puts on one component's pods, and where it says so."""

    component: str
    labels: dict[str, str] = field(hash=False)
    source: str


@dataclass(frozen=True)
class Port:
    """A port a chart's pods listen on, and the template or values that set it."""

    name: str
    number: int
    source: str


MILVUS_PODS = PodLabels(
    "milvus",
    {"app.kubernetes.io/name": "milvus", "app.kubernetes.io/instance": RELEASE},
    f"{MILVUS_TEMPLATES}/_helpers.tpl `milvus.matchLabels` (name = chart name, instance ="
    " release), in the pod template of every component next to `component: <name>`"
    " (standalone-, proxy-, mixcoord-, querynode-, datanode-, streamingnode-deployment.yaml)",
)
ETCD_PODS = PodLabels(
    "etcd",
    {"app.kubernetes.io/name": "etcd", "app.kubernetes.io/instance": RELEASE},
    f"{ETCD_CHART} templates/statefulset.yaml pod labels `common.labels.standard`"
    " (charts/common 2.4.0 _labels.tpl: name = chart name, instance = release)",
)
MINIO_PODS = PodLabels(
    "minio",
    {"app": "minio", "release": RELEASE},
    f"{MINIO_CHART} templates/statefulset.yaml (distributed) and deployment.yaml"
    " (standalone) pod labels `app: minio.name`, `release: .Release.Name`",
)
RAG_PODS = PodLabels(
    "rag-serve",
    {"app.kubernetes.io/name": APP_LABEL},
    "graph/k8s/manifests.py: every Ray pod (head and worker groups) of the RayService",
)

MILVUS_GRPC = Port(
    "milvus",
    19530,
    f"{MILVUS_TEMPLATES}/standalone-deployment.yaml, proxy-deployment.yaml containerPort"
    " `milvus`; values.yaml service.port",
)
MILVUS_METRICS = Port(
    "metrics",
    9091,
    f"{MILVUS_TEMPLATES}/standalone-deployment.yaml, proxy-deployment.yaml containerPort"
    " `metrics` (/metrics, /healthz)",
)
ETCD_CLIENT = Port(
    "client", 2379, f"{ETCD_CHART} values.yaml containerPorts.client; milvus values etcd.service"
)
ETCD_PEER = Port(
    "peer", 2380, f"{ETCD_CHART} values.yaml containerPorts.peer; milvus values etcd.service"
)
MINIO_API = Port(
    "http", 9000, f"{MINIO_CHART} templates/statefulset.yaml, deployment.yaml containerPort"
)


def _selector(pods: PodLabels) -> dict[str, Any]:
    return {"matchLabels": dict(pods.labels)}


def _tcp(*ports: Port) -> list[dict[str, Any]]:
    return [{"protocol": "TCP", "port": port.number} for port in ports]


def _in_namespace(namespace: str, pods: PodLabels | None = None) -> dict[str, Any]:
    """A peer in ``namespace`` (by its automatic ``kubernetes.io/metadata.name`` label)."""
    peer: dict[str, Any] = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}
    }
    if pods is not None:
        peer["podSelector"] = _selector(pods)
    return peer


def _policy(name: str, pods: PodLabels, ingress: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": name,
            "namespace": MILVUS_NAMESPACE,
            "labels": {
                "app.kubernetes.io/name": APP_LABEL,
                "app.kubernetes.io/component": "network-policy",
            },
        },
        "spec": {"podSelector": _selector(pods), "policyTypes": ["Ingress"], "ingress": ingress},
    }


def milvus_policy() -> dict[str, Any]:
    """Milvus: gRPC from the RAG pods, anything from Milvus itself, metrics from monitoring.

    Every Milvus component carries the same two labels, so one policy covers standalone and
    cluster mode; only the proxy (cluster) or standalone pod listens on 19530.
    """
    return _policy(
        "milvus-ingress",
        MILVUS_PODS,
        [
            {"from": [{"podSelector": _selector(MILVUS_PODS)}]},
            {"from": [_in_namespace(NAMESPACE, RAG_PODS)], "ports": _tcp(MILVUS_GRPC)},
            {"from": [_in_namespace(MONITORING_NAMESPACE)], "ports": _tcp(MILVUS_METRICS)},
        ],
    )


def etcd_policy() -> dict[str, Any]:
    """etcd: clients from Milvus only; client and peer ports between etcd members."""
    return _policy(
        "milvus-etcd-ingress",
        ETCD_PODS,
        [
            {"from": [{"podSelector": _selector(MILVUS_PODS)}], "ports": _tcp(ETCD_CLIENT)},
            {
                "from": [{"podSelector": _selector(ETCD_PODS)}],
                "ports": _tcp(ETCD_CLIENT, ETCD_PEER),
            },
        ],
    )


def minio_policy() -> dict[str, Any]:
    """MinIO: the S3 port from Milvus and, in distributed mode, from the other MinIO servers."""
    return _policy(
        "milvus-minio-ingress",
        MINIO_PODS,
        [
            {
                "from": [
                    {"podSelector": _selector(MILVUS_PODS)},
                    {"podSelector": _selector(MINIO_PODS)},
                ],
                "ports": _tcp(MINIO_API),
            }
        ],
    )


def objects() -> list[dict[str, Any]]:
    """The NetworkPolicies of k8s/milvus/networkpolicy.yaml, applied after the Helm install."""
    return [milvus_policy(), etcd_policy(), minio_policy()]
