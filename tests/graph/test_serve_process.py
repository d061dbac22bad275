"""write_serve_config: a copy of serve_config.yaml with a port, app args and options merged."""

from __future__ import annotations

from pathlib import Path

import yaml

from graph.config import load_config
from graph.serve_process import ROOT, write_serve_config


def test_copy_merges_args_and_deployment_options(tmp_path: Path) -> None:
    path = write_serve_config(
        tmp_path / "serve.yaml",
        port=18123,
        args={"milvus": {"lite": {"data_dir": "/tmp/m"}}, "generator": {"mode": "extractive"}},
        deployments={"Reranker": {"max_ongoing_requests": 8}},
    )
    written = yaml.safe_load(path.read_text())
    original = yaml.safe_load((ROOT / "serve_config.yaml").read_text())
    assert written["http_options"]["port"] == 18123
    app, before = written["applications"][0], original["applications"][0]
    assert app["args"]["milvus"] == {**before["args"]["milvus"], "lite": {"data_dir": "/tmp/m"}}
    assert app["args"]["retriever"]["candidates"] == before["args"]["retriever"]["candidates"]
    reranker = next(d for d in app["deployments"] if d["name"] == "Reranker")
    assert reranker["max_ongoing_requests"] == 8
    assert (
        reranker["autoscaling_config"]
        == next(d for d in before["deployments"] if d["name"] == "Reranker")["autoscaling_config"]
    )
    load_config(app["args"])  # still a valid application config
