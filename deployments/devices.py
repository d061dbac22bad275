"""Which torch device a stage's model runs on."""

from __future__ import annotations

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
