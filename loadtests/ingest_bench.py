"""Ingestion throughput and its cost to queries: ``python -m loadtests.ingest_bench``.

One invocation, four parts, on the real graph (``serve run`` on a fresh Milvus Lite
directory, the extractive generator so that the cores go to ingestion and retrieval):

1. **Bulk job**: the first ``--docs`` SciFact abstracts as one ingestion job, alone on
   the machine; documents/s and chunks/s from submission to ``succeeded``.
2. **Idle queries**: ``--queries`` SciFact questions to ``/v1/query``, ``--clients`` at a
   time, over what was stored; their p95.
3. **Queries during a bulk job**: the next ``--load-docs`` abstracts as a second job,
   and other SciFact questions sent while it runs; their p95 and the ratio to the idle
   one (target: at most 1.5).
4. **Plain encoder pass**, after the graph stopped: the same chunks of part 1 (the graph's
   chunker and settings) through one MiniLM forward pass each, batch 64, with the torch
   threads of the Ingester replica; ingestion's ratio to it (target: at least 0.7).

No idle question is asked twice (a cached answer would measure the cache); during the job
questions come round again only after the job has published, which changes the corpus
stamp and so misses the cache. A report whose queries were shed (503) says so: its
percentiles cover served queries only.

Writes ``OUT.json`` and ``OUT.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from deployments.common.store.lite import free_port
from graph.serve_process import running_graph, write_serve_config
from loadtests.driver import drive
from loadtests.stats import ratio, summarize

ROOT = Path(__file__).resolve().parents[1]
SCIFACT = ROOT.parent / "shared" / "datasets" / "scifact"
TARGET_THROUGHPUT = 0.7
TARGET_P95 = 1.5


def scifact(first: int, count: int) -> list[dict[str, Any]]:
    """SciFact abstracts ``first`` .. ``first + count`` as documents of the HTTP API."""
    docs = []
    with (SCIFACT / "corpus.jsonl").open(encoding="utf-8") as f:
        for i, line in enumerate(f):
            if i >= first + count:
                break
            if i >= first:
                row = json.loads(line)
                docs.append({"id": row["_id"], "title": row.get("title", ""), "text": row["text"]})
    return docs


def questions(count: int) -> list[str]:
    with (SCIFACT / "queries.jsonl").open(encoding="utf-8") as f:
        return [json.loads(line)["text"] for line, _ in zip(f, range(count), strict=False)]


def run_job(url: str, docs: list[dict], *, poll_s: float = 0.5) -> dict[str, Any]:
    """Submit ``docs`` as one job and wait for its end; its throughput seen by the client."""
    began = time.perf_counter()
    reply = httpx.post(url + "/v1/ingest/jobs", json={"documents": docs}, timeout=600)
    reply.raise_for_status()
    job = reply.json()
    while job["status"] in ("queued", "running"):
        time.sleep(poll_s)
        job = httpx.get(f"{url}/v1/ingest/jobs/{job['job_id']}", timeout=60).json()
    wall = time.perf_counter() - began
    if job["status"] != "succeeded":
        raise RuntimeError(f"ingestion job ended {job['status']}: {job}")
    return {
        "documents": job["documents"]["done"],
        "chunks": job["chunks"],
        "wall_s": round(wall, 1),
        "docs_per_s": round(job["documents"]["done"] / wall, 2),
        "chunks_per_s": round(job["chunks"] / wall, 2),
        "job_id": job["job_id"],
    }


async def queries_during_job(
    url: str, docs: list[dict], queries: list[str], clients: int
) -> tuple[dict, dict]:
    """Start a job, then send ``queries`` (in rounds of 20) while it runs."""
    job = asyncio.create_task(asyncio.to_thread(run_job, url, docs))
    await asyncio.sleep(3)  # the job is staged and running
    latencies: list[dict] = []
    start = 0
    while not job.done():
        # From the start again once all were asked: by then the job has published many
        # times, and each publication changes the corpus stamp, so none is a cache hit.
        asked = queries[start : start + 20]
        start = start + 20 if start + 20 < len(queries) else 0
        latencies.append(
            await drive(url, "/v1/query", asked, clients=clients, top_k=5, keep_latencies=True)
        )
    return await job, _merge(latencies)


def _merge(runs: list[dict]) -> dict:
    """One summary of several query rounds (percentiles over every latency)."""
    lat = [ms for run in runs for ms in run["latencies_ms"]]
    wall = sum(run["wall_s"] for run in runs)
    return {"rounds": len(runs), **summarize(lat, wall, errors=sum(r["errors"] for r in runs))}


def plain_pass(docs: list[dict], threads: int) -> dict[str, Any]:
    """One MiniLM forward pass over the chunks the graph makes of ``docs``."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    from deployments.common.chunking import Chunker
    from deployments.common.encoders.checkpoint import packaged_model_dir
    from deployments.common.encoders.passages import packaged_max_seq_length
    from deployments.ingester.config import IngesterConfig
    from deployments.types import Document

    torch.set_num_threads(threads)
    tokenizer = AutoTokenizer.from_pretrained(packaged_model_dir())
    model = AutoModel.from_pretrained(packaged_model_dir()).eval()
    cfg = IngesterConfig().chunking
    chunker = Chunker(
        chunk_size=cfg.chunk_size, chunk_overlap=cfg.chunk_overlap, tokenize=tokenizer.tokenize
    )
    texts = [
        c.search_text for d in docs for c in chunker.split(Document(d["id"], d["text"], d["title"]))
    ]
    began = time.perf_counter()
    with torch.inference_mode():
        for start in range(0, len(texts), 64):
            batch = tokenizer(
                texts[start : start + 64],
                padding=True,
                truncation=True,
                max_length=packaged_max_seq_length(),
                return_tensors="pt",
            )
            model(**batch)
    wall = time.perf_counter() - began
    return {
        "threads": threads,
        "chunks": len(texts),
        "wall_s": round(wall, 1),
        "docs_per_s": round(len(docs) / wall, 2),
        "chunks_per_s": round(len(texts) / wall, 2),
    }


