"""Which torch device a stage's model runs on."""

from __future__ import annotations

import math
import os
from typing import Literal

Device = Literal["auto", "cpu", "cuda"]


def resolve_device(device: Device) -> str:
    """``auto`` is CUDA when this replica sees a GPU (Ray sets CUDA_VISIBLE_DEVICES from the
    deployment's ``num_gpus``), else the CPU.

    >>> resolve_device("cpu")
    'cpu'
    """
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def threads_for(cpu_share: float | None, *, available: int) -> int | None:
    """torch intra-op threads for a replica holding ``cpu_share`` CPUs.

    The share rounded up, at least 1 and at most the ``available`` cores; None when the
    share is unknown (outside Ray), which leaves torch's default.

    >>> threads_for(0.25, available=2), threads_for(1.5, available=8), threads_for(4, available=2)
    (1, 2, 2)
    >>> threads_for(None, available=2) is None
    True
    """
    if cpu_share is None or cpu_share <= 0:
        return None
    return max(1, min(available, math.ceil(cpu_share)))


def set_torch_threads(requested: int | None) -> int:
    """Apply ``requested`` threads, or the replica's CPU share's; return what torch uses.

    Ray sets ``OMP_NUM_THREADS`` to the replica's share rounded down only when the
    variable is unset; an image or pod that sets it node-wide would otherwise give every
    replica that many threads, fighting over the same cores. Setting torch's count here
    makes the share (or ``requested``) hold either way.
    """
    import torch

    threads = requested or threads_for(_assigned_cpus(), available=os.cpu_count() or 1)
    if threads is not None:
        torch.set_num_threads(threads)
    return torch.get_num_threads()


def _assigned_cpus() -> float | None:
    import ray

    if not ray.is_initialized():
        return None
    return ray.get_runtime_context().get_assigned_resources().get("CPU")
