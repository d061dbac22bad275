"""The model cache: a volume the weights are downloaded to once, read by every pod.

Without it every new pod (each scale-up, each upgrade's new cluster) downloads the LLM's
weights from the hub before it can serve, and a hub outage stops the cluster from scaling.
With it, a Job downloads the models the profile's serve config names into the volume's
``HF_HOME`` once; the Ray pods mount it read-only and load with ``HF_HUB_OFFLINE=1``, so a
missing model is an immediate, explicit error, never a silent download (or, with
``generator.mode: vllm``, a silent extractive fallback).
"""

from __future__ import annotations

from typing import Any

from graph.k8s import pods
from graph.k8s import profiles as p
from graph.k8s.serve_config import cluster_serve_config, load_serve_config

JOB = f"{p.RAYSERVICE}-model-download"


def hub_models(profile: p.Profile) -> list[str]:
    """Hub ids the profile's stages load (the embedder and the default reranker are
    packaged in the image)."""
    app = cluster_serve_config(load_serve_config(), profile)["applications"][0]
    args = app["args"]
    found = [(args.get("generator") or {}).get("model"), (args.get("reranker") or {}).get("model")]
    return [m for m in found if m and "/" in m and not m.startswith(("/", "."))]


def objects(profile: p.Profile) -> list[dict[str, Any]]:
    """The cache's PersistentVolumeClaim and the Job that fills it."""
    labels = {"app.kubernetes.io/name": p.APP_LABEL, "app.kubernetes.io/component": "models"}
    meta = {"namespace": p.NAMESPACE, "labels": labels}
    claim = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": p.MODEL_CACHE_PVC, **meta},
        "spec": {
            # Many pods on many nodes read it: a ReadWriteMany class (NFS, EFS, Filestore,
            # CephFS...). On one node, ReadWriteOnce works too.
            "accessModes": ["ReadWriteMany"],
            "resources": {"requests": {"storage": profile.model_cache_size}},
        },
    }
    env = {**pods.RUNTIME_ENV, "HF_HUB_OFFLINE": "0", "TRANSFORMERS_OFFLINE": "0"}
    script = " && ".join(f"hf download {model}" for model in hub_models(profile))
    container = {
        "name": "download",
        "image": profile.image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["bash", "-c", f"set -euo pipefail; {script or 'true'}"],
        "env": [{"name": k, "value": v} for k, v in env.items()],
        "resources": pods.resources("1", "2Gi", disk="2Gi"),
        "securityContext": pods.container_security(),
        "volumeMounts": [
            pods.model_cache_mount(read_only=False),
            pods.secrets_mount(),
            {"name": "tmp", "mountPath": pods.SCRATCH},
        ],
    }
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": JOB, **meta},
        "spec": {
            "backoffLimit": 4,
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "restartPolicy": "OnFailure",
                    "automountServiceAccountToken": False,
                    "securityContext": pods.pod_security(),
                    "containers": [container],
                    "volumes": [
                        {
                            "name": "models",
                            "persistentVolumeClaim": {"claimName": p.MODEL_CACHE_PVC},
                        },
                        pods.secrets_volume(),
                        {"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}},
                    ],
                },
            },
        },
    }
    return [claim, job]
