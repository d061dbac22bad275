"""GenerationSettings: the prompt's token budget, from the generator's context window."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from deployments.common.generation import GenerationSettings
from deployments.generator.config import GeneratorConfig


def test_the_budget_is_the_context_less_the_answer_and_a_margin() -> None:
    cfg = GeneratorConfig(max_tokens=100, engine_kwargs={"max_model_len": 4096})
    assert cfg.generation().max_prompt_tokens == 4096 - 100 - 64


def test_without_a_known_context_there_is_no_budget() -> None:
    assert GeneratorConfig(engine_kwargs={}).generation().max_prompt_tokens is None
    assert GenerationSettings().generation().max_prompt_tokens is None


def test_an_explicit_budget_is_kept_when_it_fits() -> None:
    cfg = GeneratorConfig(max_prompt_tokens=500, engine_kwargs={"max_model_len": 2048})
    assert cfg.generation().max_prompt_tokens == 500


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"max_tokens": 2000, "engine_kwargs": {"max_model_len": 2048}}, "lower max_tokens"),
        ({"max_prompt_tokens": 3000, "engine_kwargs": {"max_model_len": 2048}}, "does not fit"),
    ],
)
def test_a_prompt_that_cannot_fit_is_refused_at_start_up(kwargs, fragment) -> None:
    with pytest.raises(ValidationError, match=fragment):
        GeneratorConfig(**kwargs)


def test_the_budget_survives_the_trip_to_the_supervisor() -> None:
    dumped = GeneratorConfig().generation().model_dump()
    assert GenerationSettings.model_validate(dumped).max_prompt_tokens == 2048 - 256 - 64
