"""Can the configured LLM be served here? Decided once, at start-up, and announced."""

from __future__ import annotations

import importlib.util
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from deployments.errors import ConfigError
from deployments.generator.config import GeneratorConfig

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class GeneratorPlan:
    """What the graph will run as its generator, and why."""

    kind: Literal["vllm", "extractive"]
    model_source: str | None
    reason: str


def _offline() -> bool:
    return any(
        os.environ.get(v, "") not in ("", "0") for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def locate_weights(model: str) -> tuple[str | None, str]:
    """Where the weights of ``model`` are, or None, with the reason.

    A local directory must hold a ``config.json``; a hub id must be in the local
    cache, or the hub must answer when we are not offline.
    """
    path = Path(model).expanduser()
    if path.is_dir():
        if (path / "config.json").is_file():
            return str(path.resolve()), f"local model directory {path}"
        return None, f"{path} has no config.json"
    if model.startswith((".", "/", "~")):
        return None, f"no directory at {model!r}"
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return snapshot_download(model, local_files_only=True), f"{model} in the local HF cache"
    except (LocalEntryNotFoundError, OSError, ValueError):
        pass
    if _offline():
        return None, f"{model} is not in the local HF cache and HF_HUB_OFFLINE is set"
    from huggingface_hub import model_info

    try:
        model_info(model, timeout=5)
    except Exception as exc:  # network errors come in many types; any means "not reachable"
        return None, f"{model} is not cached and the hub is unreachable ({type(exc).__name__})"
    return model, f"{model} will be downloaded from the hub"


def plan_generator(cfg: GeneratorConfig) -> GeneratorPlan:
    """Decide between vLLM and the extractive fallback, loudly."""
    if cfg.mode == "extractive":
        plan = GeneratorPlan("extractive", None, "generator.mode is 'extractive'")
    elif importlib.util.find_spec("vllm") is None:
        plan = GeneratorPlan("extractive", None, "vLLM is not installed")
    else:
        source, why = locate_weights(cfg.model)
        plan = GeneratorPlan("vllm" if source else "extractive", source, why)
    if plan.kind == "extractive" and cfg.mode == "vllm":
        raise ConfigError(
            f"generator.mode is 'vllm' but generator.model={cfg.model!r} cannot be loaded: "
            f"{plan.reason}. Point generator.model at a local model directory, or set "
            "generator.mode to 'auto' to fall back to extractive answers.",
            param="generator.model",
        )
    if plan.kind == "extractive":
        logger.warning(
            "GENERATOR: no LLM will run (%s). Answers are EXTRACTIVE: sentences copied from "
            'the top passages, marked "generator": "extractive" in every response.',
            plan.reason,
        )
    else:
        logger.info("GENERATOR: vLLM serving %s (%s)", cfg.model, plan.reason)
    return plan
