"""Retrieval quality on a BEIR-format dataset, per mode, with regression detection.

    python -m graph.evaluate --dataset ../shared/datasets/scifact --split train \\
        --output reports/scifact.json [--max-queries 100 --max-docs 400] [--baseline old.json]

The graph's own stage classes run in this process (graph/evaluation/pipeline.py): the
corpus goes through ``Ingester.ingest`` (what ``POST /v1/documents`` runs) into a
collection named after the dataset subset and the ingestion settings (reused, not
re-embedded, when it already exists), then every query runs in each mode:

- dense, bm25, hybrid: ``Retriever.retrieve`` only (hybrid = dense + BM25 fused with RRF);
- hybrid+rerank: ``Supervisor.search`` with the query as given (no rewriting);
- full: ``Supervisor.search``, what ``POST /v1/search`` runs (rewrite, route, retrieve per
  sub-question, rerank).

Milvus is a ``milvus-lite server`` the command starts on ``--milvus-dir`` (or the Milvus
at ``--milvus-uri``).

Metrics come from pytrec_eval (trec_eval's code). Writes JSON and a markdown table;
with --baseline, exits 1 when any metric of any mode drops by more than --tolerance.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from graph.config import AppConfig, load_config
from graph.evaluation.beir import Dataset, load_dataset
from graph.evaluation.metrics import METRICS, doc_run, evaluate, latency_summary
from graph.evaluation.pipeline import DEPTH, MODES, build_stages, ingest, milvus_at, run_mode

ROOT = Path(__file__).resolve().parents[1]


def app_args(config: Path, overrides: list[str]) -> dict[str, Any]:
    """The ``args`` of the first application in a Serve config, with ``a.b=value`` overrides."""
    data = yaml.safe_load(config.read_text())
    args = data["applications"][0].get("args", {}) if "applications" in data else data
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep:
            raise SystemExit(f"--set {item!r}: use dotted.key=value, e.g. retriever.rrf_k=30")
        node = args
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = yaml.safe_load(raw)
    return args


def add_config_options(parser: argparse.ArgumentParser) -> None:
    """``--config`` and ``--set``, which :func:`app_args` turns into the application args."""
    parser.add_argument(
        "--config",
        type=Path,
        default=ROOT / "serve_config.yaml",
        help="Serve config whose app args to use (default serve_config.yaml)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. retriever.rrf_k=30 (repeatable)",
    )


def collection_name(cfg: AppConfig, dataset: str, subset: tuple) -> str:
    """Collections are keyed by everything that changes what ingestion stores (and only
    that, so query-side settings reuse the stored corpus)."""
    stored = [
        cfg.retriever.embedder.model,
        cfg.reranker.model,
        cfg.reranker.doc_maxlen,
        cfg.ingester.model_dump(include={"chunking"}),
    ]
    key = json.dumps([dataset, subset, *stored], sort_keys=True)
    return "eval_" + hashlib.sha256(key.encode()).hexdigest()[:12]


def markdown(report: dict[str, Any]) -> str:
    head = "| mode | " + " | ".join(METRICS) + " | p50 ms | p95 ms |"
    lines = [head, "|" + " --- |" * (len(METRICS) + 3)]
    for mode, m in report["modes"].items():
        cells = [f"{m[k]:.3f}" for k in METRICS]
        lines.append(
            f"| {mode} | "
            + " | ".join(cells)
            + f" | {m['latency_p50_ms']:.1f} | {m['latency_p95_ms']:.1f} |"
        )
    return "\n".join(lines) + "\n"


def regressions(report: dict, baseline: dict, tolerance: float) -> list[str]:
    """Every (mode, metric) that dropped by more than ``tolerance`` against ``baseline``."""
    for key in ("dataset", "split", "queries", "documents"):
        if report.get(key) != baseline.get(key):
            raise SystemExit(
                f"baseline is not comparable: {key} {baseline.get(key)!r} there, "
                f"{report.get(key)!r} here"
            )
    found = []
    for mode, base in baseline["modes"].items():
        now = report["modes"].get(mode)
        if now is None:
            found.append(f"{mode}: missing from this run")
            continue
        for metric in METRICS:
            drop = base[metric] - now[metric]
            if drop > tolerance:
                found.append(
                    f"{mode} {metric}: {base[metric]:.4f} -> {now[metric]:.4f} "
                    f"(-{drop:.4f} > {tolerance})"
                )
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m graph.evaluate",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--dataset", type=Path, required=True, help="BEIR dataset folder")
    parser.add_argument("--split", default="test", help="qrels/<split>.tsv (default test)")
    parser.add_argument("--output", type=Path, required=True, help="JSON report path")
    parser.add_argument("--max-queries", type=int, help="first N judged queries only")
    parser.add_argument("--max-docs", type=int, help="judged docs plus distractors, N in all")
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    add_config_options(parser)
    add_milvus_options(parser, Path("data/eval/milvus"))
    parser.add_argument("--baseline", type=Path, help="earlier report to compare against")
    parser.add_argument(
        "--tolerance",
        type=float,
        default=0.01,
        help="largest allowed drop of any metric (default 0.01)",
    )
    args = parser.parse_args(argv)

    cfg = load_config(app_args(args.config, args.set))
    data = load_dataset(
        args.dataset, args.split, max_queries=args.max_queries, max_docs=args.max_docs
    )
    print(
        f"{data.name}/{args.split}: {len(data.queries)} queries, {len(data.documents)} docs",
        file=sys.stderr,
    )
    name = collection_name(cfg, data.name, (args.split, args.max_queries, args.max_docs))
    with milvus_at(args.milvus_uri, args.milvus_dir.resolve()) as uri:
        report = evaluate_modes(cfg, data, args, uri=uri, collection=name)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    table = markdown(report)
    args.output.with_suffix(".md").write_text(table)
    print(table)
    if args.baseline:
        found = regressions(report, json.loads(args.baseline.read_text()), args.tolerance)
        if found:
            print("REGRESSIONS against " + str(args.baseline), *found, sep="\n  ", file=sys.stderr)
            return 1
        print(f"no metric dropped by more than {args.tolerance} against {args.baseline}")
    return 0


def add_milvus_options(parser: argparse.ArgumentParser, default_dir: Path) -> None:
    """``--milvus-dir`` (a milvus-lite server started for the run) or ``--milvus-uri``."""
    parser.add_argument(
        "--milvus-dir",
        type=Path,
        default=default_dir,
        help=f"Milvus Lite data directory; a server runs on it for the command "
        f"(default {default_dir})",
    )
    parser.add_argument(
        "--milvus-uri", help="use the Milvus at this URI instead (e.g. http://127.0.0.1:19530)"
    )


def evaluate_modes(
    cfg: AppConfig, data: Dataset, args: argparse.Namespace, *, uri: str, collection: str
) -> dict[str, Any]:
    """Ingest ``data`` into ``collection`` at ``uri``, then run every mode; the report."""
    stages = build_stages(cfg, uri=uri, collection=collection)
    t = time.perf_counter()
    stored = asyncio.run(ingest(stages, data.documents))
    ingest_s = time.perf_counter() - t

    report: dict[str, Any] = {
        "dataset": data.name,
        "split": args.split,
        "queries": len(data.queries),
        "documents": len(data.documents),
        "chunks": stages.store.count(),
        "collection": collection,
        "ingest": {**stored, "seconds": round(ingest_s, 1)},
        "depth": DEPTH,
        "config": cfg.model_dump(mode="json"),
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
        },
        "modes": {},
    }
    for mode in args.modes:
        hits, latencies = run_mode(stages, mode, data.queries)
        run = {qid: doc_run(h, depth=DEPTH) for qid, h in hits.items()}
        report["modes"][mode] = {**evaluate(data.qrels, run), **latency_summary(latencies)}
        print(
            f"{mode:>14}: " + "  ".join(f"{k}={report['modes'][mode][k]:.4f}" for k in METRICS),
            file=sys.stderr,
        )
    stages.store.close()
    return report


if __name__ == "__main__":
    raise SystemExit(main())
