from __future__ import annotations

import pytest
from pydantic import ValidationError

from deployments.common.encoders.config import EmbedderConfig
from deployments.retriever.config import RetrieverConfig


def test_defaults() -> None:
    cfg = RetrieverConfig()
    assert (cfg.mode, cfg.candidates, cfg.rrf_k) == ("hybrid", 50, 60)
    assert cfg.embedder.model is None


@pytest.mark.parametrize("cls", [EmbedderConfig, RetrieverConfig])
def test_every_field_is_described(cls) -> None:
    for name, field in cls.model_fields.items():
        assert field.description, f"{cls.__name__}.{name}"


@pytest.mark.parametrize(
    ("cls", "kwargs", "extra"),
    [
        (RetrieverConfig, {"top_k": 5}, "top_k"),
        (RetrieverConfig, {"milvus": {"uri": "x"}}, "milvus"),  # the app's section now
        (RetrieverConfig, {"chunking": {}}, "chunking"),  # the ingester's now
        (EmbedderConfig, {"gpu": True}, "gpu"),
    ],
)
def test_unknown_keys_rejected(cls, kwargs: dict, extra: str) -> None:
    with pytest.raises(ValidationError) as info:
        cls(**kwargs)
    err = info.value.errors()[0]
    assert err["type"] == "extra_forbidden"
    assert err["loc"] == (extra,)


@pytest.mark.parametrize(
    ("field", "value"), [("mode", "sparse"), ("rrf_k", 0), ("candidates", 0), ("candidates", 1001)]
)
def test_out_of_range_values_name_the_field(field: str, value) -> None:
    with pytest.raises(ValidationError) as info:
        RetrieverConfig(**{field: value})
    assert info.value.errors()[0]["loc"] == (field,)


def test_embedder_device_accepts_auto_cpu_cuda_only():
    assert EmbedderConfig().device == "auto"
    assert EmbedderConfig(device="cpu").device == "cpu"
    with pytest.raises(ValidationError, match="device"):
        EmbedderConfig(device="tpu")
