"""Faults under load: kill one replica of each deployment in turn, then restart Milvus;
or, with ``--two-node``, kill the worker node of a two-node Ray cluster.

    python -m loadtests.chaos --output docs/reliability/chaos.json [--clients 12]
    python -m loadtests.chaos --two-node --output docs/reliability/chaos-node.json

Starts the graph (``serve_config.yaml``, caches off; or ``--url`` with ``--dashboard``),
ingests graph/sample_corpus, and keeps ``--clients`` clients asking ``/v1/query``
(``--think`` seconds apart; plus one client adding a small document every second) while,
one after the other, it SIGKILLs the process of one replica of each deployment (a crash:
no shutdown code runs) and then the ``milvus-lite server`` process the Milvus deployment
owns. After each fault it waits until every deployment is HEALTHY with all its replicas
RUNNING again and a search succeeds, then ``--settle`` seconds more, before the next.

With ``--two-node`` the graph runs on two Ray nodes of this machine (a head and a worker,
each ``ray start`` with its own ports and temp dir, :mod:`loadtests.cluster`; Serve spreads
the replicas over both, one HTTP proxy on the head), and the one fault is the worker
node's death: SIGKILL to its raylet and every process on it (replicas, and the Milvus
Lite server when it ran there), as when a Kubernetes worker pod or its machine is lost.
Serve restarts the lost replicas on the head.

Per fault it reports the requests sent in its window, those that failed (by status and
error type), the longest stall (the slowest request overlapping the window), requests
that outlived their deadline, and the time until the graph was whole again. Writes the
JSON report to ``--output`` and a markdown table beside it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil

from graph.serve_process import ray_auth_headers
from loadtests.cluster import RayNode, node_env, start_node, stop_nodes
from loadtests.overload import QUERIES, sample_graph, write_report

APP = "rag"
REPLICA_FAULTS = (
    "Ingress",
    "Supervisor",
    "QueryRewriter",
    "Retriever",
    "Reranker",
    "Generator",
    "Ingester",
    "Quota",
)
DEADLINE_S = 30.0


@dataclass
class Reply:
    started: float
    finished: float
    status: int  # of the last attempt
    kind: str  # "query" or "ingest"
    error: str | None = None
    refusals: tuple[str, ...] = ()  # 429/503 answers the client waited out and retried


def deployments(dashboard: str) -> dict[str, dict]:
    """The app's deployments from Serve's REST API: status and replicas (state, pid)."""
    reply = httpx.get(
        f"{dashboard}/api/serve/applications/", headers=ray_auth_headers(), timeout=10
    )
    reply.raise_for_status()
    return reply.json()["applications"][APP]["deployments"]


def running(dep: dict) -> list[dict]:
    """The RUNNING replicas of one deployment entry of :func:`deployments`."""
    return [r for r in dep["replicas"] if r["state"] == "RUNNING"]


def whole(dashboard: str, expected: dict[str, int]) -> bool:
    """Every deployment HEALTHY with at least its expected replicas RUNNING."""
    try:
        deps = deployments(dashboard)
    except (httpx.HTTPError, KeyError):
        return False
    for name, want in expected.items():
        dep = deps.get(name)
        if dep is None or dep["status"] != "HEALTHY":
            return False
        if len(running(dep)) < want:
            return False
    return True


def replica_pid(dashboard: str, deployment: str) -> int:
    replicas = running(deployments(dashboard)[deployment])
    if not replicas:
        raise RuntimeError(f"no RUNNING replica of {deployment} to kill")
    return int(replicas[0]["pid"])


def milvus_server_pid(dashboard: str) -> int:
    """The ``milvus-lite server`` child of the Milvus replica."""
    parent = psutil.Process(replica_pid(dashboard, "Milvus"))
    for child in parent.children(recursive=True):
        if "milvus" in " ".join(child.cmdline()).lower():
            return child.pid
    raise RuntimeError("the Milvus replica has no milvus-lite server child")


def summarize_fault(replies: list[Reply], begin: float, end: float) -> dict[str, Any]:
    """What the clients saw while one fault was in force (``begin``..``end``).

    >>> rs = [Reply(0.0, 1.0, 200, "query"), Reply(1.5, 4.0, 503, "query", "stage_unavailable"),
    ...       Reply(2.0, 2.5, 200, "ingest"), Reply(9.0, 9.5, 200, "query")]
    >>> s = summarize_fault(rs, 1.0, 5.0)
    >>> s["requests"], s["failed"], s["failures"], s["longest_stall_s"]
    (2, 1, {'503 stage_unavailable': 1}, 2.5)
    """
    window = [r for r in replies if begin <= r.started < end]
    overlapping = [r for r in replies if r.started < end and r.finished > begin]
    failures: dict[str, int] = {}
    refused: dict[str, int] = {}
    for r in window:
        if r.status != 200:
            key = f"{r.status} {r.error or ''}".strip()
            failures[key] = failures.get(key, 0) + 1
        for refusal in r.refusals:
            refused[refusal] = refused.get(refusal, 0) + 1
    return {
        "requests": len(window),
        "failed": sum(failures.values()),
        "failures": failures,
        "refusals_waited_out": refused,
        "longest_stall_s": round(max((r.finished - r.started for r in overlapping), default=0), 2),
        "past_deadline": sum(1 for r in window if r.finished - r.started > DEADLINE_S + 1),
    }


def _error_type(reply: httpx.Response) -> str:
    try:
        return reply.json()["error"]["type"]
    except (ValueError, KeyError, TypeError):
        return reply.text[:80]


class Load:
    """Closed-loop query clients and one ingesting client, recording every reply."""

    def __init__(self, url: str, clients: int, think_s: float) -> None:
        self.url, self.clients, self.think_s = url, clients, think_s
        self.replies: list[Reply] = []
        self._stop = asyncio.Event()

    async def _send(self, http: httpx.AsyncClient, kind: str, path: str, body: dict) -> None:
        """One request as a well-behaved client sends it: a 429 or 503 is waited out for
        its ``Retry-After`` and sent again while the request's own deadline allows (the
        OpenAI SDK does the same, up to twice by default); it fails if its last answer is
        not a 200."""
        started = time.time()
        refusals: list[str] = []
        while True:
            left = DEADLINE_S - (time.time() - started)
            try:
                reply = await http.post(
                    path, json=body, headers={"X-Request-Timeout": f"{max(left, 0.1):.3f}"}
                )
            except httpx.HTTPError as exc:
                self.replies.append(
                    Reply(started, time.time(), 0, kind, type(exc).__name__, tuple(refusals))
                )
                return
            error = None if reply.status_code == 200 else _error_type(reply)
            wait = float(reply.headers.get("Retry-After") or 1)
            left = DEADLINE_S - (time.time() - started)
            if reply.status_code in (429, 503) and wait < left:
                refusals.append(f"{reply.status_code} {error}")
                await asyncio.sleep(wait)
                continue
            self.replies.append(
                Reply(started, time.time(), reply.status_code, kind, error, tuple(refusals))
            )
            return

    async def _asker(self, http: httpx.AsyncClient, n: int) -> None:
        i = n
        while not self._stop.is_set():
            query = QUERIES[i % len(QUERIES)]
            await self._send(http, "query", "/v1/query", {"query": query, "top_k": 5})
            i += self.clients
            await asyncio.sleep(self.think_s)

    async def _ingester(self, http: httpx.AsyncClient) -> None:
        i = 0
        while not self._stop.is_set():
            doc = {"id": f"chaos-{i}", "text": f"Chaos document {i}. It holds one sentence."}
            await self._send(http, "ingest", "/v1/documents", {"documents": [doc]})
            i += 1
            await asyncio.sleep(1.0)

    async def run(self) -> None:
        limits = httpx.Limits(max_connections=self.clients + 2)
        async with httpx.AsyncClient(
            base_url=self.url, timeout=DEADLINE_S + 30, limits=limits
        ) as h:
            tasks = [self._asker(h, n) for n in range(self.clients)] + [self._ingester(h)]
            await asyncio.gather(*tasks)

    def stop(self) -> None:
        self._stop.set()


@contextmanager
def two_node_graph(work: Path, cpus_per_node: int = 2) -> Iterator[tuple[str, str, RayNode]]:
    """The sample graph on a head and a worker Ray node; yields (url, dashboard, worker).

    Each node offers ``cpus_per_node`` logical CPUs: the head alone can hold every replica
    (the shipped config fits 2), so the ones lost with the worker have room to restart.
    """
    head = start_node("head", head_address=None, num_cpus=cpus_per_node)
    nodes = [head]
    try:
        address = f"127.0.0.1:{head.ports['port']}"
        dashboard = f"http://127.0.0.1:{head.ports['dashboard-port']}"
        wait_for_nodes(dashboard, 1)
        nodes.append(start_node("worker", head_address=address, num_cpus=cpus_per_node))
        wait_for_nodes(dashboard, 2)  # before deploying, so Serve spreads over both
        env = {**node_env(), "RAY_ADDRESS": address}
        with sample_graph(work, env=env, proxy_location="HeadOnly") as url:
            yield url, dashboard, nodes[1]
    finally:
        stop_nodes(nodes)


def wait_for_nodes(dashboard: str, count: int, timeout_s: float = 120) -> None:
    """Until the cluster has ``count`` live nodes (Ray's state API, through the head's
    dashboard)."""
    from ray.util.state import list_nodes

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if len(list_nodes(address=dashboard, filters=[("state", "=", "ALIVE")])) >= count:
                return
        except Exception:  # the dashboard is still starting
            pass
        time.sleep(1)
    raise RuntimeError(f"the Ray cluster did not reach {count} live node(s) in {timeout_s}s")


def answers(url: str) -> bool:
    """Whether a search succeeds now (the graph is whole for a user, not only for Serve)."""
    try:
        reply = httpx.post(f"{url}/v1/search", json={"query": "tides"}, timeout=10)
    except httpx.HTTPError:
        return False
    return reply.status_code == 200


Fault = tuple[str, Callable[[], int]]
"""A fault's label and what causes it (returns the pid it killed)."""


