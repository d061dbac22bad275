"""Validation of the rewriter's config."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from deployments.rewriter import DEFAULT_ABBREVIATIONS, RewriterConfig


def test_defaults() -> None:
    cfg = RewriterConfig()
    assert cfg.expand_abbreviations is True
    assert cfg.max_sub_queries == 4
    assert cfg.complex_min_words == 18
    assert cfg.abbreviations == DEFAULT_ABBREVIATIONS
    assert cfg.abbreviations is not DEFAULT_ABBREVIATIONS  # a copy per config
    assert 25 <= len(DEFAULT_ABBREVIATIONS) <= 40


def test_round_trips_through_model_dump() -> None:
    cfg = RewriterConfig(max_sub_queries=2, abbreviations={"RRF": "reciprocal rank fusion"})
    assert RewriterConfig.model_validate(cfg.model_dump()) == cfg


def test_unknown_field_is_rejected() -> None:
    with pytest.raises(ValidationError, match="extra_forbidden|Extra inputs"):
        RewriterConfig(max_subqueries=3)


@pytest.mark.parametrize("value", [0, 9, -1])
def test_max_sub_queries_bounds(value: int) -> None:
    with pytest.raises(ValidationError, match="max_sub_queries"):
        RewriterConfig(max_sub_queries=value)


@pytest.mark.parametrize("key", ["", "   ", " RRF", "RRF\t"])
def test_abbreviation_keys_must_be_bare(key: str) -> None:
    with pytest.raises(ValidationError, match="empty or padded with whitespace"):
        RewriterConfig(abbreviations={key: "reciprocal rank fusion"})


@pytest.mark.parametrize("value", ["", "  ", "\n"])
def test_abbreviation_values_must_not_be_blank(value: str) -> None:
    with pytest.raises(ValidationError, match=r"abbreviations\['RRF'\]"):
        RewriterConfig(abbreviations={"RRF": value})


def test_abbreviation_values_are_stripped() -> None:
    cfg = RewriterConfig(abbreviations={"RRF": "  reciprocal rank fusion "})
    assert cfg.abbreviations == {"RRF": "reciprocal rank fusion"}
