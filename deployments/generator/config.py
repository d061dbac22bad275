"""Typed, strict configuration of the generator stage."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from deployments.common.generation import GenerationSettings

GeneratorMode = Literal["auto", "vllm", "extractive"]


class GeneratorConfig(GenerationSettings):
    """Which LLM answers, how it is placed, and (inherited) what each request asks for."""

    mode: GeneratorMode = Field(
        default="auto",
        description="auto: vLLM when the model's weights can be loaded, else the extractive "
        "fallback (announced at start-up); vllm: fail at start-up unless they can; "
        "extractive: never start an LLM.",
    )
    num_cpus: float = Field(
        default=1.0, gt=0, le=64, description="CPUs in the LLM replica's placement bundle."
    )
    num_gpus: float = Field(
        default=0.0, ge=0, le=1, description="GPU share of the LLM replica (0 on CPU)."
    )
    engine_kwargs: dict[str, Any] = Field(
        default_factory=lambda: {"max_model_len": 2048, "gpu_memory_utilization": 0.2},
        description="Passed to vLLM's engine. On CPU, gpu_memory_utilization is the fraction "
        "of host memory reserved for the KV cache.",
    )
