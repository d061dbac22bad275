from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from deployments.common.store.config import LiteServerConfig, MilvusConfig
from deployments.errors import ConfigError


def test_defaults_run_milvus_lite_on_loopback() -> None:
    cfg = MilvusConfig()
    assert cfg.uri == "http://127.0.0.1:19530" and cfg.lite is not None
    assert cfg.lite_address == ("127.0.0.1", 19530)
    assert (cfg.collection, cfg.tokens_collection) == ("rag_chunks", "rag_chunks_tokens")


@pytest.mark.parametrize("cls", [MilvusConfig, LiteServerConfig])
def test_every_field_is_described(cls) -> None:
    for name, field in cls.model_fields.items():
        assert field.description, f"{cls.__name__}.{name}"


@pytest.mark.parametrize("uri", ["./data/milvus.db", "/abs/store.db", "milvus"])
def test_a_lite_file_is_refused_with_the_server_setup_to_use(uri: str) -> None:
    with pytest.raises(ValidationError) as info:
        MilvusConfig(uri=uri)
    message = str(info.value)
    assert f"milvus.uri={uri!r} is a Milvus Lite file, which one process can open" in message
    assert "milvus.lite.data_dir" in message and "http://127.0.0.1:19530" in message


@pytest.mark.parametrize("uri", ["localhost:19530", "ftp://m:21", "http://"])
def test_other_non_server_uris_are_refused(uri: str) -> None:
    with pytest.raises(ValidationError, match="is not a Milvus server URI|Milvus Lite file"):
        MilvusConfig(uri=uri, lite=None)


@pytest.mark.parametrize("uri", ["http://milvus:19530", "https://m.example:443", "tcp://m:19530"])
def test_server_uris_without_lite(uri: str) -> None:
    assert MilvusConfig(uri=uri, lite=None).uri == uri


@pytest.mark.parametrize("uri", ["http://milvus:19530", "http://127.0.0.1", "https://localhost:1"])
def test_lite_must_listen_on_a_loopback_port(uri: str) -> None:
    with pytest.raises(ValidationError, match="milvus.lite runs a local server"):
        MilvusConfig(uri=uri)


def test_relative_data_dir_resolves_against_base(tmp_path: Path) -> None:
    assert LiteServerConfig(data_dir="./d").resolved_data_dir(tmp_path) == tmp_path / "d"
    assert LiteServerConfig(data_dir="/abs/d").resolved_data_dir(tmp_path) == Path("/abs/d")


def test_token_is_read_from_the_named_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_MILVUS_TOKEN", "root:secret")
    assert MilvusConfig(token_env="MY_MILVUS_TOKEN").token() == "root:secret"
    monkeypatch.delenv("MY_MILVUS_TOKEN")
    assert MilvusConfig(token_env="MY_MILVUS_TOKEN").token() == ""


def test_a_token_file_wins_over_the_env_var(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("MILVUS_TOKEN", "root:from-env")
    secret = tmp_path / "MILVUS_TOKEN"
    secret.write_text("root:from-file\n")  # a mounted Secret's value ends as it was created
    assert MilvusConfig(token_file=str(secret)).token() == "root:from-file"


def test_an_unreadable_token_file_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="milvus.token_file=.*mounted") as caught:
        MilvusConfig(token_file=str(tmp_path / "absent")).token()
    assert caught.value.param == "milvus.token_file"


@pytest.mark.parametrize("name", ["1chunks", "rag-chunks", "rag chunks", ""])
def test_bad_collection_name_rejected(name: str) -> None:
    with pytest.raises(ValidationError) as info:
        MilvusConfig(collection=name)
    assert info.value.errors()[0]["loc"] == ("collection",)


def test_unknown_keys_rejected() -> None:
    with pytest.raises(ValidationError) as info:
        MilvusConfig.model_validate({"lite": {"dir": "x"}})
    assert info.value.errors()[0]["loc"] == ("lite", "dir")
