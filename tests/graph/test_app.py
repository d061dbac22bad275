"""The composition: every stage's builder bound into one application (built, not run)."""

from __future__ import annotations

from pathlib import Path

import pytest
from ray.serve._private.build_app import build_app as build_deployments

from deployments.errors import ConfigError
from graph.app import build_app, resolve_paths
from graph.config import load_config
from graph.k8s.serve_config import load_serve_config
from graph.replicas import check_store_replicas

LOCAL = {"generator": {"mode": "extractive"}}


def _deployments(args: dict) -> list[str]:
    return sorted(d.name for d in build_deployments(build_app(args), name="rag").deployments)


def test_the_local_profile_runs_milvus_as_a_deployment() -> None:
    assert _deployments(LOCAL) == [
        "Generator",
        "Ingester",
        "Ingress",
        "Milvus",
        "QueryRewriter",
        "Quota",
        "Reranker",
        "Retriever",
        "Supervisor",
    ]


def test_against_a_milvus_server_the_graph_runs_none() -> None:
    args = {**LOCAL, "milvus": {"uri": "http://milvus:19530", "lite": None}}
    assert "Milvus" not in _deployments(args)


def test_a_lite_file_is_refused_at_start() -> None:
    with pytest.raises(ConfigError, match="milvus.uri: .*one process can open"):
        build_app({**LOCAL, "milvus": {"uri": "./data/milvus.db"}})


def test_the_lite_data_dir_is_made_absolute_where_the_graph_is_built(tmp_path: Path) -> None:
    cfg = resolve_paths(load_config({"milvus": {"lite": {"data_dir": "rel/dir"}}}), tmp_path)
    assert cfg.milvus.lite.data_dir == str(tmp_path / "rel" / "dir")


def test_the_shipped_serve_config_runs_one_milvus_and_scales_the_retriever() -> None:
    (app,) = load_serve_config()["applications"]
    check_store_replicas(app)
    retriever = next(d for d in app["deployments"] if d["name"] == "Retriever")
    assert retriever["autoscaling_config"]["max_replicas"] >= 2


def test_a_scaled_milvus_deployment_is_refused() -> None:
    (app,) = load_serve_config()["applications"]
    milvus = next(d for d in app["deployments"] if d["name"] == "Milvus")
    milvus["num_replicas"] = 2
    with pytest.raises(ConfigError, match="may run one replica"):
        check_store_replicas(app)
