from __future__ import annotations

import pytest

from deployments.errors import ConfigError
from deployments.ingress.schemas import MAX_TOP_K
from graph.config import AppConfig, load_config


@pytest.mark.parametrize("args", [None, {}])
def test_defaults_load(args) -> None:
    cfg = load_config(args)
    assert isinstance(cfg, AppConfig)
    assert cfg.retriever.candidates >= MAX_TOP_K
    assert cfg.generator.mode == "auto"
    assert cfg.supervisor.rerank is True


def test_nested_settings_are_applied() -> None:
    cfg = load_config(
        {
            "retriever": {"mode": "bm25"},
            "milvus": {"collection": "docs"},
            "generator": {"mode": "extractive"},
        }
    )
    assert (cfg.retriever.mode, cfg.milvus.collection) == ("bm25", "docs")
    assert cfg.generator.mode == "extractive"


def _message(args: dict) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(args)
    assert isinstance(info.value, ValueError)
    assert info.value.status_code == 500
    return info.value.message


def test_unknown_top_level_key_is_named() -> None:
    assert "  - retrievr: unknown setting; check its spelling" in _message({"retrievr": {}})


def test_unknown_nested_key_is_named_by_dotted_path() -> None:
    message = _message({"milvus": {"lite": {"datadir": "x"}}})
    assert "  - milvus.lite.datadir: unknown setting" in message


def test_bad_nested_value_shows_path_and_value() -> None:
    message = _message({"milvus": {"uri": "data/milvus.db"}})
    assert "  - milvus.uri:" in message
    assert "'data/milvus.db'" in message and "one process can open" in message


def test_the_lite_server_needs_a_loopback_uri() -> None:
    message = _message({"milvus": {"uri": "http://milvus:19530"}})
    assert "milvus.lite runs a local server" in message
    cfg = load_config({"milvus": {"uri": "http://milvus:19530", "lite": None}})
    assert cfg.milvus.lite is None


def test_every_error_is_listed() -> None:
    message = _message({"retriever": {"rrf_k": 0}, "generator": {"mode": "gpu"}, "x": 1})
    assert message.startswith("invalid application config:\n")
    for path in ("retriever.rrf_k", "generator.mode", "x"):
        assert f"  - {path}:" in message


def test_too_few_candidates_says_to_raise_it() -> None:
    message = _message({"retriever": {"candidates": MAX_TOP_K - 1}})
    assert f"retriever.candidates={MAX_TOP_K - 1}" in message
    assert f"raise it to at least {MAX_TOP_K}" in message
    assert load_config({"retriever": {"candidates": MAX_TOP_K}}).retriever.candidates == MAX_TOP_K
