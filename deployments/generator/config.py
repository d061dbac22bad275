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
    stream_batching_interval_ms: float = Field(
        default=0.0,
        ge=0,
        le=1000,
        description="How long Ray Serve LLM gathers a streamed answer's tokens before "
        "sending them on (its experimental_configs.stream_batching_interval_ms; its own "
        "default is 50). 0: each token as it is made, so the first reaches the client with "
        "no added wait; a higher value sends fewer, larger messages through the graph "
        "(less per-token overhead at high concurrency).",
    )