def sigkill(pid: int) -> int:
    os.kill(pid, signal.SIGKILL)
    return pid


def process_faults(dashboard: str) -> list[Fault]:
    """One replica of each deployment, then the Milvus Lite server, in turn."""
    faults: list[Fault] = [
        (f"kill {name} replica", lambda name=name: sigkill(replica_pid(dashboard, name)))
        for name in REPLICA_FAULTS
    ]
    faults.append(("restart Milvus server", lambda: sigkill(milvus_server_pid(dashboard))))
    return faults


def node_fault(worker: RayNode, lost: dict[str, int] | None = None) -> Fault:
    """The worker node's death: its raylet and every process on it, SIGKILLed at once.
    ``lost`` (when given) receives the replicas per deployment that ran on it then."""

    def kill() -> int:
        if lost is not None:
            lost.update(replicas_on_node(worker))
        worker.kill()
        return worker.proc.pid

    return ("kill worker node", kill)


def replicas_on_node(node: RayNode) -> dict[str, int]:
    """Live Serve replicas per deployment whose process belongs to ``node`` (and the
    Milvus Lite server, which a replica of the Milvus deployment owns)."""
    from loadtests.cluster import pids_of_node

    counts: dict[str, int] = {}
    for pid in pids_of_node(node.temp_dir):
        try:
            line = " ".join(psutil.Process(pid).cmdline())
        except psutil.Error:
            continue
        if f"ServeReplica:{APP}:" in line:
            # The title names the method running: "ServeReplica:rag:Supervisor.handle_...".
            name = line.split(f"ServeReplica:{APP}:", 1)[1].split()[0].split(".")[0]
            counts[name] = counts.get(name, 0) + 1
        elif "milvus-lite" in line or "milvus_lite" in line:
            counts["milvus-lite server"] = counts.get("milvus-lite server", 0) + 1
    return dict(sorted(counts.items()))


