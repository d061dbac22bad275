"""What keeps the graph up through node drains and a head pod's death.

- **GCS fault tolerance**: the RayService's ``gcsFaultToleranceOptions`` point the GCS at
  this Redis, so when the head pod dies the workers (and the Serve replicas on them) keep
  serving while KubeRay starts a new head, which reloads the cluster's state from Redis
  instead of restarting every worker and reloading vLLM. Redis keeps its data on a
  PersistentVolume (append-only file) so a Redis restart loses nothing either.
- **PodDisruptionBudgets**: a drain evicts at most one pod of a worker group at a time.
  The head has none: it is one pod, and a budget of one would block every node drain;
  with GCS fault tolerance its eviction does not interrupt serving.
"""

from __future__ import annotations

from typing import Any

from graph.k8s import pods
from graph.k8s import profiles as p

REDIS_IMAGE = (
    "redis:7.4.2-alpine@sha256:02419de7eddf55aa5bcf49efb74e88fa8d931b4d77c07eff8a6b2144472b6952"
)
"""Redis 7.4.2 (alpine) by digest: the multi-arch index digest of that tag as pinned by
several unrelated public projects (not pulled here: no registry access on the dev VM)."""
REDIS_UID = 10001
REDIS_SECRET_DIR = "/etc/redis/secret"

#: redis.conf: the password comes from the Secret through ``include`` (never a command-line
#: argument, which ``ps`` shows); data in the append-only file on the volume.
REDIS_CONF = f"""\
port {p.REDIS_PORT}
dir /data
appendonly yes
appendfsync everysec
protected-mode yes
include {REDIS_SECRET_DIR}/requirepass.conf
"""


def _meta(name: str, component: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    default = {"app.kubernetes.io/name": p.APP_LABEL, "app.kubernetes.io/component": component}
    return {"name": name, "namespace": p.NAMESPACE, "labels": labels or default}


def _redis_labels() -> dict[str, str]:
    """Not ``app.kubernetes.io/name: rag-serve``: the Ray pods' policy and monitors select
    by that label, and Redis is reachable by the Ray pods only (its own policy)."""
    return {"app.kubernetes.io/name": p.REDIS, "app.kubernetes.io/part-of": p.APP_LABEL}


def gcs_fault_tolerance() -> dict[str, Any]:
    """The RayService's ``rayClusterConfig.gcsFaultToleranceOptions``."""
    return {
        "redisAddress": p.REDIS_ADDRESS,
        "redisPassword": {"valueFrom": {"secretKeyRef": {"name": p.REDIS, "key": "password"}}},
    }


def redis_secret_example() -> dict[str, Any]:
    """Placeholders of the Redis Secret (applied by hand, see ``k8s/base/secret.example``):
    the password for KubeRay, and the same password as a redis.conf line for Redis."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _meta(p.REDIS, "redis", _redis_labels()),
        "type": "Opaque",
        "stringData": {"password": "CHANGE-ME", "requirepass.conf": "requirepass CHANGE-ME\n"},
    }


def redis_objects() -> list[dict[str, Any]]:
    """ConfigMap, Service, StatefulSet and NetworkPolicy of the GCS's Redis."""
    labels = _redis_labels()
    container = {
        "name": "redis",
        "image": REDIS_IMAGE,
        "imagePullPolicy": "IfNotPresent",
        "args": ["/etc/redis/redis.conf"],
        "ports": [{"name": "redis", "containerPort": p.REDIS_PORT}],
        "resources": pods.resources("500m", "1Gi", disk="1Gi"),
        "securityContext": pods.container_security()
        | {"runAsUser": REDIS_UID, "runAsGroup": REDIS_UID},
        # A TCP probe: a PING needs the password, which would then sit in the pod spec.
        "readinessProbe": {"tcpSocket": {"port": "redis"}, "periodSeconds": 5},
        "livenessProbe": {
            "tcpSocket": {"port": "redis"},
            "initialDelaySeconds": 15,
            "periodSeconds": 10,
        },
        "volumeMounts": [
            {"name": "data", "mountPath": "/data"},
            {"name": "config", "mountPath": "/etc/redis/redis.conf", "subPath": "redis.conf"},
            {"name": "secret", "mountPath": REDIS_SECRET_DIR, "readOnly": True},
        ],
    }
    statefulset = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": _meta(p.REDIS, "redis", labels),
        "spec": {
            "serviceName": p.REDIS,
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "automountServiceAccountToken": False,
                    "securityContext": pods.pod_security(REDIS_UID, REDIS_UID),
                    "containers": [container],
                    "volumes": [
                        {"name": "config", "configMap": {"name": p.REDIS}},
                        {
                            "name": "secret",
                            "secret": {"secretName": p.REDIS, "defaultMode": 0o440},
                        },
                    ],
                },
            },
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "data"},
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": "8Gi"}},
                    },
                }
            ],
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(p.REDIS, "redis", labels),
        "spec": {
            "selector": labels,
            "ports": [{"name": "redis", "port": p.REDIS_PORT, "targetPort": "redis"}],
        },
    }
    config = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _meta(p.REDIS, "redis", labels),
        "data": {"redis.conf": REDIS_CONF},
    }
    policy = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _meta(f"{p.REDIS}-ray-only", "network-policy", labels),
        "spec": {
            "podSelector": {"matchLabels": labels},
            "policyTypes": ["Ingress"],
            # Only the Ray pods (the GCS on the head) reach Redis; nothing else at all.
            "ingress": [
                {
                    "from": [
                        {"podSelector": {"matchLabels": {"app.kubernetes.io/name": p.APP_LABEL}}}
                    ],
                    "ports": [{"protocol": "TCP", "port": p.REDIS_PORT}],
                }
            ],
        },
    }
    return [config, service, statefulset, policy]


def disruption_budgets(profile: p.Profile) -> list[dict[str, Any]]:
    """One PodDisruptionBudget per worker group: a drain takes one pod of it at a time."""
    return [
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": _meta(f"{p.RAYSERVICE}-{group.name}", "disruption-budget"),
            "spec": {
                "maxUnavailable": 1,
                "selector": {
                    "matchLabels": {
                        "app.kubernetes.io/name": p.APP_LABEL,
                        "app.kubernetes.io/component": group.name,
                    }
                },
            },
        }
        for group in profile.worker_groups
    ]
