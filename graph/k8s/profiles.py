"""The deployment profiles (kustomize overlays) as data: ``cpu``, ``gpu`` and ``prod``.

Each profile says how ``serve_config.yaml`` changes on the cluster (``args`` and
per-deployment options, deep-merged over the file) and which Ray worker groups KubeRay
runs. Everything else in the manifests is shared.

- ``cpu``: every stage on CPU worker pods, vLLM's CPU backend (a cluster without GPUs).
- ``gpu``: one GPU packs one replica of every GPU stage (Generator 0.7, Retriever,
  Reranker and Ingester 0.1 each); the smallest GPU deployment.
- ``prod``: several GPU nodes; every stage at least 2 replicas, at most one per node, so
  a node's loss costs each stage one replica, never all of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from deployments.observability.tracing import EXPORTER_IMPORT_PATH

NAMESPACE = "rag"
APP_LABEL = "rag-serve"
RAYSERVICE = "rag-serve"
SECRET = "rag-serve-secrets"
KEYS_SECRET = "rag-serve-api-keys"
"""Secret holding the API keys file (hashes only), made with ``python -m graph.keys``."""
KEYS_DIR = "/etc/rag/keys"
KEYS_FILE = f"{KEYS_DIR}/keys.yaml"
"""Where every worker pod mounts the keys Secret (read-only); ``ingress.security.api_keys``."""
IMAGE_REPOSITORY = "registry.example.com/rag-serve"
"""Placeholder: replace with your registry (``--image`` or kustomize ``images:``)."""
IMAGE_DIGEST = "sha256:" + "0" * 64
"""Placeholder digest: images are deployed by digest (a tag can be moved to other bytes;
a digest cannot), so a pod never runs an image nobody reviewed. A pull of this placeholder
fails: render with ``--image REGISTRY/rag-serve@sha256:<digest of your build>``."""
MILVUS_NAMESPACE = "milvus"
"""Milvus, etcd and MinIO live in their own namespace: their charts' pods do not meet Pod
Security "restricted", which ``rag`` enforces, and their data outlives the app's."""
MILVUS_URI = f"http://milvus.{MILVUS_NAMESPACE}.svc.cluster.local:19530"
"""The Milvus Helm chart's Service (``fullnameOverride: milvus`` in k8s/milvus/values-*)."""
SECRETS_DIR = "/etc/rag/secrets"
"""Where every Ray pod mounts the secrets Secret (files, not environment variables: they
do not show in ``kubectl describe`` nor leak into every child process's environment)."""
MILVUS_TOKEN_FILE = f"{SECRETS_DIR}/MILVUS_TOKEN"
HF_TOKEN_FILE = f"{SECRETS_DIR}/HF_TOKEN"
MODEL_CACHE_PVC = "rag-serve-models"
"""PersistentVolumeClaim of the model cache: weights downloaded once (k8s/models), read by
every pod from ``HF_HOME`` offline instead of each pod fetching them from the hub."""
MODELS_DIR = "/models"
HF_HOME = f"{MODELS_DIR}/huggingface"
REDIS = "rag-serve-redis"
"""Service (and Secret) of the Redis that keeps the GCS's state (GCS fault tolerance)."""
REDIS_PORT = 6379
REDIS_ADDRESS = f"{REDIS}.{NAMESPACE}.svc.cluster.local:{REDIS_PORT}"
CPU_WORKER_RESOURCE = "rag_cpu_worker"
"""Custom Ray resource only CPU worker pods advertise; CPU-only stages ask for it."""

SERVE_PORT = 8000
DASHBOARD_PORT = 8265
METRICS_PORT = 8080
GCS_PORT = 6379
CLIENT_PORT = 10001

OTEL_COLLECTOR = "otel-collector"
OTLP_HTTP_PORT = 4318
OTLP_ENDPOINT = f"http://{OTEL_COLLECTOR}.{NAMESPACE}.svc.cluster.local:{OTLP_HTTP_PORT}"
"""The OpenTelemetry Collector's OTLP/HTTP receiver (k8s/monitoring/otel-collector.yaml)."""

