"""A two-node Ray cluster on one machine, and a small Serve app of this project's stages.

Used by ``tests/k8s/test_k8s_multinode.py``. Every port is chosen free and every node has
its own ``--temp-dir``, so the cluster never touches another Ray on the machine (for
example the graph's end-to-end tests on the default ports). Processes are stopped by the
process group this module started and by the temp dir in their command lines, never by
``ray stop`` (which stops every Ray on the machine).

Every process of a node (raylet, GCS, workers, replicas) inherits ``RK8S_NODE=<temp dir>``
in its environment; that marker, not the command line (Ray renames worker processes),
finds them when the node is killed.

The app is the real ``QueryRewriter`` and the real extractive ``Generator`` behind a thin
HTTP ingress, each with two replicas and at most one replica per node, so Serve must place
one replica of every stage on each node.

Run as a driver: ``python -m tests.support.multinode deploy ADDRESS HTTP_PORT`` deploys the
app and prints where each replica runs as JSON; ``... nodes ADDRESS`` prints live nodes.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from ray import serve
from starlette.requests import Request

from deployments.common.store.lite import free_port
from deployments.generator.deployment import ExtractiveGenerator
from deployments.rewriter.config import RewriterConfig
from deployments.rewriter.deployment import QueryRewriter
from deployments.types import Hit

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


def free_port_range(width: int = 100) -> tuple[int, int]:
    """A run of ``width`` ports that are free right now (for Ray's worker ports)."""
    for _ in range(200):
        base = 20000 + int.from_bytes(os.urandom(2), "big") % 20000
        if all(_is_free(p) for p in range(base, base + width, 7)):
            return base, base + width - 1
    raise RuntimeError("no free port range found")


def _is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


MARKER = "RK8S_NODE"


def node_env(temp_dir: Path | None = None) -> dict[str, str]:
    """Environment of every process of the test cluster (nodes and drivers)."""
    return {
        **os.environ,
        MARKER: str(temp_dir or ""),
        "PYTHONPATH": str(ROOT),
        "RAY_AUTH_MODE": "disabled",  # a loopback-only test cluster; no token file shared
        "RAY_USAGE_STATS_ENABLED": "0",
        "HF_HUB_OFFLINE": "1",
        # Notice a killed node within ~3 s instead of ~15 s (Ray's GCS health check).
        "RAY_health_check_period_ms": "1000",
        "RAY_health_check_failure_threshold": "3",
        # Spread HTTP requests over the ingress replicas of both nodes (Serve's proxy
        # prefers replicas on its own node by default).
        "RAY_SERVE_PROXY_PREFER_LOCAL_NODE_ROUTING": "0",
    }


@dataclass
class RayNode:
    """One ``ray start --block`` process group with its own temp dir and ports."""

    name: str
    temp_dir: Path
    proc: subprocess.Popen
    log: Path
    ports: dict[str, int] = field(default_factory=dict)

    def kill(self) -> None:
        """SIGKILL this node's process group and every process carrying its marker."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        for pid in pids_of_node(self.temp_dir):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass


def pids_of_node(temp_dir: Path) -> list[int]:
    """PIDs whose environment holds this node's marker or whose command line names its dir."""
    marker = f"{MARKER}={temp_dir}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if marker in environ or str(temp_dir).encode() in cmdline:
            found.append(int(entry.name))
    return found


def start_node(name: str, *, head_address: str | None, num_cpus: int) -> RayNode:
    """Start one Ray node on loopback with free ports and a short, private temp dir."""
    temp_dir = Path(tempfile.mkdtemp(prefix=f"rk8s-{name}-", dir="/tmp"))
    ports = {
        "node-manager-port": free_port(),
        "object-manager-port": free_port(),
        "dashboard-agent-listen-port": free_port(),
        "dashboard-agent-grpc-port": free_port(),
        "runtime-env-agent-port": free_port(),
        "metrics-export-port": free_port(),
    }
    low, high = free_port_range()
    args = [
        str(Path(sys.executable).parent / "ray"),
        "start",
        "--block",
        "--disable-usage-stats",
        "--node-ip-address=127.0.0.1",
        f"--temp-dir={temp_dir}",
        f"--num-cpus={num_cpus}",
        "--object-store-memory=100000000",
        f"--min-worker-port={low}",
        f"--max-worker-port={high}",
        *(f"--{k}={v}" for k, v in ports.items()),
    ]
    if head_address is None:
        ports |= {"port": free_port(), "dashboard-port": free_port()}
        ports["ray-client-server-port"] = free_port()
        args += [
            "--head",
            f"--port={ports['port']}",
            "--include-dashboard=true",
            "--dashboard-host=127.0.0.1",
            f"--dashboard-port={ports['dashboard-port']}",
            f"--ray-client-server-port={ports['ray-client-server-port']}",
        ]
    else:
        args.append(f"--address={head_address}")
    log = temp_dir / "ray-start.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            args,
            cwd=ROOT,
            env=node_env(temp_dir),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return RayNode(name, temp_dir, proc, log, ports)


def stop_nodes(nodes: list[RayNode]) -> None:
    """Kill every node (workers first) and remove their temp dirs."""
    for node in reversed(nodes):
        node.kill()
    for node in nodes:
        shutil.rmtree(node.temp_dir, ignore_errors=True)


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


def _connect(address: str, want_nodes: int, timeout_s: float = 60):
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
