"""A multi-node Ray cluster on one machine: several ``ray start`` nodes with private ports
and temp dirs, each killable as a whole (a node's crash), for node-failure tests and the
chaos command's worker-node fault.

Every port is chosen free and every node has its own ``--temp-dir``, so the cluster never
touches another Ray on the machine (for example the graph's end-to-end tests on the default
ports). Processes are stopped by the process group this module started and by the temp dir
in their command lines, never by ``ray stop`` (which stops every Ray on the machine).

Every process of a node (raylet, GCS, workers, replicas) inherits ``RK8S_NODE=<temp dir>``
in its environment; that marker, not the command line (Ray renames worker processes),
finds them when the node is killed.
"""

from __future__ import annotations

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

from deployments.common.store.lite import free_port

ROOT = Path(__file__).resolve().parents[1]


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

    def wait_started(self, timeout_s: float = 180) -> None:
        """Until ``ray start`` reports the node up; fails with its log if it exits or stalls.

        A worker started before its head is ready, or a node that cannot start on a loaded
        machine, otherwise shows up much later as "only 1 of 2 Ray nodes came up".
        """
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if STARTED in self._log_text():
                return
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"Ray node {self.name!r} exited ({self.proc.returncode}) before it "
                    f"started:\n{self._log_text()[-3000:]}"
                )
            time.sleep(0.5)
        raise RuntimeError(
            f"Ray node {self.name!r} did not start within {timeout_s:.0f} s:\n"
            f"{self._log_text()[-3000:]}"
        )

    def _log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""


STARTED = "Ray runtime started"


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


def start_node(name: str, *, head_address: str | None, num_cpus: int, wait: bool = True) -> RayNode:
    """Start one Ray node on loopback with free ports and a short, private temp dir;
    with ``wait``, return once it is up (a worker: joined to its head)."""
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
    node = RayNode(name, temp_dir, proc, log, ports)
    if wait:
        try:
            node.wait_started()
        except RuntimeError:
            node.kill()
            shutil.rmtree(temp_dir, ignore_errors=True)
            raise
    return node


def stop_nodes(nodes: list[RayNode]) -> None:
    """Kill every node (workers first) and remove their temp dirs."""
    for node in reversed(nodes):
        node.kill()
    for node in nodes:
        shutil.rmtree(node.temp_dir, ignore_errors=True)
