"""Starts the real graph once for the end-to-end tests: ``serve run`` on a copy of
serve_config.yaml with its Milvus Lite server on a temporary data directory and a free
port, the Retriever at two replicas, and a tiny locally built Llama served by vLLM."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from deployments.common.store.lite import free_port
from deployments.observability.tracing import EXPORTER_IMPORT_PATH
from graph.serve_process import VENV_BIN, GraphStartError, running_graph, write_serve_config
from tests.support.tiny_llm import build_tiny_llama

START_TIMEOUT_S = float(os.environ.get("RAG_E2E_START_TIMEOUT_S", "900"))
RETRIEVER_REPLICAS = 2


@dataclass(frozen=True)
class RunningGraph:
    url: str
    dashboard: str
    config_path: Path
    tiny_model: Path
    log: Path
    milvus_uri: str
    milvus_dir: Path
    serve_bin: str = str(VENV_BIN / "serve")


def milvus_args(tmp: Path) -> dict:
    """A Milvus Lite server the graph runs on ``tmp/milvus``, on a free port."""
    return {"uri": f"http://127.0.0.1:{free_port()}", "lite": {"data_dir": str(tmp / "milvus")}}


def write_config(tmp: Path, port: int, model: Path, milvus: dict) -> Path:
    """serve_config.yaml with test-only changes: storage, port and the tiny vLLM model."""
    return write_serve_config(
        tmp / "serve_config.yaml",
        port=port,
        args={
            "milvus": milvus,
            # Tests here are about answers, faults and contracts, not load shedding (unit
            # tests and loadtests.overload cover that): a generous objective keeps a few
            # steady clients from being shed on a busy CI machine.
            "ingress": {"admission": {"latency_objective_s": 30}},
            # A killed Ingester's job is taken over within seconds, not the default 30.
            # Two encoder threads: the 2 MB job takes half the time (the query stages idle).
            "ingester": {
                "num_threads": 2,
                "jobs": {"lease_s": 8, "heartbeat_s": 1, "batch_documents": 4},
            },
            "generator": {
                "mode": "vllm",  # start-up must fail rather than silently fall back
                "model": str(model),
                "max_tokens": 16,
                "engine_kwargs": {
                    "max_model_len": 1024,
                    "gpu_memory_utilization": 0.2,
                    "dtype": "float32",  # as transformers runs it, for the answer check
                },
            },
        },
        deployments={
            "Retriever": {
                "autoscaling_config": {
                    "min_replicas": RETRIEVER_REPLICAS,
                    "max_replicas": RETRIEVER_REPLICAS,
                }
            }
        },
    )


@pytest.fixture(scope="session")
def graph(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGraph]:
    tmp = tmp_path_factory.mktemp("graph")
    model = build_tiny_llama(tmp / "tiny-llama")
    port, milvus = free_port(), milvus_args(tmp)
    config = write_config(tmp, port, model, milvus)
    log = tmp / "serve.log"
    try:
        # Every replica's log lines reach the log as written (Ray folds repeats otherwise),
        # so a test can tell which replica served a call; every request is traced, its
        # spans written to Ray's span files (test_observability_e2e.py reads them).
        env = {
            "RAY_DEDUP_LOGS": "0",
            "RAY_SERVE_TRACING_EXPORTER_IMPORT_PATH": EXPORTER_IMPORT_PATH,
            "RAY_SERVE_TRACING_SAMPLING_RATIO": "1",
        }
        with running_graph(
            config, port=port, log=log, env=env, start_timeout_s=START_TIMEOUT_S
        ) as url:
            yield RunningGraph(
                url,
                "http://127.0.0.1:8265",
                config,
                model,
                log,
                milvus["uri"],
                Path(milvus["lite"]["data_dir"]),
            )
    except GraphStartError as exc:
        pytest.fail(str(exc))
