"""The graph against a naive single-process pipeline, side by side, in one invocation.

    python -m loadtests.bench --output reports/bench.json \\
        [--dataset ../shared/datasets/scifact --docs 1000] [--variants default,throughput]

Steps, all on this machine, one after the other (never two measurements at once):

0. start a ``milvus-lite server`` on ``--milvus-dir`` for steps 1-3 (the graph in step 4
   runs its own, as shipped, on the same directory);
1. ingest the corpus (a BEIR dataset, or graph/sample_corpus) into one Milvus
   collection through the graph's own Ingester (reused when already stored);
2. **baseline** (``loadtests.baseline``, its own process): the same models and
   collection, one request at a time, with and without generation, and the time to first
   token and per later token a stream of its answers would show;
3. **micro** (``loadtests.micro``, its own process): reranker and query-embedding
   batching, unbatched vs Serve dynamic batching vs one padded batch;
4. **graph**: ``serve run`` on serve_config.yaml (collection, generator and caches
   changed as below), driven over HTTP at each ``--concurrency`` (``/v1/query``, then
   streamed: ``/v1/chat/completions`` with ``stream: true``, timing the first token and
   the gaps between tokens) and at ``--search-concurrency`` on the retrieval path
   (``/v1/search``); once per variant (``throughput``: RAY_SERVE_THROUGHPUT_OPTIMIZED=1;
   ``haproxy``: RAY_SERVE_ENABLE_HA_PROXY=1).

Generation runs vLLM on the architecture of SmolLM2-135M-Instruct with random weights
(``load_format="dummy"``, see loadtests/bench_model.py) for a fixed ``--max-tokens``
(``ignore_eos``), in both the baseline and the graph. The graph's answer and
query-embedding caches are off, so repeated queries cost what new ones do.

Writes the JSON report to --output (ratios under ``ratios``) and a markdown table
next to it (same name, ``.md``).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from deployments.common.store.lite import free_port
from deployments.types import Document
from graph.config import load_config
from graph.evaluate import add_config_options, add_milvus_options, app_args, collection_name
from graph.evaluation.beir import load_dataset
from graph.evaluation.pipeline import milvus_at
from graph.k8s.serve_config import deep_merge
from graph.serve_process import ROOT, running_graph, write_serve_config
from loadtests.bench_model import ENGINE_KWARGS, build_bench_model
from loadtests.driver import drive, drive_stream
from loadtests.micro import combine
from loadtests.report import markdown, ratios
from loadtests.spec import BenchSpec
from loadtests.workload import COMPLEX_QUERIES, SIMPLE_QUERIES

#: The graph runs turn both caches off, so a repeated query costs what a new one does, and
#: admission control's shedding and degrading off, so every level measures the full graph's
#: capacity (the overload behaviour is loadtests.overload's subject).
CACHES_OFF: dict[str, Any] = {
    "ingress": {"admission": {"latency_objective_s": 3600, "degrade": False}},
    "supervisor": {"answer_cache": {"max_entries": 0}},
    "retriever": {"embedder": {"query_cache": {"max_entries": 0}}},
}

VARIANT_ENV: dict[str, dict[str, str]] = {
    "default": {},
    "throughput": {"RAY_SERVE_THROUGHPUT_OPTIMIZED": "1"},
    "haproxy": {"RAY_SERVE_ENABLE_HA_PROXY": "1"},
}


def corpus(args: argparse.Namespace) -> tuple[str, list[Document], list[str]]:
    """(name, documents, queries) from ``--dataset`` or the sample corpus."""
    if args.dataset is not None:
        data = load_dataset(args.dataset, args.split, max_queries=args.queries, max_docs=args.docs)
        return data.name, data.documents, list(data.queries.values())
    from graph.ingest import documents, find_files

    docs = [
        Document(doc_id=path.stem, text=d["text"], title=d["title"], metadata=d["metadata"])
        for path, d in documents(find_files([str(ROOT / "graph" / "sample_corpus")]))
        if isinstance(d, dict)
    ]
    queries = [q for pair in zip(SIMPLE_QUERIES, COMPLEX_QUERIES, strict=False) for q in pair]
    return "sample_corpus", docs, queries[: args.queries] if args.queries else queries


def make_spec(
    args: argparse.Namespace, work: Path, milvus_uri: str
) -> tuple[BenchSpec, str, list[Document]]:
    """The spec every part of the run shares, the corpus name and its documents."""
    app = app_args(args.config, args.set)
    app["generator"] = {
        **app.get("generator", {}),
        "max_tokens": args.max_tokens,
        "ignore_eos": True,
        "temperature": 0.0,
    }
    name, docs, queries = corpus(args)
    cfg = load_config(app)
    source = None
    if args.generator == "vllm":
        source = str(build_bench_model(work / "bench-model"))
        app["generator"].update(mode="vllm", model=source)
        app["generator"]["engine_kwargs"] = {**cfg.generator.engine_kwargs, **ENGINE_KWARGS}
    else:
        app["generator"]["mode"] = "extractive"
    spec = BenchSpec(
        app=app,
        milvus_uri=milvus_uri,
        milvus_dir=str(args.milvus_dir.resolve()),
        # --queries is in the key: the dataset subset keeps the documents judged for them.
        collection=collection_name(cfg, name, ("bench", args.docs, args.queries)),
        generator_source=source,
        queries=queries,
        top_k=args.top_k,
        warmup=args.warmup,
        baseline_requests=args.baseline_requests,
        concurrency=args.concurrency,
        requests_per_client=args.requests_per_client,
        search_concurrency=args.search_concurrency,
    )
    return spec, name, docs


def run_child(
    module: str, inputs: list[str | Path], out: Path, log: Path, timeout_s: float
) -> dict:
    """``python -m module INPUTS... OUT`` in its own process; its JSON result."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    with log.open("w") as f:
        proc = subprocess.run(
            [sys.executable, "-m", module, *map(str, inputs), str(out)],
            cwd=ROOT,
            env=env,
            stdout=f,
            stderr=subprocess.STDOUT,
            timeout=timeout_s,
            check=False,
        )
    if proc.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:])
        raise SystemExit(f"{module} failed (exit {proc.returncode}); log {log}:\n{tail}")
    return json.loads(out.read_text())


