"""What an LLM request asks for: the settings the supervisor sends with every generation.

The generator stage owns these (``generator.*`` in the config, :class:`GeneratorConfig` is a
subclass), and the supervisor builds its requests from them, so they live here, where both
can see them.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from deployments.common.prompt import MIN_PROMPT_TOKENS, prompt_token_budget


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
    max_prompt_tokens: int | None = Field(
        default=None,
        ge=MIN_PROMPT_TOKENS,
        description="Token budget of the prompt (instructions, passages, question), estimated "
        "without a tokenizer; the lowest-ranked passages are left out to stay within it. "
        "Default: the model's context (engine_kwargs.max_model_len) minus max_tokens minus "
        "64 for the chat template, computed when the graph is built; None there (no "
        "max_model_len): no budget.",
    )

    @model_validator(mode="after")
    def _prompt_fits_the_context(self) -> GenerationSettings:
        window = self.context_tokens()
        if window is None:
            return self
        budget = prompt_token_budget(window, self.max_tokens)
        if budget < MIN_PROMPT_TOKENS:
            raise ValueError(
                f"max_tokens={self.max_tokens} leaves {budget} tokens for the prompt in the "
                f"model's context of engine_kwargs.max_model_len={window} (at least "
                f"{MIN_PROMPT_TOKENS} needed); lower max_tokens or raise max_model_len"
            )
        if self.max_prompt_tokens is not None and self.max_prompt_tokens > budget:
            raise ValueError(
                f"max_prompt_tokens={self.max_prompt_tokens} does not fit the model's context "
                f"(max_model_len={window} - max_tokens={self.max_tokens} - 64 = {budget}); "
                "lower it or leave it unset"
            )
        return self

    @property
    def served_model_id(self) -> str:
        return self.model_id or self.model.rstrip("/").split("/")[-1]

    def context_tokens(self) -> int | None:
        """The model's context window in tokens, when these settings say it: the
        generator's ``engine_kwargs.max_model_len`` (plain settings have no engine_kwargs).

        >>> GenerationSettings().context_tokens() is None
        True
        """
        engine_kwargs: dict[str, Any] = getattr(self, "engine_kwargs", None) or {}
        window = engine_kwargs.get("max_model_len")
        return int(window) if window is not None else None

    def generation(self) -> GenerationSettings:
        """Only these settings (a subclass adds its stage's own), with the prompt budget
        computed from the model's context window when it is not set.

        >>> class Generator(GenerationSettings):  # as GeneratorConfig
        ...     engine_kwargs: dict = {"max_model_len": 2048}
        >>> Generator().generation().max_prompt_tokens  # 2048 - 256 - 64
        1728
        """
        settings = self.model_dump(include=set(GenerationSettings.model_fields))
        window = self.context_tokens()
        if settings["max_prompt_tokens"] is None and window is not None:
            settings["max_prompt_tokens"] = prompt_token_budget(window, self.max_tokens)
        return GenerationSettings.model_validate(settings)
