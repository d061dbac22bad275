"""Starts the real graph once for the end-to-end tests: ``serve run`` on a copy of
serve_config.yaml pointed at a temporary Milvus Lite file, a free port, and a tiny
locally built Llama served by vLLM."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from graph.serve_process import (
    VENV_BIN,
    GraphStartError,
    free_port,
    running_graph,
    write_serve_config,
)
from tests.support.tiny_llm import build_tiny_llama

START_TIMEOUT_S = float(os.environ.get("RAG_E2E_START_TIMEOUT_S", "900"))


@dataclass(frozen=True)
class RunningGraph:
    url: str
    dashboard: str
    config_path: Path
    tiny_model: Path
    log: Path
    serve_bin: str = str(VENV_BIN / "serve")


def write_config(tmp: Path, port: int, model: Path) -> Path:
    """serve_config.yaml with test-only changes: storage, port and the tiny vLLM model."""
    return write_serve_config(
        tmp / "serve_config.yaml",
        port=port,
        args={
            "retriever": {"milvus": {"uri": str(tmp / "milvus.db")}},
            "generator": {
                "mode": "vllm",  # start-up must fail rather than silently fall back
                "model": str(model),
                "max_tokens": 16,
                "engine_kwargs": {"max_model_len": 1024, "gpu_memory_utilization": 0.2},
            },
        },
    )


@pytest.fixture(scope="session")
def graph(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGraph]:
    tmp = tmp_path_factory.mktemp("graph")
    model = build_tiny_llama(tmp / "tiny-llama")
    port = free_port()
    config = write_config(tmp, port, model)
    log = tmp / "serve.log"
    try:
        with running_graph(config, port=port, log=log, start_timeout_s=START_TIMEOUT_S) as url:
            yield RunningGraph(url, "http://127.0.0.1:8265", config, model, log)
    except GraphStartError as exc:
        pytest.fail(str(exc))
