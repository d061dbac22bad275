"""Starts the real graph once for the end-to-end tests: ``serve run`` on a copy of
serve_config.yaml pointed at a temporary Milvus Lite file, a free port, and a tiny
locally built Llama served by vLLM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from tests.support.tiny_llm import build_tiny_llama

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
START_TIMEOUT_S = float(os.environ.get("RAG_E2E_START_TIMEOUT_S", "900"))


@dataclass(frozen=True)
class RunningGraph:
    url: str
    dashboard: str
    config_path: Path
    tiny_model: Path
    log: Path
    serve_bin: str = str(VENV_BIN / "serve")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_config(tmp: Path, port: int, model: Path) -> Path:
    """serve_config.yaml with test-only changes: storage, port and the tiny vLLM model."""
    config = yaml.safe_load((ROOT / "serve_config.yaml").read_text())
    config["http_options"]["port"] = port
    args = config["applications"][0]["args"]
    args["retriever"]["milvus"]["uri"] = str(tmp / "milvus.db")
    args["generator"].update(
        mode="vllm",  # start-up must fail rather than silently fall back
        model=str(model),
        max_tokens=16,
        engine_kwargs={"max_model_len": 1024, "gpu_memory_utilization": 0.2},
    )
    path = tmp / "serve_config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="session")
def graph(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGraph]:
    tmp = tmp_path_factory.mktemp("graph")
    model = build_tiny_llama(tmp / "tiny-llama")
    port = _free_port()
    config = write_config(tmp, port, model)
    log = tmp / "serve.log"
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "RAY_USAGE_STATS_ENABLED": "0",
        "TOKENIZERS_PARALLELISM": "false",
    }
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(VENV_BIN / "serve"), "run", str(config)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc, log)
        yield RunningGraph(url, "http://127.0.0.1:8265", config, model, log)
    finally:
        # SIGTERM: serve run then stops Serve and the local Ray it started (SIGINT may be
        # ignored when the tests run as a background job). Its process group is only
        # killed outright if it does not stop.
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=90)
        except subprocess.TimeoutExpired:
            pass
        try:  # whatever of that Ray cluster outlived serve run (its own process group)
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=30)


def _wait_healthy(url: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    last = ""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"serve run exited with {proc.returncode}:\n{_tail(log)}")
        try:
            reply = httpx.get(url + "/healthz", timeout=10)
            if reply.status_code == 200:
                return
            last = reply.text
        except httpx.HTTPError as exc:
            last = repr(exc)
        time.sleep(3)
    pytest.fail(f"graph not healthy after {START_TIMEOUT_S}s (last: {last}):\n{_tail(log)}")


def _tail(log: Path, lines: int = 80) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
