"""Bytes per query crossing each hop of the graph (``python -m loadtests.hops``).

Runs queries through the graph's own Supervisor (``Supervisor.answer``, what
``POST /v1/query`` runs), in one process, with every stage it calls wrapped in a recorder
that pickles each call's arguments and its result the way a Ray handle call serialises
them. Reports the mean bytes per query for each hop (``supervisor->retriever`` arguments,
``retriever->supervisor`` result, ...), and what the stages read from Milvus
(``milvus->retriever``, ``milvus->reranker``). The generator is the extractive one.

    python -m loadtests.hops --dataset ../shared/datasets/scifact --docs 1000 \\
        --queries 32 --output reports/hops.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import pickle
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from deployments.generator.deployment import ExtractiveGenerator
from deployments.reranker.deployment import Reranker
from deployments.retriever.deployment import Retriever
from deployments.supervisor.deployment import Supervisor
from graph.config import load_config
from graph.evaluate import add_config_options, add_milvus_options, app_args, collection_name
from graph.evaluation.beir import load_dataset
from graph.evaluation.pipeline import Stages, build_stages, ingest, milvus_at


def size(value: Any) -> int:
    """Bytes of ``value`` pickled (protocol 5, what Ray uses for plain Python objects)."""
    return len(pickle.dumps(value, protocol=5))


class StoreRecorder:
    """Wraps the store a stage reads; adds what each Milvus read returns to ``totals``
    (``milvus->retriever`` for searches, ``milvus->reranker`` for token vectors)."""

    def __init__(self, store: Any, totals: dict[str, int]) -> None:
        self._store, self._totals = store, totals

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def search(self, *args: Any, **kwargs: Any) -> Any:
        result = self._store.search(*args, **kwargs)
        self._totals["milvus->retriever"] += size(result)
        return result

    def fetch_tokens(self, chunk_ids: Any) -> Any:
        result = self._store.fetch_tokens(chunk_ids)
        self._totals["milvus->reranker"] += size(result)
        return result


class Recorder:
    """Wraps a stage client; adds each call's argument and result sizes to ``totals``."""

    def __init__(self, name: str, client: Any, totals: dict[str, int]) -> None:
        self._name, self._client, self._totals = name, client, totals

    def __getattr__(self, method: str):
        target = getattr(self._client, method)

        async def call(*args: Any) -> Any:
            result = await target(*args)
            self._totals[f"supervisor->{self._name}"] += size(args)
            self._totals[f"{self._name}->supervisor"] += size(result)
            return result

        return call


async def measure(stages: Stages, queries: list[str], top_k: int) -> dict[str, float]:
    totals: dict[str, int] = defaultdict(int)
    cfg = stages.cfg
    # The graph's own candidate depth (the evaluation harness fetches more, for Recall@100).
    store = StoreRecorder(stages.store, totals)
    retriever = Retriever.func_or_class(
        cfg.retriever, stages.store.cfg, embedder=stages.embedder, store=store
    )
    reranker = Reranker.func_or_class(
        cfg.reranker, stages.store.cfg, encoder=stages.encoder, store=store
    )
    supervisor = Supervisor.func_or_class(
        cfg.supervisor,
        cfg.generator,
        "extractive",
        rewriter=Recorder("rewriter", stages.rewriter, totals),
        retriever=Recorder("retriever", retriever, totals),
        reranker=Recorder("reranker", reranker, totals),
        generator=Recorder("generator", ExtractiveGenerator.func_or_class(), totals),
    )
    for query in queries:
        answer = await supervisor.answer(query, top_k)
        totals["ingress->supervisor"] += size((query, top_k))
        totals["supervisor->ingress"] += size(answer)
    return {hop: round(n / len(queries)) for hop, n in sorted(totals.items())}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m loadtests.hops", description=__doc__)
    p.add_argument("--dataset", type=Path, required=True, help="BEIR dataset folder")
    p.add_argument("--split", default="train")
    p.add_argument("--docs", type=int, default=1000)
    p.add_argument("--queries", type=int, default=32)
    p.add_argument("--top-k", type=int, default=5)
    p.add_argument("--output", type=Path, required=True)
    add_config_options(p)
    add_milvus_options(p, Path("data/hops/milvus"))
    args = p.parse_args(argv)
    cfg = load_config(app_args(args.config, args.set))
    data = load_dataset(args.dataset, args.split, max_docs=args.docs)
    name = collection_name(cfg, data.name, ("hops", args.docs))
    queries = list(data.queries.values())[: args.queries]
    with milvus_at(args.milvus_uri, args.milvus_dir.resolve()) as uri:
        stages = build_stages(cfg, uri=uri, collection=name)
        try:
            asyncio.run(ingest(stages, data.documents))
            per_query = asyncio.run(measure(stages, queries, args.top_k))
        finally:
            stages.store.close()
    report = {"queries": len(queries), "top_k": args.top_k, "bytes_per_query": per_query}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
