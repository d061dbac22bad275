from __future__ import annotations

import pytest
from pydantic import ValidationError

from deployments.ingester.config import ChunkingConfig, IngesterConfig


def test_defaults() -> None:
    cfg = IngesterConfig()
    assert (cfg.chunking.chunk_size, cfg.chunking.chunk_overlap) == (200, 30)
    assert cfg.max_documents_per_request == 256


@pytest.mark.parametrize("cls", [ChunkingConfig, IngesterConfig])
def test_every_field_is_described(cls) -> None:
    for name, field in cls.model_fields.items():
        assert field.description, f"{cls.__name__}.{name}"


@pytest.mark.parametrize(("size", "overlap"), [(32, 32), (32, 40)])
def test_overlap_not_below_size_rejected(size: int, overlap: int) -> None:
    with pytest.raises(ValidationError) as info:
        ChunkingConfig(chunk_size=size, chunk_overlap=overlap)
    assert f"chunking.chunk_overlap={overlap} must be smaller than" in str(info.value)
    assert f"chunking.chunk_size={size}" in str(info.value)


def test_overlap_just_below_size_accepted() -> None:
    assert ChunkingConfig(chunk_size=32, chunk_overlap=31).chunk_overlap == 31


@pytest.mark.parametrize(
    ("field", "value"),
    [("encode_batch", 0), ("publish_max_bytes", 10), ("max_documents_per_request", 0)],
)
def test_out_of_range_values_name_the_field(field: str, value) -> None:
    with pytest.raises(ValidationError) as info:
        IngesterConfig(**{field: value})
    assert info.value.errors()[0]["loc"] == (field,)
