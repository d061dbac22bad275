"""The RAG agent as a LangGraph ``StateGraph``: rewrite -> retrieve -> rerank -> generate.

Simple queries retrieve once; complex and comparative queries retrieve once per
sub-question, merge the lists with RRF, then rerank against the whole query.
The factory takes clients (deployment handles in Serve, fakes in unit tests) and
returns the graph uncompiled.
"""

from __future__ import annotations

import operator
import time
from collections.abc import Sequence
from typing import Annotated, Literal, Protocol, TypedDict

from langgraph.graph import END, START, StateGraph

from deployments.retriever.fusion import rrf_fuse
from deployments.types import Generation, Hit, Rewrite


class RewriterClient(Protocol):
    async def rewrite(self, query: str) -> Rewrite: ...


class RetrieverClient(Protocol):
    async def retrieve(
        self, queries: list[str], tokens_for: int | None = None
    ) -> list[list[Hit]]: ...


class RerankerClient(Protocol):
    async def rerank(self, query: str, hits: list[Hit], top_k: int) -> list[Hit]: ...


class GeneratorClient(Protocol):
    async def generate(self, query: str, hits: Sequence[Hit]) -> Generation: ...


def _merge(left: dict[str, float], right: dict[str, float]) -> dict[str, float]:
    return {**left, **right}


class RagState(TypedDict, total=False):
    """State carried between the graph's nodes."""

    query: str
    top_k: int
    rewrite: Rewrite
    candidates: list[Hit]
    hits: list[Hit]
    generation: Generation
    timings_ms: Annotated[dict[str, float], _merge]
    stages: Annotated[list[str], operator.add]


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000.0, 3)


def create_rag_graph(
    *,
    rewriter: RewriterClient,
    retriever: RetrieverClient,
    reranker: RerankerClient | None,
    generator: GeneratorClient | None,
    fusion_k: int = 60,
    rerank_depth: int | None = None,
) -> StateGraph:
    """Build the supervisor graph over the given stage clients.

    Args:
        rewriter: Normalises, expands and classifies the query.
        retriever: First-stage search; one hit list per query.
        reranker: Late-interaction reranker; None keeps the first-stage order.
        generator: Writes the answer from the reranked passages; None ends the graph
            after reranking (retrieval only, as the evaluation harness runs it).
        fusion_k: RRF constant used to merge sub-question hit lists.
        rerank_depth: Rerank only the first this many candidates (None: all); when
            ``top_k`` asks for more, the first-stage order fills the rest.

    Returns:
        An uncompiled ``StateGraph`` over :class:`RagState`.
    """
    # Token vectors are fetched for what the reranker scores, and not at all without one.
    tokens_for = 0 if reranker is None else rerank_depth

    async def rewrite(state: RagState) -> dict:
        t = time.perf_counter()
        result = await rewriter.rewrite(state["query"])
        return {"rewrite": result, "timings_ms": {"rewrite": _ms(t)}, "stages": ["rewrite"]}

    def route(state: RagState) -> Literal["retrieve", "retrieve_each"]:
        return "retrieve_each" if state["rewrite"].fans_out else "retrieve"

    async def retrieve(state: RagState) -> dict:
        t = time.perf_counter()
        (hits,) = await retriever.retrieve([state["rewrite"].query], tokens_for)
        return {"candidates": hits, "timings_ms": {"retrieve": _ms(t)}, "stages": ["retrieve"]}

    async def retrieve_each(state: RagState) -> dict:
        t = time.perf_counter()
        lists = await retriever.retrieve(list(state["rewrite"].search_queries), tokens_for)
        depth = max(len(hits) for hits in lists) if lists else 0
        merged = rrf_fuse(lists, k=fusion_k, limit=depth)
        return {
            "candidates": merged,
            "timings_ms": {"retrieve": _ms(t)},
            "stages": ["retrieve_each"],
        }

    async def rerank(state: RagState) -> dict:
        t = time.perf_counter()
        candidates, top_k = state["candidates"], state["top_k"]
        if reranker is None or not candidates:
            hits = candidates[:top_k]
        else:
            # The head: the first rerank_depth candidates that came with token vectors
            # (after sub-question fusion a few may not have); the rest keep their order.
            depth = rerank_depth or len(candidates)
            head = [h for h in candidates if h.token_blob is not None][:depth]
            head = head or candidates[:depth]  # none has vectors: the reranker says why
            in_head = {h.chunk_id for h in head}
            tail = [h.without_tokens() for h in candidates if h.chunk_id not in in_head]
            reranked = await reranker.rerank(state["rewrite"].query, head, min(top_k, len(head)))
            hits = (reranked + tail)[:top_k]
        return {"hits": hits, "timings_ms": {"rerank": _ms(t)}, "stages": ["rerank"]}

    graph = StateGraph(RagState)
    graph.add_node("rewrite", rewrite)
    graph.add_node("retrieve", retrieve)
    graph.add_node("retrieve_each", retrieve_each)
    graph.add_node("rerank", rerank)
    graph.add_edge(START, "rewrite")
    graph.add_conditional_edges("rewrite", route, ["retrieve", "retrieve_each"])
    graph.add_edge("retrieve", "rerank")
    graph.add_edge("retrieve_each", "rerank")
    if generator is None:
        graph.add_edge("rerank", END)
    else:

        async def generate(state: RagState) -> dict:
            t = time.perf_counter()
            generation = await generator.generate(state["query"], state["hits"])
            return {
                "generation": generation,
                "timings_ms": {"generate": _ms(t)},
                "stages": ["generate"],
            }

        graph.add_node("generate", generate)
        graph.add_edge("rerank", "generate")
        graph.add_edge("generate", END)
    return graph