def run_graph(spec: BenchSpec, variant: str, work: Path, timeout_s: float) -> dict:
    """Start the graph with ``variant``'s environment and drive every load level."""
    port = free_port()
    # The graph runs Milvus Lite itself on the bench's data directory, as shipped.
    milvus = {"uri": f"http://127.0.0.1:{free_port()}", "lite": {"data_dir": spec.milvus_dir}}
    args = deep_merge(spec.app_args(), {**CACHES_OFF, "milvus": milvus})
    config = write_serve_config(work / f"serve_config.{variant}.yaml", port=port, args=args)
    log = work / f"serve.{variant}.log"
    result: dict[str, Any] = {"levels": {}, "stream": {}}
    started = time.perf_counter()
    with running_graph(
        config, port=port, log=log, env=VARIANT_ENV[variant], start_timeout_s=timeout_s
    ) as url:
        result["start_s"] = round(time.perf_counter() - started, 1)
        # Every generating request gets a query no earlier one used (see
        # BenchSpec.generation_queries_needed); the warm-up takes the first ones.
        offset = spec.query_warmup()
        warm = spec.query_cycle(offset)
        asyncio.run(drive(url, "/v1/query", warm, clients=4, top_k=spec.top_k))
        for clients in spec.concurrency:
            queries = spec.query_cycle(spec.requests_at(clients), start=offset)
            offset += len(queries)
            level = asyncio.run(drive(url, "/v1/query", queries, clients=clients, top_k=spec.top_k))
            result["levels"][f"c{clients}"] = level
            print(f"  {variant} /v1/query c{clients}: {_line(level)}", file=sys.stderr)
        # The same levels streamed (POST /v1/chat/completions, stream: true).
        warm = spec.query_cycle(spec.stream_warmup(), start=offset)
        offset += len(warm)
        asyncio.run(drive_stream(url, warm, clients=1, top_k=spec.top_k))
        for clients in spec.concurrency:
            queries = spec.query_cycle(spec.requests_at(clients), start=offset)
            offset += len(queries)
            level = asyncio.run(drive_stream(url, queries, clients=clients, top_k=spec.top_k))
            result["stream"][f"c{clients}"] = level
            print(f"  {variant} stream c{clients}: {_stream_line(level)}", file=sys.stderr)
        c = spec.search_concurrency
        search = asyncio.run(
            drive(
                url,
                "/v1/search",
                spec.query_cycle(spec.requests_at(c)),
                clients=c,
                top_k=spec.top_k,
            )
        )
        result["search"] = {f"c{c}": search}
        print(f"  {variant} /v1/search c{c}: {_line(search)}", file=sys.stderr)
    return result


def _line(run: dict) -> str:
    return (
        f"{run['rps']} req/s, p50 {run['p50_ms']} ms, p95 {run['p95_ms']} ms, "
        f"{run['errors']} errors"
    )


