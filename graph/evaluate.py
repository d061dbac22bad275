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
  sub-question, rerank);
- agents: ``Supervisor.search(agents=True)``, what ``POST /v1/search`` with ``"agents":
  true`` runs (plan, specialist agents, reflection); with query types (HotpotQA's
  ``metadata.type``) the report adds the agents' selection accuracy.

Every mode reports nDCG@10, Recall@10/100, MRR@10 and complete@2/5/10 (share of queries with
every relevant document in the top k), per query type too when queries have one. With
``--answers``, the generating modes (full, agents) also answer every question with the
extractive generator: answer EM/F1 (datasets with ``metadata.answer``), groundedness, and
abstention on the first ``--abstention`` questions asked with their evidence filtered out.

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
from graph.evaluation.answering import answer_modes, selection_accuracy
from graph.evaluation.beir import Dataset, load_dataset
from graph.evaluation.metrics import METRICS, doc_run, latency_summary, ranking_scores
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
    """The report's tables: ranking metrics per mode (and per query type, when queries
    have one), then answer quality when it was measured."""
    head = "| mode | " + " | ".join(METRICS) + " | p50 ms | p95 ms |"
    lines = [head, "|" + " --- |" * (len(METRICS) + 3)]
    for mode, m in report["modes"].items():
        rows = [(mode, m), *((f"{mode} ({t})", s) for t, s in m.get("by_type", {}).items())]
        for name, scores in rows:
            cells = [f"{scores[k]:.3f}" for k in METRICS]
            timing = (
                f" | {scores['latency_p50_ms']:.1f} | {scores['latency_p95_ms']:.1f} |"
                if "latency_p50_ms" in scores
                else " | | |"
            )
            lines.append(f"| {name} | " + " | ".join(cells) + timing)
    for mode, m in report["modes"].items():
        if "selection" in m and m["selection"]["accuracy"] is not None:
            sel = m["selection"]
            per = ", ".join(f"{t} {a:.3f}" for t, a in sel["by_type"].items())
            lines.append(
                f"\nAgent selection ({mode}): accuracy {sel['accuracy']:.3f} over "
                f"{sel['questions']} typed questions ({per}); chosen: {sel['chosen']}"
            )
    if report.get("answers"):
        lines += ["", _answers_table(report["answers"])]
    return "\n".join(lines) + "\n"


def _answers_table(answers: dict[str, Any]) -> str:
    cols = ("em", "f1", "contains", "groundedness", "abstention", "false_abstention")
    lines = ["| mode | " + " | ".join(cols) + " | p50 ms | p95 ms |", "|" + " --- |" * 9]
    for mode, a in answers.items():
        for name, group in a["by_type"].items():
            values = {**group, **(a if name == "all" else {})}
            cells = [f"{values[c]:.3f}" if isinstance(values.get(c), float) else "" for c in cols]
            timing = (
                f" | {a['latency_p50_ms']:.1f} | {a['latency_p95_ms']:.1f} |"
                if name == "all"
                else " | | |"
            )
            label = mode if name == "all" else f"{mode} ({name})"
            lines.append(f"| {label} | " + " | ".join(cells) + timing)
    return "\n".join(lines)


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
        for metric in (m for m in METRICS if m in base):
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
    parser.add_argument(
        "--answers",
        action="store_true",
        help="also score the answers of the full and agents modes (EM/F1, groundedness, "
        "abstention)",
    )
    parser.add_argument(
        "--abstention",
        type=int,
        default=100,
        help="with --answers: questions re-asked without their evidence (default 100)",
    )
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
    # Without --max-docs every split searches the whole corpus: they share one collection.
    subset = (args.split, args.max_queries, args.max_docs) if args.max_docs else ("corpus",)
    name = collection_name(cfg, data.name, subset)
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
    types = data.types()
    for mode in args.modes:
        traces: dict[str, dict] = {}
        hits, latencies = run_mode(stages, mode, data.queries, traces)
        run = {qid: doc_run(h, depth=DEPTH) for qid, h in hits.items()}
        scores: dict[str, Any] = {**ranking_scores(data.qrels, run), **latency_summary(latencies)}
        if types:
            scores["by_type"] = {
                kind: ranking_scores({q: data.qrels[q] for q in types if types[q] == kind}, run)
                for kind in sorted(set(types.values()))
            }
        if traces:
            by_qid = {qid: traces[text] for qid, text in data.queries.items() if text in traces}
            scores["selection"] = selection_accuracy(by_qid, types)
        report["modes"][mode] = scores
        print(f"{mode:>14}: " + "  ".join(f"{k}={scores[k]:.4f}" for k in METRICS), file=sys.stderr)
    if args.answers:
        report["answers"] = answer_modes(
            stages, data, args.modes, abstention_queries=args.abstention
        )
    stages.store.close()
    return report


if __name__ == "__main__":
    raise SystemExit(main())
