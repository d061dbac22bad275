"""The graph under a crowd: 1000 Locust users against what one machine can serve.

    python -m loadtests.overload --output docs/reliability/overload.json \\
        [--users 1000] [--run-time 120s] [--url http://127.0.0.1:8000]

Steps, one after the other on this machine:

1. start the graph (``serve_config.yaml``, answer and embedding caches off so a repeated
   question costs what a new one does; or use ``--url``) and ingest graph/sample_corpus;
2. **single user**: one closed-loop client, the latency a lone user sees;
3. **closed loop** at 2, 4 and 8 clients: the best throughput the graph reaches with a
   few clients that always wait for their answer (no one is shed);
4. **crowd**: ``--users`` Locust users (loadtests/crowd_locustfile.py) that think 1-5 s
   between questions and honour ``Retry-After`` when shed.

Writes the JSON report to ``--output`` and a markdown table beside it (``.md``): admitted
throughput and p50/p95/p99, the shares served full, degraded and shed, shed-reply p99,
other errors and timeouts, each issue-11 target with its figure and verdict.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from deployments.common.store.lite import free_port
from graph.client import post
from graph.ingest import corpus
from graph.serve_process import ROOT, running_graph, write_serve_config
from loadtests.driver import drive
from loadtests.locust_run import locust_command, parse_run_time
from loadtests.workload import COMPLEX_QUERIES, SIMPLE_QUERIES

CROWD_LOCUSTFILE = Path(__file__).with_name("crowd_locustfile.py")
SAMPLE = ROOT / "graph" / "sample_corpus"
CACHES_OFF: dict[str, Any] = {
    "supervisor": {"answer_cache": {"max_entries": 0}},
    "retriever": {"embedder": {"query_cache": {"max_entries": 0}}},
}
CLOSED_LOOP = (2, 4, 8)
QUERIES = [*SIMPLE_QUERIES, *COMPLEX_QUERIES]
ADMITTED = ("full", "degraded")
SETTLE_S = 10.0
"""After the ramp, seconds the crowd's back-off takes to settle (Retry-After is steered
once a second); ``admitted_settled_ms`` counts replies after that."""


def crowd_summary(records: list[tuple], window: tuple[float, float]) -> dict:
    """Counts, shares and latencies by outcome of the crowd's replies.

    Args:
        records: ``(outcome, latency ms, finished at[, Supervisor's total ms])`` per reply.
        window: The steady part of the run (all users spawned), for the throughput.

    >>> s = crowd_summary([("full", 100.0, 5.0), ("shed", 3.0, 6.0), ("error", 9.0, 7.0)],
    ...                   (4.0, 8.0))
    >>> s["counts"], s["shares"]["shed"], s["admitted_rps"]
    ({'full': 1, 'shed': 1, 'error': 1}, 0.333, 0.25)
    """
    counts: dict[str, int] = {}
    for outcome, *_ in records:
        counts[outcome] = counts.get(outcome, 0) + 1
    total = max(len(records), 1)
    admitted = [r[1] for r in records if r[0] in ADMITTED]
    inside = [r[3] for r in records if r[0] in ADMITTED and len(r) > 3 and r[3] is not None]
    shed = [r[1] for r in records if r[0] in ("shed", "limited")]
    begin, end = window
    steady = sum(1 for r in records if r[0] in ADMITTED and begin <= r[2] <= end)
    settled = [r[1] for r in records if r[0] in ADMITTED and begin + SETTLE_S <= r[2] <= end]
    return {
        "replies": len(records),
        "counts": counts,
        "shares": {k: round(v / total, 3) for k, v in counts.items()},
        "admitted_rps": round(steady / (end - begin), 3) if end > begin else 0.0,
        "admitted_ms": _percentiles(admitted),
        "admitted_settled_ms": _percentiles(settled),
        # the same replies as the Supervisor timed them: the rest of the client's latency
        # is spent in front of the graph (HTTP proxy, Ingress)
        "admitted_supervisor_ms": _percentiles(inside),
        "shed_ms": _percentiles(shed),
        "other_errors": counts.get("error", 0),
        "timeouts": counts.get("timeout", 0),
    }


def timeline(records: list[tuple], began: float, step_s: float = 10.0) -> list:
    """Per ``step_s`` window of the run: replies by outcome and the admitted p95.

    >>> rows = timeline([("full", 100.0, 1.0), ("shed", 3.0, 2.0), ("full", 300.0, 12.0)], 0.0)
    >>> rows[0]
    {'t_s': 0, 'full': 1, 'shed': 1, 'admitted_p95_ms': 100.0}
    >>> rows[1]
    {'t_s': 10, 'full': 1, 'admitted_p95_ms': 300.0}
    """
    windows: dict[int, list[tuple[str, float]]] = {}
    for outcome, ms, finished, *_ in records:
        windows.setdefault(int((finished - began) // step_s), []).append((outcome, ms))
    out = []
    for w in sorted(windows):
        row: dict[str, Any] = {"t_s": int(w * step_s)}
        for outcome, _ in windows[w]:
            row[outcome] = row.get(outcome, 0) + 1
        admitted = [ms for o, ms in windows[w] if o in ADMITTED]
        row["admitted_p95_ms"] = _percentiles(admitted)["p95"]
        out.append(row)
    return out


def _percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "p99": None}
    p50, p95, p99 = np.percentile(np.asarray(values), [50, 95, 99])
    return {"p50": round(float(p50), 1), "p95": round(float(p95), 1), "p99": round(float(p99), 1)}


def verdicts(report: dict) -> dict[str, dict]:
    """Each issue-11 target: the figure, the bound and whether it holds.

    >>> v = verdicts({"single_user": {"p95_ms": 100.0}, "best_closed_loop_rps": 10.0,
    ...   "crowd": {"counts": {"full": 9}, "admitted_ms": {"p95": 250.0},
    ...             "shed_ms": {"p99": 20.0}, "admitted_rps": 9.5}})
    >>> [k for k, x in v.items() if not x["ok"]], len(v)
    (['admitted_p95_within_3x_single_once_settled'], 5)
    """
    crowd = report["crowd"]
    other = sum(n for k, n in crowd["counts"].items() if k not in (*ADMITTED, "shed", "limited"))
    shed_p99 = crowd["shed_ms"]["p99"]
    single = report["single_user"]["p95_ms"]
    admitted_p95 = crowd["admitted_ms"]["p95"]
    best = report["best_closed_loop_rps"]
    return {
        "only_200_429_503": {"value": other, "bound": 0, "ok": other == 0},
        "shed_p99_under_1s": {
            "value": shed_p99,
            "bound": 1000.0,
            "ok": shed_p99 is None or shed_p99 < 1000.0,
        },
        "admitted_p95_within_3x_single": {
            "value": admitted_p95,
            "bound": round(3 * single, 1),
            "ok": admitted_p95 is not None and admitted_p95 <= 3 * single,
        },
        "admitted_p95_within_3x_single_once_settled": {
            "value": crowd.get("admitted_settled_ms", {}).get("p95"),
            "bound": round(3 * single, 1),
            "ok": (crowd.get("admitted_settled_ms", {}).get("p95") or float("inf")) <= 3 * single,
        },
        "admitted_rps_at_least_90pct_best": {
            "value": crowd["admitted_rps"],
            "bound": round(0.9 * best, 3),
            "ok": crowd["admitted_rps"] >= 0.9 * best,
        },
    }


def markdown(report: dict) -> str:
    """The report as a markdown page."""
    crowd = report["crowd"]
    lines = [
        f"# Overload run: {report['users']} users for {report['run_time_s']} s",
        "",
        f"Machine: {report['machine']}. Command: `{report['command']}`.",
        "",
        "| run | requests/s (admitted) | p50 ms | p95 ms | p99 ms | full | degraded | shed "
        "| other errors |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, run in [("single user", report["single_user"]), *report["closed_loop"].items()]:
        out = run.get("outcomes", {})
        lines.append(
            f"| {name} | {run['rps']} | {run['p50_ms']} | {run['p95_ms']} | {run['p99_ms']} "
            f"| {out.get('full', '-')} | {out.get('degraded', '-')} | {out.get('shed', '-')} "
            f"| {run['errors'] - out.get('shed', 0)} |"
        )
    adm, counts = crowd["admitted_ms"], crowd["counts"]
    lines += [
        f"| crowd ({report['users']} users) | {crowd['admitted_rps']} | {adm['p50']} "
        f"| {adm['p95']} | {adm['p99']} | {counts.get('full', 0)} | {counts.get('degraded', 0)} "
        f"| {counts.get('shed', 0)} | {crowd['other_errors']} (+{crowd['timeouts']} timeouts) |",
        "",
        f"Crowd replies: {crowd['replies']}; shares: "
        + ", ".join(f"{k} {v:.1%}" for k, v in sorted(crowd["shares"].items()))
        + f"; shed replies p99 {crowd['shed_ms']['p99']} ms. Admitted once the crowd's "
        f"back-off settled ({SETTLE_S:g} s after the ramp): p50 "
        f"{crowd.get('admitted_settled_ms', {}).get('p50')} ms, p95 "
        f"{crowd.get('admitted_settled_ms', {}).get('p95')} ms. The Supervisor's own time for "
        f"admitted queries: p50 {crowd.get('admitted_supervisor_ms', {}).get('p50')} ms, p95 "
        f"{crowd.get('admitted_supervisor_ms', {}).get('p95')} ms. Mean cores taken during the "
        f"crowd run (of {os.cpu_count()}): "
        + ", ".join(f"{k} {v}" for k, v in crowd.get("cores_used", {}).items())
        + ".",
        "",
        "| target | figure | bound | holds |",
        "|---|---|---|---|",
    ]
    for name, v in report["verdicts"].items():
        lines.append(f"| {name} | {v['value']} | {v['bound']} | {'yes' if v['ok'] else 'NO'} |")
    return "\n".join(lines) + "\n"


def ingest_sample(url: str) -> None:
    docs = corpus([str(SAMPLE)])
    post(url, "/v1/documents", {"documents": docs})


def write_report(
    output: Path,
    report: dict,
    render: Callable[[dict], str],
    module: str,
    argv: list[str] | None,
) -> None:
    """Stamp ``report`` with the machine and the command, write it as JSON to ``output``
    and as markdown (``render``) beside it, and print the markdown."""
    report.update(
        machine=f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.python_version()}",
        command=f"python -m {module} " + " ".join(argv or sys.argv[1:]),
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    page = render(report)
    output.with_suffix(".md").write_text(page, encoding="utf-8")
    print(page)


@contextmanager
def sample_graph(
    work: Path, *, env: dict[str, str] | None = None, proxy_location: str | None = None
) -> Iterator[str]:
    """The shipped graph (caches off) on a Milvus Lite directory under ``work``, free
    ports, the sample corpus ingested; yields its URL. ``env`` reaches ``serve run`` (e.g.
    ``RAY_ADDRESS`` of a cluster already running, instead of a local one of its own)."""
    port = free_port()
    milvus = {"uri": f"http://127.0.0.1:{free_port()}", "lite": {"data_dir": str(work / "milvus")}}
    config = write_serve_config(
        work / "serve_config.yaml",
        port=port,
        args={**CACHES_OFF, "milvus": milvus},
        proxy_location=proxy_location,
    )
    with running_graph(config, port=port, log=work / "serve.log", env=env) as url:
        ingest_sample(url)
        yield url


def closed_loop(url: str, clients: int, requests: int) -> dict:
    queries = [QUERIES[i % len(QUERIES)] for i in range(requests)]
    run = asyncio.run(drive(url, "/v1/query", queries, clients=clients, top_k=5))
    run.pop("stages_ms", None)
    return run


FRONT = {"proxy": "ProxyActor", "ingress": "ServeReplica:rag:Ingress"}
"""Processes whose CPU the crowd run reports: Serve's HTTP proxy and the Ingress replicas."""


def cpu_seconds(patterns: dict[str, str]) -> dict[str, float]:
    """CPU seconds (user + system) so far of the processes whose command line (Ray titles
    its workers ``ray::ServeReplica:<app>:<deployment>``) holds each pattern."""
    import psutil

    totals = dict.fromkeys(patterns, 0.0)
    for proc in psutil.process_iter(["cmdline"]):
        line = " ".join(proc.info["cmdline"] or [])
        for name, pattern in patterns.items():
            if pattern in line:
                try:
                    t = proc.cpu_times()
                except psutil.Error:
                    continue
                totals[name] += t.user + t.system
    return totals


def run_crowd(url: str, users: int, spawn_rate: float, run_time_s: int, work: Path) -> dict:
    out = work / "crowd.json"
    command = locust_command(
        host=url,
        users=users,
        spawn_rate=spawn_rate,
        run_time_s=run_time_s,
        out_dir=work,
        locustfile=CROWD_LOCUSTFILE,
    )
    began = time.time()
    front_before = cpu_seconds(FRONT)
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(
        command,
        cwd=ROOT,
        env={**os.environ, "RAG_CROWD_OUT": str(out)},
        check=True,
        timeout=run_time_s + 120,
    )
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = time.time() - began
    front = cpu_seconds(FRONT)
    cores = {
        name: round((front[name] - front_before[name]) / wall, 2) for name in FRONT
    }  # a replica that restarted mid-run would undercount; none does in this run
    locust_s = (children.ru_utime + children.ru_stime) - (
        children_before.ru_utime + children_before.ru_stime
    )
    cores["locust"] = round(locust_s / wall, 2)
    records = [tuple(r) for r in json.loads(out.read_text(encoding="utf-8"))]
    ramp_end = began + users / spawn_rate
    summary = crowd_summary(records, (ramp_end, began + run_time_s))
    summary["timeline"] = timeline(records, began)
    summary["cores_used"] = cores  # mean cores each part took over the crowd run
    return summary


def measure(url: str, args: argparse.Namespace, work: Path) -> dict:
    report: dict[str, Any] = {}
    print("single user ...", flush=True)
    report["single_user"] = closed_loop(url, 1, args.requests)
    report["closed_loop"] = {}
    for clients in CLOSED_LOOP:
        print(f"closed loop, {clients} clients ...", flush=True)
        report["closed_loop"][f"c{clients}"] = closed_loop(url, clients, args.requests * 2)
    report["best_closed_loop_rps"] = max(
        run["rps"] for run in [report["single_user"], *report["closed_loop"].values()]
    )
    print(f"crowd: {args.users} users for {args.run_time_s}s ...", flush=True)
    report["crowd"] = run_crowd(url, args.users, args.spawn_rate, args.run_time_s, work)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m loadtests.overload",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--output", type=Path, required=True, help="JSON report path")
    parser.add_argument("--users", type=int, default=1000, help="crowd size (default 1000)")
    parser.add_argument("--spawn-rate", type=float, default=50.0, help="users/s (default 50)")
    parser.add_argument("--run-time", default="120s", help="crowd duration (default 120s)")
    parser.add_argument("--requests", type=int, default=40, help="single-user requests")
    parser.add_argument("--url", default=None, help="a running graph (default: start one)")
    args = parser.parse_args(argv)
    args.run_time_s = parse_run_time(args.run_time)
    with tempfile.TemporaryDirectory(prefix="overload-") as tmp:
        work = Path(tmp)
        if args.url:
            report = measure(args.url, args, work)
        else:
            with sample_graph(work) as url:
                report = measure(url, args, work)
    report.update(users=args.users, run_time_s=args.run_time_s)
    report["verdicts"] = verdicts(report)
    write_report(args.output, report, markdown, "loadtests.overload", argv)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