def _stream_line(run: dict) -> str:
    """One streamed level, for the console.

    >>> _stream_line({"rps": 2.0, "errors": 0, "ttft_ms": {"p50": 120.0, "p95": 180.0},
    ...               "itl_ms": {"p50": 11.0, "p95": 14.0}})
    '2.0 req/s, TTFT p50 120.0 / p95 180.0 ms, ITL p50 11.0 / p95 14.0 ms, 0 errors'
    """
    ttft, itl = run["ttft_ms"], run["itl_ms"]
    return (
        f"{run['rps']} req/s, TTFT p50 {ttft['p50']} / p95 {ttft['p95']} ms, "
        f"ITL p50 {itl['p50']} / p95 {itl['p95']} ms, {run['errors']} errors"
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m loadtests.bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--output", type=Path, required=True, help="JSON report (and .md beside it)")
    p.add_argument("--dataset", type=Path, help="BEIR dataset folder (default: sample corpus)")
    p.add_argument("--split", default="train", help="qrels split whose queries to use")
    p.add_argument("--docs", type=int, default=1000, help="documents to ingest from --dataset")
    p.add_argument(
        "--queries",
        type=int,
        default=256,
        help="distinct queries (cycled when a run needs more; see the report's corpus.queries)",
    )
    p.add_argument("--generator", choices=["vllm", "extractive"], default="vllm")
    p.add_argument("--max-tokens", type=int, default=32, help="tokens per answer (fixed)")
    p.add_argument("--top-k", type=int, default=3, help="passages per answer")
    p.add_argument("--concurrency", type=_ints, default=[1, 8, 32], help="e.g. 1,8,32")
    p.add_argument("--search-concurrency", type=int, default=8)
    p.add_argument("--requests-per-client", type=int, default=3)
    p.add_argument("--baseline-requests", type=int, default=16)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument(
        "--variants",
        type=_variants,
        default=["default"],
        help=f"graph runs, comma-separated: {', '.join(VARIANT_ENV)}",
    )
    p.add_argument("--skip-micro", action="store_true", help="leave out the micro-benchmarks")
    add_config_options(p)
    add_milvus_options(p, Path("data/bench/milvus"))
    p.add_argument("--timeout-s", type=float, default=1800, help="limit of each part")
    return p.parse_args(argv)


def _ints(text: str) -> list[int]:
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}"
        ) from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"client counts must be >= 1, got {text!r}")
    return values


def _variants(text: str) -> list[str]:
    names = [x.strip() for x in text.split(",") if x.strip()]
    unknown = [n for n in names if n not in VARIANT_ENV]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown variant(s) {unknown or text!r}; choose from {', '.join(VARIANT_ENV)}"
        )
    return names


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    work = args.output.resolve().parent / (args.output.stem + ".work")
    work.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    command = "python -m loadtests.bench " + " ".join(sys.argv[1:] if argv is None else argv)
    with milvus_at(args.milvus_uri, args.milvus_dir.resolve()) as uri:
        spec, report = offline_parts(args, work, uri)
    report = {"command": command, **report, "graph": {}}
    for variant in args.variants:
        print(f"graph ({variant}) ...", file=sys.stderr)
        report["graph"][variant] = run_graph(spec, variant, work, args.timeout_s)
    report["ratios"] = ratios(report)
    report["seconds"] = round(time.perf_counter() - began, 1)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    table = markdown(report)
    args.output.with_suffix(".md").write_text(table)
    print(table)
    return 0


def offline_parts(
    args: argparse.Namespace, work: Path, milvus_uri: str
) -> tuple[BenchSpec, dict[str, Any]]:
    """Steps 1-3 (ingest, baseline, micro-benchmarks), each in its own process, against
    the Milvus at ``milvus_uri``; the spec and the report so far."""
    spec, name, docs = make_spec(args, work, milvus_uri)
    spec_path = work / "spec.json"
    spec_path.write_text(spec.model_dump_json(indent=2))
    docs_path = work / "documents.jsonl"
    with docs_path.open("w", encoding="utf-8") as f:
        f.writelines(json.dumps(dataclasses.asdict(d)) + "\n" for d in docs)

    def child(module: str, inputs: list[str | Path], out: str) -> dict:
        return run_child(module, inputs, work / f"{out}.json", work / f"{out}.log", args.timeout_s)

    print(f"ingesting {len(docs)} documents (stored ones are skipped) ...", file=sys.stderr)
    ingested = child("loadtests.prepare", [spec_path, docs_path], "ingest")
    needed = spec.generation_queries_needed()
    if needed > len(spec.queries):
        print(
            f"warning: the graph runs send {needed} generating requests but there are only "
            f"{len(spec.queries)} distinct queries; repeats hit vLLM's prefix cache",
            file=sys.stderr,
        )
    report: dict[str, Any] = {
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
        },
        "corpus": {
            "name": name,
            "documents": len(docs),
            "queries": len(spec.queries),
            "generation_queries_needed": needed,
            "collection": spec.collection,
            "ingest": ingested,
        },
        "spec": json.loads(spec.model_dump_json(exclude={"queries"})),
    }
    print("baseline (one process, one request at a time) ...", file=sys.stderr)
    report["baseline"] = child("loadtests.baseline", [spec_path], "baseline")
    if not args.skip_micro:
        print("micro-benchmarks (reranker, query embedding) ...", file=sys.stderr)
        local = child("loadtests.micro", ["local", spec_path], "micro_local")
        served = child(
            "loadtests.micro", ["serve", spec_path, work / "micro_local.pkl"], "micro_serve"
        )
        report["micro"] = combine(local, served)
    return spec, report


if __name__ == "__main__":
    raise SystemExit(main())
