"""How every pod of the graph runs: Pod Security "restricted", read-only root filesystem,
secrets as files, the model cache, and the writable scratch Ray needs.

The rules (Kubernetes' Pod Security Standards, "restricted"; the checks checkov runs, see
``k8s/checkov.yaml``) and how each is met:

- non-root, high UID: ``RUN_AS_UID`` (10001) is no user of the host; the group is the
  image's ``users`` (100), which owns the app and Python under ``/home/ray``, so they stay
  readable without rebuilding the image for another UID;
- seccomp ``RuntimeDefault``, no privilege escalation, every capability dropped;
- a read-only root filesystem: Ray writes its session (logs, sockets, spilled objects)
  under ``/tmp`` and its object store to ``/dev/shm``, both ``emptyDir`` volumes here with
  size limits; ``HOME`` and every cache point into ``/tmp``;
- no service-account token where nothing calls the Kubernetes API (only the head's
  autoscaler does);
- secrets mounted as files (``profiles.SECRETS_DIR``), read by the app through
  ``milvus.token_file`` and ``HF_TOKEN_PATH``, never environment variables.
"""

from __future__ import annotations

from typing import Any

from graph.k8s import profiles as p

RUN_AS_UID = 10001
RUN_AS_GID = 100  # `users`, the group of /home/ray in the rayproject/ray images
SCRATCH = "/tmp"

#: Environment of every Ray container: nothing is written outside the scratch volumes,
#: and models load from the cache volume without reaching the hub.
RUNTIME_ENV = {
    "HOME": f"{SCRATCH}/home",
    "XDG_CACHE_HOME": f"{SCRATCH}/cache",
    "VLLM_CACHE_ROOT": f"{SCRATCH}/cache/vllm",
    "PYTHONDONTWRITEBYTECODE": "1",
    "HF_HOME": p.HF_HOME,
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_TOKEN_PATH": p.HF_TOKEN_FILE,
}


def container_security() -> dict[str, Any]:
    """Every container's securityContext (also set at pod level; both, so a container
    KubeRay adds from a template keeps them)."""
    return {
        "allowPrivilegeEscalation": False,  # also disables the image's passwordless sudo
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "runAsUser": RUN_AS_UID,
        "runAsGroup": RUN_AS_GID,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def pod_security(uid: int = RUN_AS_UID, gid: int = RUN_AS_GID) -> dict[str, Any]:
    """A pod's securityContext; ``fsGroup`` makes mounted volumes writable by ``gid``."""
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": gid,
        "fsGroup": gid,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def resources(cpu: str, memory: str, *, gpus: int = 0, disk: str = "") -> dict[str, Any]:
    """Requests equal to limits (the Guaranteed QoS class: not evicted first under node
    pressure), node disk included when ``disk`` is given."""
    amount = {"cpu": cpu, "memory": memory}
    if disk:
        amount["ephemeral-storage"] = disk
    if gpus:
        amount["nvidia.com/gpu"] = str(gpus)
    return {"requests": dict(amount), "limits": dict(amount)}


def scratch_volumes(*, tmp: str, shm: str) -> list[dict[str, Any]]:
    """``/tmp`` on the node's disk and ``/dev/shm`` (Ray's object store) in memory."""
    return [
        {"name": "tmp", "emptyDir": {"sizeLimit": tmp}},
        {"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": shm}},
    ]


def scratch_mounts() -> list[dict[str, Any]]:
    return [{"name": "tmp", "mountPath": SCRATCH}, {"name": "shm", "mountPath": "/dev/shm"}]


def secrets_volume() -> dict[str, Any]:
    """The app's secrets, one file per key (``MILVUS_TOKEN``; ``HF_TOKEN`` only for gated
    models: a missing token file is no token)."""
    return {
        "name": "secrets",
        # 0440: owner and the pod's group read; no one writes.
        "secret": {"secretName": p.SECRET, "defaultMode": 0o440},
    }


def secrets_mount() -> dict[str, Any]:
    return {"name": "secrets", "mountPath": p.SECRETS_DIR, "readOnly": True}


def model_cache_volume() -> dict[str, Any]:
    return {
        "name": "models",
        "persistentVolumeClaim": {"claimName": p.MODEL_CACHE_PVC, "readOnly": True},
    }


def model_cache_mount(*, read_only: bool = True) -> dict[str, Any]:
    return {"name": "models", "mountPath": p.MODELS_DIR, "readOnly": read_only}


SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


def api_token_volume() -> dict[str, Any]:
    """What the kubelet mounts when a pod automounts its service-account token (a short-lived
    token, the cluster CA, the namespace), as an explicit volume: mounted into the one
    container that calls the API (the head's autoscaler), not into the Ray container that
    runs user code."""
    return {
        "name": "kube-api-access",
        "projected": {
            "defaultMode": 0o444,
            "sources": [
                {"serviceAccountToken": {"path": "token", "expirationSeconds": 3607}},
                {
                    "configMap": {
                        "name": "kube-root-ca.crt",
                        "items": [{"key": "ca.crt", "path": "ca.crt"}],
                    }
                },
                {
                    "downwardAPI": {
                        "items": [
                            {"path": "namespace", "fieldRef": {"fieldPath": "metadata.namespace"}}
                        ]
                    }
                },
            ],
        },
    }


def api_token_mount() -> dict[str, Any]:
    return {"name": "kube-api-access", "mountPath": SERVICE_ACCOUNT_DIR, "readOnly": True}


def spread_over_nodes(component: str, when_unsatisfiable: str) -> list[dict[str, Any]]:
    """Pods of one worker group spread over nodes (and, as a preference, zones): with
    ``DoNotSchedule`` two pods of the group never share a node while another has room."""

    def rule(key: str, when: str) -> dict[str, Any]:
        return {
            "maxSkew": 1,
            "topologyKey": key,
            "whenUnsatisfiable": when,
            "labelSelector": {
                "matchLabels": {
                    "app.kubernetes.io/name": p.APP_LABEL,
                    "app.kubernetes.io/component": component,
                }
            },
        }

    return [
        rule("kubernetes.io/hostname", when_unsatisfiable),
        rule("topology.kubernetes.io/zone", "ScheduleAnyway"),
    ]