async def inject(
    dashboard: str, load: Load, faults: list[Fault], settle_s: float, heal_timeout_s: float
) -> list:
    """Each fault in turn, while ``load`` runs; the per-fault records."""
    await asyncio.sleep(settle_s)  # steady state first
    expected = {name: len(running(dep)) for name, dep in deployments(dashboard).items()}
    records = []
    for label, cause in faults:
        began = time.time()
        pid = await asyncio.to_thread(cause)
        print(f"{label}: SIGKILL pid {pid}", flush=True)
        await asyncio.sleep(1.0)  # let Serve notice before asking whether it is whole
        healed = None
        while time.time() - began < heal_timeout_s:
            healthy = await asyncio.to_thread(whole, dashboard, expected)
            if healthy and await asyncio.to_thread(answers, load.url):
                healed = time.time()
                break
            await asyncio.sleep(0.5)
        await asyncio.sleep(settle_s)
        records.append(
            {
                "fault": label,
                "pid": pid,
                "began": began,
                "ended": time.time(),
                "healthy_after_s": None if healed is None else round(healed - began, 1),
            }
        )
    load.stop()
    return records


async def chaos(
    url: str,
    dashboard: str,
    faults: list[Fault],
    clients: int,
    settle_s: float,
    heal_s: float,
    think_s: float,
) -> dict:
    load = Load(url, clients, think_s)
    runner = asyncio.create_task(load.run())
    records = await inject(dashboard, load, faults, settle_s, heal_s)
    await runner
    faults = []
    for rec in records:
        faults.append({**rec, **summarize_fault(load.replies, rec["began"], rec["ended"])})
    total = len(load.replies)
    failed = sum(1 for r in load.replies if r.status != 200)
    return {
        "clients": clients,
        "think_s": think_s,
        "requests": total,
        "failed": failed,
        "failed_share": round(failed / total, 4) if total else None,
        "past_deadline": sum(1 for r in load.replies if r.finished - r.started > DEADLINE_S + 1),
        "faults": faults,
        "verdicts": {
            "under_1pct_failed": total > 0 and failed / total < 0.01,
            "none_past_deadline": all(f["past_deadline"] == 0 for f in faults),
            "healthy_within_60s": all(
                f["healthy_after_s"] is not None and f["healthy_after_s"] <= 60 for f in faults
            ),
        },
    }


