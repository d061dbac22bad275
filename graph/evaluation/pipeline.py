"""The deployments' own code run in one process, for evaluation: same chunker, embedder,
Milvus store, reranker, rewriter and LangGraph supervisor as the Serve graph."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from tqdm import tqdm

from deployments.devices import resolve_device
from deployments.reranker import core as rerank_core
from deployments.reranker.encoder import TokenEncoder, load_token_encoder
from deployments.retriever.chunking import Chunker
from deployments.retriever.config import SearchMode
from deployments.retriever.core import ingest_documents, search
from deployments.retriever.embedder import Embedder
from deployments.retriever.store import MilvusStore
from deployments.rewriter.core import rewrite
from deployments.supervisor.graph import create_rag_graph
from deployments.types import Document, Hit, Rewrite
from graph.config import AppConfig

Mode = Literal["dense", "bm25", "hybrid", "hybrid+rerank", "full"]
MODES: tuple[Mode, ...] = ("dense", "bm25", "hybrid", "hybrid+rerank", "full")
DEPTH = 100  # documents per query kept for Recall@100


@dataclass
class Stages:
    """In-process instances of the retrieval stages."""

    cfg: AppConfig
    embedder: Embedder
    encoder: TokenEncoder
    store: MilvusStore
    chunker: Chunker

    def first_stage(
        self,
        queries: list[str],
        *,
        mode: SearchMode,
        limit: int,
        with_tokens: bool = False,
        tokens_for: int | None = None,
    ) -> list[list[Hit]]:
        """The retriever deployment's own search, with this config's RRF constant."""
        return search(
            queries,
            embedder=self.embedder,
            store=self.store,
            mode=mode,
            limit=limit,
            rrf_k=self.cfg.retriever.rrf_k,
            with_tokens=with_tokens,
            tokens_for=tokens_for,
        )


def build_stages(cfg: AppConfig, *, uri: str, collection: str) -> Stages:
    embedder = Embedder(cfg.retriever.embedder)
    rr = cfg.reranker
    encoder = load_token_encoder(
        rr.model,
        query_maxlen=rr.query_maxlen,
        doc_maxlen=rr.doc_maxlen,
        device=resolve_device(rr.device),
        num_threads=rr.num_threads,
    )
    milvus = cfg.retriever.milvus.model_copy(update={"uri": uri, "collection": collection})
    store = MilvusStore(milvus, dim=embedder.dim, uri=uri)
    chunking = cfg.retriever.chunking
    chunker = Chunker(
        chunk_size=chunking.chunk_size,
        chunk_overlap=chunking.chunk_overlap,
        tokenize=embedder.tokenize,
    )
    return Stages(cfg, embedder, encoder, store, chunker)


async def ingest(stages: Stages, docs: Sequence[Document], *, batch: int = 128) -> dict[str, int]:
    """Ingest through the retriever's own path; already stored documents are skipped."""

    async def encode_passages(texts: list[str]) -> list[str]:
        return await asyncio.to_thread(rerank_core.passage_blobs, stages.encoder, texts)

    totals = {"stored": 0, "skipped": 0, "chunks": 0}
    with tqdm(total=len(docs), unit="doc", desc="ingesting") as bar:
        for start in range(0, len(docs), batch):
            part = docs[start : start + batch]
            result = await ingest_documents(
                part,
                chunker=stages.chunker,
                embedder=stages.embedder,
                store=stages.store,
                encode_passages=encode_passages,
            )
            totals["stored"] += result.stored
            totals["skipped"] += result.skipped
            totals["chunks"] += result.chunks
            bar.update(len(part))
    return totals


class _Rewriter:
    def __init__(self, stages: Stages) -> None:
        self._cfg = stages.cfg.rewriter

    async def rewrite(self, query: str) -> Rewrite:
        return rewrite(query, self._cfg)


class _Retriever:
    def __init__(self, stages: Stages, *, limit: int) -> None:
        self._s, self._limit = stages, limit

    async def retrieve(self, queries: list[str], tokens_for: int | None = None) -> list[list[Hit]]:
        return self._s.first_stage(
            queries,
            mode=self._s.cfg.retriever.mode,
            limit=self._limit,
            with_tokens=True,
            tokens_for=tokens_for,
        )


class _Reranker:
    def __init__(self, stages: Stages) -> None:
        self._encoder = stages.encoder
        self._cfg = stages.cfg.reranker

    async def rerank(self, query: str, hits: list[Hit], top_k: int) -> list[Hit]:
        (vecs,) = self._encoder.encode_queries([query])
        return rerank_core.rerank(
            vecs,
            hits,
            top_k,
            first_stage_weight=self._cfg.first_stage_weight,
            fusion_k=self._cfg.fusion_k,
        )


def mode_runner(stages: Stages, mode: Mode) -> Callable[[str], list[Hit]]:
    """A function answering one query in ``mode`` with up to DEPTH hits, best first."""
    if mode in ("dense", "bm25", "hybrid"):

        def first_stage(query: str) -> list[Hit]:
            return stages.first_stage([query], mode=mode, limit=DEPTH)[0]

        return first_stage

    rewriter = _Rewriter(stages) if mode == "full" else _Verbatim()
    agent = create_rag_graph(
        rewriter=rewriter,
        retriever=_Retriever(stages, limit=DEPTH),
        reranker=_Reranker(stages),
        generator=None,
        fusion_k=stages.cfg.supervisor.fusion_k,
        rerank_depth=stages.cfg.supervisor.rerank_depth,
    ).compile()

    def through_graph(query: str) -> list[Hit]:
        state = asyncio.run(agent.ainvoke({"query": query, "top_k": DEPTH, "timings_ms": {}}))
        return state["hits"]

    return through_graph


class _Verbatim:
    """No rewriting: the hybrid+rerank mode searches with the query as given."""

    async def rewrite(self, query: str) -> Rewrite:
        return Rewrite(original=query, query=query, route="simple")


def run_mode(
    stages: Stages, mode: Mode, queries: dict[str, str]
) -> tuple[dict[str, list[Hit]], list[float]]:
    """Hits per query id and per-query latency (ms) for one mode."""
    answer = mode_runner(stages, mode)
    answer(next(iter(queries.values())))  # warm-up: first-call costs are not a query's
    hits: dict[str, list[Hit]] = {}
    latencies: list[float] = []
    for qid, text in tqdm(queries.items(), desc=mode, unit="q", leave=False):
        t = time.perf_counter()
        hits[qid] = answer(text)
        latencies.append((time.perf_counter() - t) * 1000.0)
    return hits, latencies
