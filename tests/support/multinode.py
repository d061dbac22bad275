"""A two-node Ray cluster on one machine, and a small Serve app of this project's stages.

Used by ``tests/k8s/test_k8s_multinode.py``; the nodes come from :mod:`loadtests.cluster`.

The app is the real ``QueryRewriter`` and the real extractive ``Generator`` behind a thin
HTTP ingress, each with two replicas and at most one replica per node, so Serve must place
one replica of every stage on each node.

Run as a driver: ``python -m tests.support.multinode deploy ADDRESS HTTP_PORT`` deploys the
app and prints where each replica runs as JSON; ``... nodes ADDRESS`` prints live nodes.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from ray import serve
from starlette.requests import Request

from deployments.generator.deployment import ExtractiveGenerator
from deployments.rewriter.config import RewriterConfig
from deployments.rewriter.deployment import QueryRewriter
from deployments.types import Hit
from loadtests.cluster import node_env

ROOT = Path(__file__).resolve().parents[2]
APP_NAME = "multinode"
STAGES = ("MultinodeIngress", "QueryRewriter", "Generator")
PASSAGE = Hit(
    chunk_id="tides#0000",
    doc_id="tides",
    title="Tides",
    text="Tides are caused by the Moon. The Sun adds a smaller pull.",
    score=1.0,
)


@serve.deployment(name="MultinodeIngress", ray_actor_options={"num_cpus": 0.1})
class MultinodeIngress:
    """Rewrites the query, answers it from one fixed passage, reports the ingress node."""

    def __init__(self, rewriter, generator) -> None:
        self._rewriter = rewriter
        self._generator = generator

    async def __call__(self, request: Request) -> dict:
        import ray

        query = (await request.json())["query"]
        rewrite = await self._rewriter.rewrite.remote(query)
        generation = await self._generator.generate.remote(rewrite.query, [PASSAGE])
        return {
            "query": rewrite.query,
            "route": rewrite.route,
            "answer": generation.answer,
            "generator": generation.generator,
            "ingress_node": ray.get_runtime_context().get_node_id(),
        }


def build_app() -> serve.Application:
    """Two replicas of each stage, at most one per node: one of each on every node."""
    spread = {"num_replicas": 2, "max_replicas_per_node": 1}
    rewriter = QueryRewriter.options(**spread, ray_actor_options={"num_cpus": 0.1}).bind(
        RewriterConfig().model_dump()
    )
    generator = ExtractiveGenerator.options(**spread, ray_actor_options={"num_cpus": 0.1}).bind()
    return MultinodeIngress.options(**spread).bind(rewriter, generator)


def run_driver(*args: str, timeout: float = 150) -> dict:
    """Run ``python -m tests.support.multinode ARGS`` and return its JSON output."""
    out = subprocess.run(
        [sys.executable, "-m", "tests.support.multinode", *args],
        cwd=ROOT,
        env=node_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if out.returncode != 0:
        raise RuntimeError(f"driver {args} failed ({out.returncode}):\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _connect(address: str, want_nodes: int, timeout_s: float = 120):
    import ray

    ray.init(address=address, namespace="serve", log_to_driver=False)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        alive = [n for n in ray.nodes() if n["Alive"]]
        if len(alive) >= want_nodes:
            return ray
        time.sleep(0.5)
    raise RuntimeError(f"only {len(alive)} of {want_nodes} Ray nodes came up")


def _replica_nodes(address: str) -> dict[str, list[str]]:
    """Deployment name -> node ids of its ALIVE replica actors."""
    from ray.util.state import list_actors

    placed: dict[str, list[str]] = {}
    # The address is explicit: other Ray clusters may run on this machine (e.g. one still
    # shutting down after the graph's e2e tests), and auto-detection then refuses to pick.
    for actor in list_actors(address=address, filters=[("state", "=", "ALIVE")], limit=1000):
        prefix = f"ServeReplica:{APP_NAME}:"
        if actor.class_name.startswith(prefix):
            stage = actor.class_name[len(prefix) :]
            placed.setdefault(stage, []).append(actor.node_id)
    return {stage: sorted(ids) for stage, ids in placed.items()}


def _deploy(address: str, http_port: int) -> dict:
    ray = _connect(address, want_nodes=2)
    # HeadOnly: both nodes share this machine's loopback, so only one proxy can bind the
    # port; replicas still run on both nodes and the proxy routes to all of them.
    serve.start(proxy_location="HeadOnly", http_options={"host": "127.0.0.1", "port": http_port})
    serve.run(build_app(), name=APP_NAME, route_prefix="/")
    return {**_node_ids(ray), "replicas": _replica_nodes(address)}


def _nodes(address: str) -> dict:
    ray = _connect(address, want_nodes=1)
    return {**_node_ids(ray), "replicas": _replica_nodes(address)}


def _node_ids(ray) -> dict:
    alive = [n for n in ray.nodes() if n["Alive"]]
    head = [n["NodeID"] for n in alive if "node:__internal_head__" in n["Resources"]]
    return {"head": head[0] if head else None, "alive": sorted(n["NodeID"] for n in alive)}


if __name__ == "__main__":
    command, address, *rest = sys.argv[1:]
    if command == "deploy":
        result = _deploy(address, int(rest[0]))
    elif command == "nodes":
        result = _nodes(address)
    else:
        raise SystemExit(f"unknown command {command!r}; use 'deploy' or 'nodes'")
    print(json.dumps(result))