def markdown(report: dict) -> str:
    lines = [
        f"# Chaos run: {report['clients']} clients ({report['think_s']} s between queries), "
        f"{len(report['faults'])} faults",
        "",
        f"Machine: {report['machine']}. Command: `{report['command']}`.",
        "",
        f"{report['requests']} requests, {report['failed']} failed "
        f"({(report['failed_share'] or 0):.2%}), {report['past_deadline']} past their deadline. "
        "A client waits out a 429/503 for its Retry-After and sends the request again while "
        "its 30 s deadline allows (the OpenAI SDK retries the same way, twice by default); a "
        "request fails when its last answer is not a 200. The refusals waited out are "
        "counted apart.",
        "",
        "| fault | requests | failed | failures | 429/503 waited out | longest stall s "
        "| healthy after s |",
        "|---|---|---|---|---|---|---|",
    ]
    for f in report["faults"]:
        failures = ", ".join(f"{k}: {v}" for k, v in f["failures"].items()) or "-"
        refused = ", ".join(f"{k}: {v}" for k, v in f["refusals_waited_out"].items()) or "-"
        lines.append(
            f"| {f['fault']} | {f['requests']} | {f['failed']} | {failures} | {refused} "
            f"| {f['longest_stall_s']} | {f['healthy_after_s']} |"
        )
    if "lost_with_worker" in report:
        lost = ", ".join(f"{k} {v}" for k, v in report["lost_with_worker"].items()) or "none"
        lines += ["", f"Lost with the worker node (replicas per deployment): {lost}."]
    lines += ["", "| target | holds |", "|---|---|"]
    lines += [f"| {k} | {'yes' if v else 'NO'} |" for k, v in report["verdicts"].items()]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m loadtests.chaos",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--output", type=Path, required=True, help="JSON report path")
    parser.add_argument("--clients", type=int, default=12, help="query clients (default 12)")
    parser.add_argument(
        "--think", type=float, default=1.0, help="seconds a client waits between queries"
    )
    parser.add_argument("--settle", type=float, default=15.0, help="seconds between faults")
    parser.add_argument("--heal-timeout", type=float, default=120.0, help="give up healing")
    parser.add_argument("--url", default=None, help="a running graph (default: start one)")
    parser.add_argument("--dashboard", default="http://127.0.0.1:8265")
    parser.add_argument(
        "--two-node",
        action="store_true",
        help="run the graph on a head and a worker Ray node of this machine and kill the "
        "worker node (instead of the replica and Milvus faults)",
    )
    args = parser.parse_args(argv)

    def run(url: str, dashboard: str, faults: list[Fault]) -> dict:
        return asyncio.run(
            chaos(url, dashboard, faults, args.clients, args.settle, args.heal_timeout, args.think)
        )

    if args.url:
        report = run(args.url, args.dashboard, process_faults(args.dashboard))
    else:
        with tempfile.TemporaryDirectory(prefix="chaos-") as tmp:
            if args.two_node:
                lost: dict[str, int] = {}
                with two_node_graph(Path(tmp)) as (url, dashboard, worker):
                    report = run(url, dashboard, [node_fault(worker, lost)])
                report["cluster"] = "two Ray nodes on this machine (head and worker, 2 CPUs each)"
                report["lost_with_worker"] = lost
            else:
                with sample_graph(Path(tmp)) as url:
                    report = run(url, args.dashboard, process_faults(args.dashboard))
    write_report(args.output, report, markdown, "loadtests.chaos", argv)
    return 0 if all(report["verdicts"].values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