def markdown(report: dict) -> str:
    bulk, plain, idle, busy = (
        report["bulk_job"],
        report["plain_pass"],
        report["idle_queries"],
        report["queries_during_job"],
    )
    t, p = report["throughput_ratio"], report["p95_ratio"]
    t_met = "met" if t is not None and t >= TARGET_THROUGHPUT else "missed"
    p_met = "met" if p is not None and p <= TARGET_P95 else "missed"
    return "\n".join(
        [
            "# Ingestion throughput and its cost to queries",
            "",
            f"`{report['command']}` on {report['machine']}, {report['date']}.",
            "",
            "| | documents | chunks | wall s | docs/s | chunks/s |",
            "|---|---:|---:|---:|---:|---:|",
            f"| graph: one ingestion job | {bulk['documents']} | {bulk['chunks']} | "
            f"{bulk['wall_s']} | {bulk['docs_per_s']} | {bulk['chunks_per_s']} |",
            f"| plain MiniLM pass ({plain['threads']} thread) | {report['docs']} | "
            f"{plain['chunks']} | {plain['wall_s']} | {plain['docs_per_s']} | "
            f"{plain['chunks_per_s']} |",
            "",
            f"Ingestion runs at **{t}** of the plain encoder pass (target >= "
            f"{TARGET_THROUGHPUT}: {t_met}).",
            "",
            f"| /v1/query, {report['clients']} clients | requests | p50 ms | p95 ms | p99 ms |",
            "|---|---:|---:|---:|---:|",
            f"| idle | {idle['requests']} | {idle['p50_ms']} | {idle['p95_ms']} | "
            f"{idle['p99_ms']} |",
            f"| during a {report['load_docs']}-document job | {busy['requests']} | "
            f"{busy['p50_ms']} | {busy['p95_ms']} | {busy['p99_ms']} |",
            "",
            f"Shed (503): {idle['errors']} idle, {busy['errors']} during the job.",
            "",
            f"Query p95 during the job is **{p}x** the idle p95 (target <= {TARGET_P95}: "
            f"{p_met}); the job ran at "
            f"{report['job_under_load']['chunks_per_s']} chunks/s meanwhile.",
            "",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtests.ingest_bench", description=__doc__)
    parser.add_argument("--docs", type=int, default=1000)
    parser.add_argument("--load-docs", type=int, default=300)
    parser.add_argument("--queries", type=int, default=80, help="idle questions (<= 80)")
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "performance" / "ingest")
    args = parser.parse_args(argv)
    bulk_docs = scifact(0, args.docs)
    load_docs = scifact(args.docs, args.load_docs)
    asked = questions(809)  # every SciFact question: none is asked twice
    with tempfile.TemporaryDirectory() as tmp:
        config = write_serve_config(
            Path(tmp) / "serve_config.yaml",
            port=(port := free_port()),
            args={
                "milvus": {
                    "uri": f"http://127.0.0.1:{free_port()}",
                    "lite": {"data_dir": str(Path(tmp) / "milvus")},
                },
                "generator": {"mode": "extractive"},
            },
        )
        with running_graph(config, port=port, log=Path(tmp) / "serve.log") as url:
            bulk = run_job(url, bulk_docs)
            warm, idle_qs, busy_qs = asked[:4], asked[4 : 4 + min(args.queries, 80)], asked[84:]
            asyncio.run(drive(url, "/v1/query", warm, clients=1, top_k=5))
            idle = asyncio.run(drive(url, "/v1/query", idle_qs, clients=args.clients, top_k=5))
            job, busy = asyncio.run(queries_during_job(url, load_docs, busy_qs, args.clients))
    plain = plain_pass(bulk_docs, threads=1)
    report = {
        "command": "python -m loadtests.ingest_bench " + " ".join(argv or []),
        "machine": f"{os.cpu_count()} cores, no GPU",
        "date": time.strftime("%Y-%m-%d"),
        "docs": args.docs,
        "load_docs": args.load_docs,
        "clients": args.clients,
        "bulk_job": bulk,
        "plain_pass": plain,
        "throughput_ratio": ratio(bulk["chunks_per_s"], plain["chunks_per_s"]),
        "idle_queries": idle,
        "queries_during_job": busy,
        "job_under_load": job,
        "p95_ratio": ratio(busy["p95_ms"], idle["p95_ms"]),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(markdown(report))
    print(markdown(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
