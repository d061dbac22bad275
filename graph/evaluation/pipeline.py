"""The graph's own stage classes in one process, for evaluation and benchmarks.

The Retriever, Reranker, Ingester, QueryRewriter and Supervisor are the deployment
classes themselves, constructed without Ray (their models and store passed in, shared
between them); outside a Serve replica their batching runs one call at a time through
the same code. So what the harness measures is the code path the graph serves:
``Supervisor.search`` is what ``POST /v1/search`` runs, ``Ingester.ingest`` what
``POST /v1/documents`` runs.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from tqdm import tqdm

from deployments.common.encoders.embedder import Embedder
from deployments.common.encoders.passages import load_passage_encoder
from deployments.common.encoders.tokens import TokenEncoder, token_encoder_from
from deployments.common.store.lite import LiteServer, free_port
from deployments.common.store.milvus import MilvusStore
from deployments.generator.deployment import ExtractiveGenerator
from deployments.ingester.deployment import Ingester
from deployments.reranker.deployment import Reranker
from deployments.retriever.deployment import Retriever
from deployments.rewriter.deployment import QueryRewriter
from deployments.supervisor.deployment import Supervisor
from deployments.types import Document, Hit, Rewrite, SearchMode
from graph.config import AppConfig

Mode = Literal["dense", "bm25", "hybrid", "hybrid+rerank", "full", "agents"]
MODES: tuple[Mode, ...] = ("dense", "bm25", "hybrid", "hybrid+rerank", "full", "agents")
DEPTH = 100  # documents per query kept for Recall@100


@contextmanager
def milvus_at(uri: str | None, data_dir: Path) -> Iterator[str]:
    """``uri`` when given; else a ``milvus-lite server`` on ``data_dir`` for the block."""
    if uri is not None:
        yield uri
        return
    with LiteServer(data_dir, port=free_port(), start_timeout_s=120) as server:
        yield server.uri


@dataclass
class Stages:
    """The stage objects, in process, over one store."""

    cfg: AppConfig
    store: MilvusStore
    embedder: Embedder
    encoder: TokenEncoder
    rewriter: QueryRewriter
    reranker: Reranker
    ingester: Ingester
    _retrievers: dict[SearchMode, Retriever] = field(default_factory=dict)

    def retriever(self, mode: SearchMode | None = None) -> Retriever:
        """The Retriever in ``mode`` (default: the configured one), candidates >= DEPTH."""
        mode = mode or self.cfg.retriever.mode
        if mode not in self._retrievers:
            rcfg = self.cfg.retriever.model_copy(
                update={"mode": mode, "candidates": max(self.cfg.retriever.candidates, DEPTH)}
            )
            self._retrievers[mode] = Retriever.func_or_class(
                rcfg, self.store.cfg, embedder=self.embedder, store=self.store
            )
        return self._retrievers[mode]

    def supervisor(self, *, rewrite: bool = True, answers: bool = False) -> Supervisor:
        """The Supervisor over these stages; ``rewrite`` False searches with the query as
        given (no rewriting, no sub-questions); ``answers`` adds the extractive generator
        (``answer``), else it serves ``search`` only."""
        return Supervisor.func_or_class(
            self.cfg.supervisor,
            self.cfg.generator,
            "extractive",
            rewriter=self.rewriter if rewrite else _Verbatim(),
            retriever=self.retriever(),
            reranker=self.reranker,
            generator=ExtractiveGenerator.func_or_class() if answers else None,
        )


def build_stages(cfg: AppConfig, *, uri: str, collection: str) -> Stages:
    """Load each model once and build every stage over the Milvus at ``uri``."""
    milvus = cfg.milvus.model_copy(update={"uri": uri, "collection": collection, "lite": None})
    embedder = Embedder(cfg.retriever.embedder)
    encoder = token_encoder_from(cfg.reranker)
    passages = load_passage_encoder(
        cfg.retriever.embedder, cfg.reranker, token_encoder=encoder, dense=embedder
    )
    store = MilvusStore(milvus, dim=embedder.dim)
    return Stages(
        cfg=cfg,
        store=store,
        embedder=embedder,
        encoder=encoder,
        rewriter=QueryRewriter.func_or_class(cfg.rewriter),
        reranker=Reranker.func_or_class(cfg.reranker, milvus, encoder=encoder, store=store),
        ingester=Ingester.func_or_class(
            cfg.ingester,
            milvus,
            cfg.retriever.embedder,
            cfg.reranker,
            encoder=passages,
            store=store,
            # The harness ingests through ``ingest`` directly; a job runner would keep
            # polling the store after the run closes it.
            run_jobs=False,
        ),
    )


async def ingest(stages: Stages, docs: Sequence[Document], *, batch: int = 128) -> dict[str, int]:
    """``Ingester.ingest``, as ``POST /v1/documents`` runs it; stored documents are skipped."""
    totals = {"stored": 0, "skipped": 0, "chunks": 0}
    with tqdm(total=len(docs), unit="doc", desc="ingesting") as bar:
        for start in range(0, len(docs), batch):
            part = list(docs[start : start + batch])
            result = await stages.ingester.ingest(part)
            totals["stored"] += result.stored
            totals["skipped"] += result.skipped
            totals["chunks"] += result.chunks
            bar.update(len(part))
    return totals


class _Verbatim:
    """No rewriting: the hybrid+rerank mode searches with the query as given."""

    async def rewrite(self, query: str) -> Rewrite:
        return Rewrite(original=query, query=query, route="simple")


def mode_runner(
    stages: Stages, mode: Mode, traces: dict[str, dict] | None = None
) -> Callable[[str], Awaitable[list[Hit]]]:
    """A coroutine function answering one query in ``mode``: up to DEPTH hits, best first.
    In ``agents`` mode each query's trace goes to ``traces`` (by query text)."""
    if mode in ("dense", "bm25", "hybrid"):
        retriever = stages.retriever(mode)

        async def first_stage(query: str) -> list[Hit]:
            (hits,) = await retriever.retrieve([query], limit=DEPTH)
            return hits

        return first_stage
    supervisor = stages.supervisor(rewrite=mode != "hybrid+rerank")
    agents = mode == "agents"

    async def searched(query: str) -> list[Hit]:
        found = await supervisor.search(query, DEPTH, agents=agents)
        if traces is not None and found.trace is not None:
            traces[query] = found.trace
        return found.hits

    return searched


def run_mode(
    stages: Stages,
    mode: Mode,
    queries: dict[str, str],
    traces: dict[str, dict] | None = None,
) -> tuple[dict[str, list[Hit]], list[float]]:
    """Hits per query id and per-query latency (ms) for one mode (agents' traces by query
    text into ``traces``)."""

    async def run() -> tuple[dict[str, list[Hit]], list[float]]:
        answer = mode_runner(stages, mode, traces)
        await answer(next(iter(queries.values())))  # warm-up: first-call costs
        hits: dict[str, list[Hit]] = {}
        latencies: list[float] = []
        for qid, text in tqdm(queries.items(), desc=mode, unit="q", leave=False):
            t = time.perf_counter()
            hits[qid] = await answer(text)
            latencies.append((time.perf_counter() - t) * 1000.0)
        return hits, latencies

    return asyncio.run(run())
