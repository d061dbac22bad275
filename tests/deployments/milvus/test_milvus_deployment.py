"""The Milvus deployment's class without Ray: it owns one milvus-lite server."""

from __future__ import annotations

from pathlib import Path

import pytest
from pymilvus import MilvusClient

from deployments.common.store.config import MilvusConfig
from deployments.common.store.lite import free_port
from deployments.errors import ConfigError, StageUnavailableError
from deployments.milvus.deployment import MilvusLite, build_milvus_deployment

MilvusImpl = MilvusLite.func_or_class


def _config(tmp_path: Path) -> MilvusConfig:
    return MilvusConfig(
        uri=f"http://127.0.0.1:{free_port()}", lite={"data_dir": str(tmp_path / "milvus")}
    )


def test_runs_a_server_every_stage_reaches_by_uri(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    replica = MilvusImpl(cfg.model_dump())
    try:
        assert replica.uri == cfg.uri
        replica.check_health()
        assert MilvusClient(cfg.uri).list_collections() == []
        replica._server._proc.kill()  # the server dies: the health check says so
        replica._server._proc.wait()
        with pytest.raises(StageUnavailableError, match="exited"):
            replica.check_health()
    finally:
        replica.__del__()


def test_a_second_replica_on_the_same_data_is_refused(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    first = MilvusImpl(cfg)
    try:
        other_port = cfg.model_copy(update={"uri": f"http://127.0.0.1:{free_port()}"})
        with pytest.raises(ConfigError, match="must run one replica"):
            MilvusImpl(other_port)
    finally:
        first.__del__()


def test_without_lite_there_is_nothing_to_run(tmp_path: Path) -> None:
    cfg = MilvusConfig(uri="http://milvus:19530", lite=None)
    with pytest.raises(ConfigError, match="milvus.lite is null"):
        MilvusImpl(cfg)
    with pytest.raises(ConfigError, match="milvus.lite is null"):
        build_milvus_deployment(cfg)
