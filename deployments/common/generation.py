"""What an LLM request asks for: the settings the supervisor sends with every generation.

The generator stage owns these (``generator.*`` in the config, :class:`GeneratorConfig` is a
subclass), and the supervisor builds its requests from them, so they live here, where both
can see them.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class GenerationSettings(BaseModel):
    """Model name, sampling and limits of one generation.

    Example:
        >>> GenerationSettings(model="/models/Qwen2.5-0.5B-Instruct/").served_model_id
        'Qwen2.5-0.5B-Instruct'
    """

    model_config = ConfigDict(extra="forbid")

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
    request_timeout_s: float = Field(
        default=120.0, gt=0, description="Longest wait for one generation."
    )

    @property
    def served_model_id(self) -> str:
        return self.model_id or self.model.rstrip("/").split("/")[-1]

    def generation(self) -> GenerationSettings:
        """Only these settings (a subclass adds its stage's own)."""
        return GenerationSettings.model_validate(
            self.model_dump(include=set(GenerationSettings.model_fields))
        )
