"""Micro-benchmarks of batching: the reranker and query embedding, three ways each.

- **unbatched**: one request at a time, in process (one forward pass per query);
- **serve_batched**: the real deployment under Ray Serve, all requests sent at once, so
  ``@serve.batch`` groups them; **serve_batch1**: the same deployment with
  ``max_batch_size=1``. Their ratio (``rerank_batching_ratio``) is what dynamic batching
  buys with everything else equal: handles, the token-vector fetch from Milvus, the
  replica's CPU share;
- **padded**: every query in one call, in process (one padded forward pass): the
  ceiling batching can reach.

The workload is real: 32 queries, each with its 50 first-stage candidates from the
benchmark collection; the reranker fetches their stored token vectors from Milvus itself,
as in the graph. It runs as two processes (see :func:`main`); the Serve half starts and
stops a local Ray.
"""

from __future__ import annotations

import asyncio
import json
import logging
import pickle
import sys
import time
from collections.abc import Callable
from pathlib import Path

from deployments.types import Candidate
from graph.evaluation.pipeline import Stages, build_stages
from loadtests.spec import BenchSpec
from loadtests.stats import ratio

logger = logging.getLogger(__name__)

N_QUERIES = 32
N_PASSAGES = 50


def _best_of(repeats: int, run: Callable[[], object]) -> float:
    """Fastest wall time of ``repeats`` runs, seconds (the least disturbed by neighbours)."""
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - t)
    return best


def workload(stages: Stages, spec: BenchSpec) -> tuple[list[str], list[list[Candidate]]]:
    """32 queries and their 50 first-stage candidates (ids and scores)."""
    queries = spec.query_cycle(N_QUERIES)
    cfg = stages.cfg.retriever
    lists = stages.store.search(
        queries, stages.embedder.embed(queries), mode=cfg.mode, limit=N_PASSAGES, rrf_k=cfg.rrf_k
    )
    return queries, [[Candidate(h.chunk_id, h.score) for h in hits] for hits in lists]


def in_process(
    stages: Stages, queries: list[str], cands: list[list[Candidate]], repeats: int
) -> dict:
    """Unbatched and padded timings of the reranker and the query embedder."""
    reranker = stages.reranker
    top_ks = [10] * len(queries)
    n_passages = sum(len(c) for c in cands)

    def rerank_one_by_one() -> None:
        for q, c in zip(queries, cands, strict=True):
            reranker.rerank_many([q], [c], [10])

    def embed_one_by_one() -> None:
        for q in queries:
            stages.embedder.embed([q])

    rerank_unbatched = _best_of(repeats, rerank_one_by_one)
    rerank_padded = _best_of(repeats, lambda: reranker.rerank_many(queries, cands, top_ks))
    embed_unbatched = _best_of(repeats, embed_one_by_one)
    embed_padded = _best_of(repeats, lambda: stages.embedder.embed(queries))
    return {
        "rerank": {
            "unbatched_passages_per_s": round(n_passages / rerank_unbatched, 1),
            "padded_passages_per_s": round(n_passages / rerank_padded, 1),
        },
        "embed": {
            "unbatched_queries_per_s": round(len(queries) / embed_unbatched, 1),
            "padded_queries_per_s": round(len(queries) / embed_padded, 1),
        },
    }


def search_profile(stages: Stages, queries: list[str], repeats: int) -> dict:
    """Milvus cost per query (milliseconds, best of ``repeats``): the first-stage search one
    query at a time and 8 in one call, and the reranker's token-vector fetch for 30 and 50
    candidates."""
    cfg = stages.cfg.retriever
    q8 = queries[:8]
    vectors = stages.embedder.embed(q8)
    store = stages.store
    lists = store.search(q8, vectors, mode=cfg.mode, limit=N_PASSAGES, rrf_k=cfg.rrf_k)

    def one_by_one() -> None:
        for i, q in enumerate(q8):
            store.search([q], vectors[i : i + 1], mode=cfg.mode, limit=N_PASSAGES, rrf_k=cfg.rrf_k)

    def together() -> None:
        store.search(q8, vectors, mode=cfg.mode, limit=N_PASSAGES, rrf_k=cfg.rrf_k)

    def fetch(depth: int) -> None:
        for hits in lists:
            store.fetch_tokens([h.chunk_id for h in hits[:depth]])

    per_query = {
        f"{cfg.mode}_search_ms": round(1000 * _best_of(repeats, one_by_one) / len(q8), 1),
        f"{cfg.mode}_8_in_one_call_ms": round(1000 * _best_of(repeats, together) / len(q8), 1),
    }
    for depth in (30, N_PASSAGES):
        per_query[f"token_fetch_{depth}_ms"] = round(
            1000 * _best_of(repeats, lambda depth=depth: fetch(depth)) / len(q8), 1
        )
    return per_query


