"""GPU placement check: the stages meant to share one GPU must fit on it (pure).

On the GPU profile the Retriever (query embeddings), the Reranker (ColBERT), the Ingester
(passage encoding) and the vLLM Generator each take a fraction of one GPU through Ray's
``num_gpus``. Ray only counts
those fractions; it does not stop vLLM from taking more memory than its share. Two
mistakes therefore start fine and fail later: fractions that add up to more than one
GPU (replicas stay pending), and vLLM's ``gpu_memory_utilization`` above the generator's
share (the engine reserves memory the other stages need: CUDA out of memory).

Where the generator's GPU share comes from: with vLLM, ``ray.serve.llm.LLMServer`` puts
the engine in a placement bundle of ``generator.num_gpus`` (``args``) and adds the
deployment's own ``ray_actor_options.num_gpus`` to that bundle, so its share is the sum.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from deployments.errors import ConfigError
from deployments.generator.config import GeneratorConfig

SHARED_GPU_STAGES = ("Retriever", "Reranker", "Ingester", "Generator")
"""Deployments that share one GPU on the GPU profile, one replica of each."""

VLLM_DEFAULT_GPU_MEMORY_UTILIZATION = 0.9
"""What vLLM reserves when ``engine_kwargs`` does not say (vLLM's own default)."""


@dataclass(frozen=True)
class GpuDemand:
    """What one deployment asks of the GPUs: a share per replica, and how many replicas."""

    deployment: str
    per_replica: float
    max_replicas: int
    source: str


def generator_memory_utilization(generator: GeneratorConfig) -> float:
    """The fraction of GPU memory vLLM will reserve for this generator config."""
    value = generator.engine_kwargs.get(
        "gpu_memory_utilization", VLLM_DEFAULT_GPU_MEMORY_UTILIZATION
    )
    return float(value)


def check_generator_share(generator: GeneratorConfig, extra_gpus: float = 0.0) -> None:
    """Reject a vLLM memory reservation larger than the generator's GPU share.

    The start-up check (``build_app`` sees the generator config but not the deployment
    options, so ``extra_gpus`` is 0 there). Off the GPU (``num_gpus`` 0) vLLM's
    ``gpu_memory_utilization`` is a share of host memory and is not checked here.

    >>> check_generator_share(GeneratorConfig(num_gpus=0.7,
    ...     engine_kwargs={"gpu_memory_utilization": 0.65}))
    >>> check_generator_share(GeneratorConfig(num_gpus=0.5, engine_kwargs={}))
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    deployments.errors.ConfigError: generator.engine_kwargs.gpu_memory_utilization=0.9 \
(vLLM's default) is more than the generator's GPU share 0.5 (...): vLLM would reserve GPU \
memory that the stages sharing its GPU need. Set gpu_memory_utilization to at most 0.5, ...
    """
    share = generator.num_gpus + extra_gpus
    if generator.mode == "extractive" or share <= 0:
        return
    utilization = generator_memory_utilization(generator)
    if utilization > share + 1e-9:
        said = "" if "gpu_memory_utilization" in generator.engine_kwargs else " (vLLM's default)"
        raise ConfigError(
            f"generator.engine_kwargs.gpu_memory_utilization={utilization!r}{said} is more "
            f"than the generator's GPU share {_fmt(share)} (generator.num_gpus "
            f"{_fmt(generator.num_gpus)} + Generator ray_actor_options.num_gpus "
            f"{_fmt(extra_gpus)}): vLLM would reserve GPU memory that the stages sharing its "
            f"GPU need. Set gpu_memory_utilization to at most {_fmt(share)}, or raise "
            "generator.num_gpus and lower the other stages' num_gpus so the shares still "
            "sum to <= 1.",
            param="generator.engine_kwargs.gpu_memory_utilization",
        )


def gpu_demands(application: Mapping[str, Any]) -> list[GpuDemand]:
    """Each deployment's GPU share per replica, from one serve-config application.

    ``application`` is one entry of a serve config's ``applications`` (``args`` and
    ``deployments``). Deployments that ask for no GPU are left out.
    """
    args = application.get("args") or {}
    generator = GeneratorConfig.model_validate(args.get("generator") or {})
    demands = []
    for dep in application.get("deployments") or []:
        name = dep["name"]
        per_replica = float((dep.get("ray_actor_options") or {}).get("num_gpus") or 0)
        source = f"{name} ray_actor_options.num_gpus {_fmt(per_replica)}"
        if name == "Generator" and generator.mode != "extractive" and generator.num_gpus:
            per_replica += generator.num_gpus
            source += f" + generator.num_gpus {_fmt(generator.num_gpus)}"
        if per_replica > 0:
            demands.append(GpuDemand(name, per_replica, _max_replicas(dep), source))
    return demands


def check_gpu_placement(
    application: Mapping[str, Any], *, gpus_available: int | None = None
) -> list[GpuDemand]:
    """Check one serve-config application's GPU plan; return its demands.

    Checks, in order: every share is a fraction Ray can pack (<= 1); one replica of each
    of :data:`SHARED_GPU_STAGES` fits on one GPU (shares sum to <= 1); vLLM's
    ``gpu_memory_utilization`` fits in the generator's share; and, when
    ``gpus_available`` is given (GPU workers x GPUs per worker), that every replica at
    ``max_replicas`` can be packed onto that many GPUs.

    Raises:
        ConfigError: naming the deployments, their numbers and the fix.
    """
    demands = gpu_demands(application)
    for d in demands:
        if d.per_replica > 1:
            raise ConfigError(
                f"{d.deployment} asks for {_fmt(d.per_replica)} GPUs per replica ({d.source}); "
                "a stage that shares a GPU must take a fraction of one (<= 1).",
                param=f"{d.deployment}.ray_actor_options.num_gpus",
            )
    shared = [d for d in demands if d.deployment in SHARED_GPU_STAGES]
    total = sum(d.per_replica for d in shared)
    if total > 1 + 1e-9:
        parts = ", ".join(f"{d.deployment} {_fmt(d.per_replica)} ({d.source})" for d in shared)
        raise ConfigError(
            f"GPU over-committed: one replica each of the stages that share a GPU asks for "
            f"{_fmt(total)} GPUs: {parts}. Lower these num_gpus so they sum to at most 1 "
            "(e.g. Retriever 0.1, Reranker 0.1, Ingester 0.1, Generator 0.7).",
            param="num_gpus",
        )
    args = application.get("args") or {}
    generator = GeneratorConfig.model_validate(args.get("generator") or {})
    extra = next(
        (
            float((dep.get("ray_actor_options") or {}).get("num_gpus") or 0)
            for dep in application.get("deployments") or []
            if dep["name"] == "Generator"
        ),
        0.0,
    )
    check_generator_share(generator, extra_gpus=extra)
    if gpus_available is not None:
        needed = gpus_to_pack(d for d in demands for _ in range(d.max_replicas))
        if needed > gpus_available:
            parts = ", ".join(
                f"{d.deployment} {d.max_replicas} x {_fmt(d.per_replica)}" for d in demands
            )
            raise ConfigError(
                f"At max_replicas the GPU stages need {needed} GPUs ({parts}) but the GPU "
                f"workers offer {gpus_available}. Raise the GPU worker group's maxReplicas "
                "or lower the stages' max_replicas.",
                param="max_replicas",
            )
    return demands


def gpus_to_pack(replicas: Iterable[GpuDemand]) -> int:
    """GPUs needed to place these replicas, first-fit decreasing (how fractions pack).

    >>> g = lambda share: GpuDemand("x", share, 1, "")
    >>> gpus_to_pack([g(0.7), g(0.1), g(0.1), g(0.7)])
    2
    >>> gpus_to_pack([])
    0
    """
    free: list[float] = []
    for share in sorted((r.per_replica for r in replicas), reverse=True):
        for i, room in enumerate(free):
            if share <= room + 1e-9:
                free[i] = room - share
                break
        else:
            free.append(1.0 - share if share <= 1 else 0.0)
            free.extend([0.0] * (math.ceil(share) - 1))
    return len(free)


def _max_replicas(deployment: Mapping[str, Any]) -> int:
    autoscaling = deployment.get("autoscaling_config") or {}
    if "max_replicas" in autoscaling:
        return int(autoscaling["max_replicas"])
    return int(deployment.get("num_replicas", 1) or 1)


def _fmt(x: float) -> str:
    return f"{x:g}"
