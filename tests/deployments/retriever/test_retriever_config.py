from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from deployments.retriever.config import (
    ChunkingConfig,
    EmbedderConfig,
    MilvusConfig,
    RetrieverConfig,
)


def test_defaults() -> None:
    cfg = RetrieverConfig()
    assert cfg.mode == "hybrid"
    assert cfg.milvus.is_lite
    assert (cfg.chunking.chunk_size, cfg.chunking.chunk_overlap) == (200, 30)


@pytest.mark.parametrize("cls", [MilvusConfig, EmbedderConfig, ChunkingConfig, RetrieverConfig])
def test_every_field_is_described(cls) -> None:
    for name, field in cls.model_fields.items():
        assert field.description, f"{cls.__name__}.{name}"


@pytest.mark.parametrize("uri", ["data/milvus.sqlite", "milvus", "localhost:19530"])
def test_bad_milvus_uri_names_param_value_and_fix(uri: str) -> None:
    with pytest.raises(ValidationError) as info:
        MilvusConfig(uri=uri)
    message = str(info.value)
    assert f"milvus.uri={uri!r}" in message
    assert "'.db'" in message and "http://host:19530" in message


@pytest.mark.parametrize("uri", ["http://milvus:19530", "https://m.example:443", "tcp://m:19530"])
def test_server_uris_are_not_lite_and_not_resolved(uri: str) -> None:
    cfg = MilvusConfig(uri=uri)
    assert not cfg.is_lite
    assert cfg.resolved_uri(Path("/elsewhere")) == uri


def test_relative_lite_path_resolves_against_base(tmp_path: Path) -> None:
    cfg = MilvusConfig(uri="./data/x.db")
    assert cfg.is_lite
    assert Path(cfg.resolved_uri(tmp_path)) == tmp_path / "data" / "x.db"
    assert MilvusConfig(uri="/abs/x.db").resolved_uri(tmp_path) == "/abs/x.db"


def test_token_is_read_from_the_named_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_MILVUS_TOKEN", "root:secret")
    assert MilvusConfig(token_env="MY_MILVUS_TOKEN").token() == "root:secret"
    monkeypatch.delenv("MY_MILVUS_TOKEN")
    assert MilvusConfig(token_env="MY_MILVUS_TOKEN").token() == ""


@pytest.mark.parametrize("name", ["1chunks", "rag-chunks", "rag chunks", ""])
def test_bad_collection_name_rejected(name: str) -> None:
    with pytest.raises(ValidationError) as info:
        MilvusConfig(collection=name)
    assert info.value.errors()[0]["loc"] == ("collection",)


@pytest.mark.parametrize(("size", "overlap"), [(32, 32), (32, 40)])
def test_overlap_not_below_size_rejected(size: int, overlap: int) -> None:
    with pytest.raises(ValidationError) as info:
        ChunkingConfig(chunk_size=size, chunk_overlap=overlap)
    assert f"chunking.chunk_overlap={overlap} must be smaller than" in str(info.value)
    assert f"chunking.chunk_size={size}" in str(info.value)


def test_overlap_just_below_size_accepted() -> None:
    assert ChunkingConfig(chunk_size=32, chunk_overlap=31).chunk_overlap == 31


@pytest.mark.parametrize(
    ("cls", "kwargs", "extra"),
    [
        (RetrieverConfig, {"top_k": 5}, "top_k"),
        (MilvusConfig, {"collection_name": "x"}, "collection_name"),
        (ChunkingConfig, {"size": 100}, "size"),
        (EmbedderConfig, {"gpu": True}, "gpu"),
    ],
)
def test_unknown_keys_rejected(cls, kwargs: dict, extra: str) -> None:
    with pytest.raises(ValidationError) as info:
        cls(**kwargs)
    err = info.value.errors()[0]
    assert err["type"] == "extra_forbidden"
    assert err["loc"] == (extra,)


def test_nested_dict_is_validated() -> None:
    with pytest.raises(ValidationError) as info:
        RetrieverConfig.model_validate({"milvus": {"uri": "x.txt"}})
    assert info.value.errors()[0]["loc"] == ("milvus", "uri")


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