def under_serve(
    spec: BenchSpec, queries: list[str], cands: list[list[Candidate]], repeats: int
) -> dict:
    """The Reranker and Retriever deployments under Serve, batch size as configured vs 1."""
    import ray
    from ray import serve

    from deployments.reranker.deployment import build_reranker_deployment
    from deployments.retriever.deployment import build_retriever_deployment

    cfg = spec.app_config()
    n_passages = sum(len(c) for c in cands)
    out: dict[str, dict] = {"rerank": {}, "retrieve": {}}
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        for label, batch in (("serve_batched", cfg.reranker.max_batch_size), ("serve_batch1", 1)):
            rcfg = cfg.reranker.model_copy(update={"max_batch_size": batch})
            handle = serve.run(
                build_reranker_deployment(rcfg, cfg.milvus), name="micro_rerank", route_prefix=None
            )

            async def rerank_all(handle=handle) -> None:
                calls = [
                    handle.rerank.remote(q, c, 10) for q, c in zip(queries, cands, strict=True)
                ]
                await asyncio.gather(*calls)

            asyncio.run(rerank_all())  # warm-up: model load, first batch
            wall = _best_of(repeats, lambda rerank_all=rerank_all: asyncio.run(rerank_all()))
            out["rerank"][f"{label}_passages_per_s"] = round(n_passages / wall, 1)
            serve.delete("micro_rerank")

        # Query embedding batches inside the retriever's retrieve(): embed + search.
        for label, batch in (("serve_batched", cfg.retriever.max_batch_size), ("serve_batch1", 1)):
            rt = cfg.retriever.model_copy(update={"max_batch_size": batch})
            rt.embedder.query_cache.max_entries = 0  # every call embeds
            handle = serve.run(
                build_retriever_deployment(rt, cfg.milvus),
                name="micro_retrieve",
                route_prefix=None,
            )

            async def retrieve_all(handle=handle) -> None:
                await asyncio.gather(*(handle.retrieve.remote([q], limit=10) for q in queries))

            asyncio.run(retrieve_all())
            wall = _best_of(repeats, lambda retrieve_all=retrieve_all: asyncio.run(retrieve_all()))
            out["retrieve"][f"{label}_queries_per_s"] = round(len(queries) / wall, 1)
            serve.delete("micro_retrieve")
    finally:
        serve.shutdown()
        ray.shutdown()
    return out


def combine(local: dict, served: dict) -> dict:
    """One micro-benchmark report from both halves, with the ratios the report quotes."""
    rerank = {**local["rerank"], **served["rerank"]}
    base = rerank["unbatched_passages_per_s"]
    embed = local["embed"]
    return {
        "workload": {"queries": N_QUERIES, "passages_per_query": N_PASSAGES},
        "rerank": rerank,
        "embed": embed,
        "retrieve": served["retrieve"],
        "search_ms_per_query": local.get("search", {}),
        "ratios": {
            # What dynamic batching buys: the same deployment, same transport, batch 1 vs N.
            "rerank_batching_ratio": ratio(
                rerank["serve_batched_passages_per_s"], rerank["serve_batch1_passages_per_s"]
            ),
            "rerank_serve_batched_vs_in_process_ratio": ratio(
                rerank["serve_batched_passages_per_s"], base
            ),
            "rerank_padded_ratio": ratio(rerank["padded_passages_per_s"], base),
            "embed_padded_ratio": ratio(
                embed["padded_queries_per_s"], embed["unbatched_queries_per_s"]
            ),
            "retrieve_batching_ratio": ratio(
                served["retrieve"]["serve_batched_queries_per_s"],
                served["retrieve"]["serve_batch1_queries_per_s"],
            ),
        },
    }


def main(argv: list[str] | None = None) -> int:
    """``local SPEC OUT`` (in process; also writes OUT's workload beside it as .pkl), then
    ``serve SPEC OUT.pkl OUT2`` (under Ray Serve, from a fresh process whose torch threads
    and Ray are its own)."""
    args = argv if argv is not None else sys.argv[1:]
    if (
        not args
        or args[0] not in ("local", "serve")
        or len(args) != (3 if args[0] == "local" else 4)
    ):
        print(
            "usage: python -m loadtests.micro local SPEC.json OUT.json\n"
            "       python -m loadtests.micro serve SPEC.json WORKLOAD.pkl OUT.json",
            file=sys.stderr,
        )
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    spec = BenchSpec.model_validate_json(Path(args[1]).read_text())
    out = Path(args[-1])
    if args[0] == "local":
        stages = build_stages(spec.app_config(), uri=spec.milvus_uri, collection=spec.collection)
        try:
            queries, cands = workload(stages, spec)
            result = in_process(stages, queries, cands, repeats=3)
            result["search"] = search_profile(stages, queries, repeats=3)
        finally:
            stages.store.close()
        out.with_suffix(".pkl").write_bytes(pickle.dumps((queries, cands)))
    else:
        queries, cands = pickle.loads(Path(args[2]).read_bytes())
        result = under_serve(spec, queries, cands, repeats=3)
    out.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