TRACING_ENV = {
    # Serve (proxy and every replica) traces each request, one trace through every
    # deployment, and hands the spans to this hook, which sends them to the collector.
    # Serve's own default samples 1%; every request here (lower it under heavy load).
    "RAY_SERVE_TRACING_EXPORTER_IMPORT_PATH": EXPORTER_IMPORT_PATH,
    "RAY_SERVE_TRACING_SAMPLING_RATIO": "1.0",
    "OTEL_EXPORTER_OTLP_ENDPOINT": OTLP_ENDPOINT,
    "OTEL_SERVICE_NAME": APP_LABEL,
}
"""Environment of every Ray container that turns Ray Serve's tracing on (docs/OBSERVABILITY.md)."""


@dataclass(frozen=True)
class WorkerGroup:
    """One KubeRay worker group: pod size and how far the Ray autoscaler may scale it."""

    name: str
    min_replicas: int
    max_replicas: int
    cpu: str
    memory: str
    gpus: int = 0
    ray_resources: dict[str, str] = field(default_factory=dict)
    ephemeral_storage: str = "20Gi"
    """Node disk the pod may use (Ray's logs and spilled objects under /tmp)."""


@dataclass(frozen=True)
class Profile:
    """One overlay: the image variant, the serve-config changes and the worker groups."""

    name: str
    image_tag: str
    args: dict[str, Any]
    deployments: dict[str, dict[str, Any]]
    worker_groups: tuple[WorkerGroup, ...]
    worker_env: dict[str, str] = field(default_factory=dict)
    ray_env: dict[str, str] = field(default_factory=dict)
    """Environment of every Ray container, head and workers (the proxies run on both)."""
    spread: str = "ScheduleAnyway"
    """``whenUnsatisfiable`` of the worker pods' spread over nodes: ``DoNotSchedule`` where
    availability depends on it (``prod``), else a preference."""
    model_cache_size: str = "50Gi"

    @property
    def image(self) -> str:
        """Tag for the reader, digest for the puller (the digest wins when both are given)."""
        return f"{IMAGE_REPOSITORY}:{self.image_tag}@{IMAGE_DIGEST}"

    @property
    def gpus_available(self) -> int:
        """GPUs the GPU worker groups offer at their max size."""
        return sum(g.gpus * g.max_replicas for g in self.worker_groups)


def _cpu_stage(num_cpus: float, max_replicas: int) -> dict[str, Any]:
    """A stage kept on CPU workers (off the GPU nodes) by the custom resource."""
    return {
        "autoscaling_config": {"max_replicas": max_replicas},
        "ray_actor_options": {"num_cpus": num_cpus, "resources": {CPU_WORKER_RESOURCE: 0.01}},
    }


def _spread(stage: dict[str, Any], min_replicas: int = 2) -> dict[str, Any]:
    """``stage`` with ``min_replicas`` replicas always up, at most one per Ray node: a node
    lost (drained, preempted, crashed) takes one replica of the stage, not all."""
    autoscaling = {**stage.get("autoscaling_config", {}), "min_replicas": min_replicas}
    return {**stage, "autoscaling_config": autoscaling, "max_replicas_per_node": 1}


def _cpu_singleton(num_cpus: float) -> dict[str, Any]:
    """A one-replica stage (the Quota) kept on CPU workers; its replica count comes from
    serve_config.yaml and must stay 1."""
    return {"ray_actor_options": {"num_cpus": num_cpus, "resources": {CPU_WORKER_RESOURCE: 0.01}}}


# Every stage reaches the cluster's Milvus by URI (its token read from the mounted Secret);
# the graph runs no Milvus Lite there. API keys are on: the Ingress reads the keys file
# mounted from the keys Secret.
_SERVER_ARGS = {
    "milvus": {"uri": MILVUS_URI, "lite": None, "token_file": MILVUS_TOKEN_FILE},
    "ingress": {"security": {"api_keys": KEYS_FILE}},
}


def _generator(**options: Any) -> dict[str, Any]:
    """The Generator's args on a cluster: the LLM is required (``mode: vllm``). With
    ``auto`` a pod that cannot load the model would answer extractively and report
    healthy, and an upgrade could move all traffic to a cluster without an LLM; with
    ``vllm`` such a replica fails its start and the RayService never switches to it."""
    return {"mode": "vllm", **options}


