"""Run the graph with ``serve run`` in a child process: start, wait until healthy, stop.

Used by the end-to-end tests and the benchmark, which both need the real application
from ``serve_config.yaml`` (with a few settings changed) on a free local port.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import yaml

from graph.k8s.serve_config import SERVE_CONFIG, deep_merge, load_serve_config

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "RAY_USAGE_STATS_ENABLED": "0",
    "TOKENIZERS_PARALLELISM": "false",
}


class GraphStartError(RuntimeError):
    """``serve run`` exited or the graph did not become healthy; carries the log's tail."""


def ray_auth_headers(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The header Ray's dashboard (and its Serve REST API) wants when token auth is on:
    Ray enables it by default for a local cluster and keeps the token in
    ``~/.ray/auth_token`` (or ``$RAY_AUTH_TOKEN_PATH``, or ``$RAY_AUTH_TOKEN`` itself).

    >>> ray_auth_headers({"RAY_AUTH_TOKEN": "t0k"})
    {'Authorization': 'Bearer t0k'}
    >>> ray_auth_headers({"RAY_AUTH_MODE": "disabled"})
    {}
    """
    env = os.environ if env is None else env
    if env.get("RAY_AUTH_MODE", "").lower() == "disabled":
        return {}
    token = env.get("RAY_AUTH_TOKEN", "").strip()
    if not token:
        path = Path(env.get("RAY_AUTH_TOKEN_PATH") or Path.home() / ".ray" / "auth_token")
        token = path.read_text().strip() if path.is_file() else ""
    return {"Authorization": f"Bearer {token}"} if token else {}


def write_serve_config(
    target: Path,
    *,
    port: int,
    args: Mapping[str, Any] | None = None,
    deployments: Mapping[str, Mapping[str, Any]] | None = None,
    base: Path = SERVE_CONFIG,
    proxy_location: str | None = None,
) -> Path:
    """A copy of ``base`` on ``port`` with app ``args`` and per-deployment options merged in
    (and ``proxy_location`` replaced: ``HeadOnly`` when several Ray nodes share one
    machine's loopback, where only one proxy can bind the port)."""
    config = load_serve_config(base)
    config["http_options"]["port"] = port
    if proxy_location is not None:
        config["proxy_location"] = proxy_location
    app = config["applications"][0]
    app["args"] = deep_merge(app.get("args") or {}, dict(args or {}))
    app["deployments"] = [
        deep_merge(entry, dict((deployments or {}).get(entry["name"], {})))
        for entry in app.get("deployments", [])
    ]
    target.write_text(yaml.safe_dump(config, sort_keys=False))
    return target


@contextmanager
def running_graph(
    config: Path,
    *,
    port: int,
    log: Path,
    env: Mapping[str, str] | None = None,
    start_timeout_s: float = 900.0,
) -> Iterator[str]:
    """Run ``serve run config`` until the block ends; yields the base URL once healthy.

    Raises:
        GraphStartError: ``serve run`` exited, or ``/healthz`` was not 200 in time.
    """
    with graph_process(config, port=port, log=log, env=env, start_timeout_s=start_timeout_s) as (
        url,
        _,
    ):
        yield url


@contextmanager
def graph_process(
    config: Path,
    *,
    port: int,
    log: Path,
    env: Mapping[str, str] | None = None,
    start_timeout_s: float = 900.0,
) -> Iterator[tuple[str, subprocess.Popen]]:
    """:func:`running_graph`, also yielding the ``serve run`` process, whose process group
    holds the whole local Ray cluster (a test kills it with :func:`kill`)."""
    full_env = {**os.environ, **OFFLINE_ENV, **(env or {})}
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(VENV_BIN / "serve"), "run", str(config)],
            cwd=ROOT,
            env=full_env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc, log, timeout_s=start_timeout_s)
        yield url, proc
    finally:
        stop(proc)


def kill(proc: subprocess.Popen) -> None:
    """SIGKILL ``serve run`` and everything in its process group (Ray, every replica, the
    Milvus Lite server): a crash, with no shutdown code run anywhere."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=30)


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM, so ``serve run`` stops Serve and the local Ray it started (SIGINT may be
    ignored when run as a background job); its process group is killed if it lingers."""
    if proc.poll() is None:
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


def wait_healthy(url: str, proc: subprocess.Popen, log: Path, *, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    last = ""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise GraphStartError(f"serve run exited with {proc.returncode}:\n{tail(log)}")
        try:
            reply = httpx.get(url + "/healthz", timeout=10)
            if reply.status_code == 200:
                return
            last = reply.text
        except httpx.HTTPError as exc:
            last = repr(exc)
        time.sleep(3)
    raise GraphStartError(f"graph not healthy after {timeout_s}s (last: {last}):\n{tail(log)}")


def tail(log: Path, lines: int = 80) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
