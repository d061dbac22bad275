"""Typed, strict configuration of the generator stage."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

GeneratorMode = Literal["auto", "vllm", "extractive"]


class GeneratorConfig(BaseModel):
    """Which LLM answers, and how it is placed."""

    model_config = ConfigDict(extra="forbid")

    mode: GeneratorMode = Field(
        default="auto",
        description="auto: vLLM when the model's weights can be loaded, else the extractive "
        "fallback (announced at start-up); vllm: fail at start-up unless they can; "
        "extractive: never start an LLM.",
    )
    model: str = Field(
        default="Qwen/Qwen2.5-0.5B-Instruct",
        min_length=1,
        description="Local directory or hub id of the model vLLM serves.",
    )
    model_id: str | None = Field(
        default=None, description="Name the model is served under (default: derived from model)."
    )
    max_tokens: int = Field(default=256, ge=1, le=8192, description="Answer length cap, tokens.")
    ignore_eos: bool = Field(
        default=False,
        description="Always generate max_tokens (benchmarks: a fixed output length, also from "
        "random-weight models); leave off in production.",
    )
    temperature: float = Field(default=0.0, ge=0.0, le=2.0, description="Sampling temperature.")
    max_passage_chars: int = Field(
        default=1500, ge=50, le=20000, description="Each cited passage is cut to this length."
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
    request_timeout_s: float = Field(
        default=120.0, gt=0, description="Longest wait for one generation."
    )

    @property
    def served_model_id(self) -> str:
        return self.model_id or self.model.rstrip("/").split("/")[-1]