CPU = Profile(
    name="cpu",
    image_tag="0.1.0-cpu",
    args={
        **_SERVER_ARGS,
        "generator": _generator(
            num_cpus=4.0,
            # On the CPU backend vLLM's KV cache is host memory: size it explicitly, so the
            # engine does not take a fraction of the *node's* memory past the pod's limit.
            engine_kwargs={"max_model_len": 2048, "kv_cache_memory_bytes": 4 * 1024**3},
        ),
    },
    deployments={
        "Ingress": _cpu_stage(0.5, 4),
        "Supervisor": _cpu_stage(0.5, 4),
        "QueryRewriter": _cpu_stage(0.25, 4),
        # A Milvus server takes any number of clients: every stage scales out.
        "Retriever": _cpu_stage(1.0, 4),
        "Reranker": _cpu_stage(1.0, 4),
        "Ingester": _cpu_stage(2.0, 4),
        "Quota": _cpu_singleton(0.1),
    },
    worker_groups=(
        WorkerGroup(
            "cpu-workers", 1, 6, cpu="8", memory="24Gi", ray_resources={CPU_WORKER_RESOURCE: "1000"}
        ),
    ),
    ray_env=TRACING_ENV,
)

_GPU_ARGS = {
    **_SERVER_ARGS,
    "generator": _generator(
        num_cpus=2.0,
        # One GPU shared by one replica each of Retriever (0.1), Reranker (0.1), Ingester
        # (0.1) and the generator (0.7): vLLM may reserve at most its 0.7 share of GPU
        # memory.
        num_gpus=0.7,
        engine_kwargs={"max_model_len": 4096, "gpu_memory_utilization": 0.65},
    ),
}


def _gpu_stage(max_replicas: int) -> dict[str, Any]:
    """A stage with a 0.1 share of a GPU (next to the Generator's 0.7)."""
    return {
        "autoscaling_config": {"max_replicas": max_replicas},
        "ray_actor_options": {"num_cpus": 1.0, "num_gpus": 0.1},
    }


GPU = Profile(
    name="gpu",
    image_tag="0.1.0-gpu",
    args=_GPU_ARGS,
    deployments={
        "Ingress": _cpu_stage(0.5, 4),
        "Supervisor": _cpu_stage(0.5, 4),
        "QueryRewriter": _cpu_stage(0.25, 4),
        "Retriever": _gpu_stage(2),
        "Reranker": _gpu_stage(2),
        "Ingester": _gpu_stage(2),
        "Generator": {"autoscaling_config": {"max_replicas": 2}},
        "Quota": _cpu_singleton(0.1),
    },
    worker_groups=(
        WorkerGroup(
            "cpu-workers", 1, 4, cpu="4", memory="8Gi", ray_resources={CPU_WORKER_RESOURCE: "1000"}
        ),
        WorkerGroup("gpu-workers", 1, 2, cpu="8", memory="32Gi", gpus=1),
    ),
    ray_env=TRACING_ENV,
)

PROD_GPU_NODES = 4
"""GPU worker pods (one GPU each) the production profile may scale to."""

PROD = Profile(
    name="prod",
    image_tag="0.1.0-gpu",
    args=_GPU_ARGS,
    deployments={
        "Ingress": _spread(_cpu_stage(0.5, 6)),
        "Supervisor": _spread(_cpu_stage(0.5, 6)),
        "QueryRewriter": _spread(_cpu_stage(0.25, 6)),
        "Retriever": _spread(_gpu_stage(PROD_GPU_NODES)),
        "Reranker": _spread(_gpu_stage(PROD_GPU_NODES)),
        "Ingester": _spread(_gpu_stage(PROD_GPU_NODES)),
        "Generator": _spread({"autoscaling_config": {"max_replicas": PROD_GPU_NODES}}),
        # The Quota is the one ledger of every key's requests and tokens: a second replica
        # would halve every limit. It stays one replica; losing it costs seconds of 503s
        # with Retry-After until Serve restarts it (docs/RELIABILITY.md, chaos run).
        "Quota": _cpu_singleton(0.1),
    },
    worker_groups=(
        WorkerGroup(
            "cpu-workers", 2, 6, cpu="4", memory="8Gi", ray_resources={CPU_WORKER_RESOURCE: "1000"}
        ),
        WorkerGroup("gpu-workers", 2, PROD_GPU_NODES, cpu="8", memory="32Gi", gpus=1),
    ),
    ray_env=TRACING_ENV,
    spread="DoNotSchedule",
    model_cache_size="100Gi",
)

PROFILES: dict[str, Profile] = {p.name: p for p in (CPU, GPU, PROD)}
