"""The RAG agent as a LangGraph ``StateGraph``: rewrite -> retrieve -> rerank -> generate.

Simple queries retrieve once; complex and comparative queries retrieve once per
sub-question, merge the lists with RRF, then rerank against the whole query. In a
conversation (``history``) the rewriter first makes the last message a standalone question.
With ``stream`` set, the generate node writes the answer's pieces (:class:`Delta`) to
LangGraph's custom stream as they arrive (``graph.astream(..., stream_mode="custom")``).
The factory takes clients (deployment handles in Serve, fakes in unit tests) and
returns the graph uncompiled.
"""

from __future__ import annotations

import operator
import time
from collections.abc import AsyncIterator, Sequence
from typing import Annotated, Literal, Protocol, TypedDict

from langgraph.config import get_stream_writer
from langgraph.graph import END, START, StateGraph

from deployments.common.extractive import extractive_sentences
from deployments.common.fusion import rrf_fuse
from deployments.common.ids import keep_latest_versions
from deployments.supervisor.agents.tools import apply_verdicts
from deployments.types import (
    DEFAULT_SAMPLING,
    FULL_PLAN,
    Candidate,
    Delta,
    Generation,
    Hit,
    Plan,
    Reranked,
    Rewrite,
    Sampling,
    Turn,
)


class RewriterClient(Protocol):
    async def rewrite(self, query: str, history: Sequence[Turn] = ()) -> Rewrite: ...


class RetrieverClient(Protocol):
    async def retrieve(
        self, queries: list[str], limit: int | None = None, where: str | None = None
    ) -> list[list[Hit]]: ...


class RerankerClient(Protocol):
    async def rerank(
        self, query: str, candidates: list[Candidate], top_k: int
    ) -> list[Reranked]: ...


class GeneratorClient(Protocol):
    async def generate(
        self, query: str, hits: Sequence[Hit], sampling: Sampling = DEFAULT_SAMPLING
    ) -> Generation: ...

    def stream(
        self, query: str, hits: Sequence[Hit], sampling: Sampling = DEFAULT_SAMPLING
    ) -> AsyncIterator[Delta | Generation]: ...


def _ids(hit: Hit) -> tuple[str, str]:
    return hit.chunk_id, hit.doc_id


def _merge(left: dict[str, float], right: dict[str, float]) -> dict[str, float]:
    return {**left, **right}


class RagState(TypedDict, total=False):
    """State carried between the graph's nodes."""

    query: str
    top_k: int
    plan: Plan
    history: tuple[Turn, ...]  # earlier turns of a conversation, oldest first
    sampling: Sampling
    stream: bool  # write the answer's pieces to the custom stream
    where: str | None  # only chunks matching this metadata filter expression
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

    async def rewrite(state: RagState) -> dict:
        t = time.perf_counter()
        history = state.get("history") or ()
        result = await (
            rewriter.rewrite(state["query"], history)
            if history
            else rewriter.rewrite(state["query"])
        )
        return {"rewrite": result, "timings_ms": {"rewrite": _ms(t)}, "stages": ["rewrite"]}

    def route(state: RagState) -> Literal["retrieve", "retrieve_each"]:
        return "retrieve_each" if state["rewrite"].fans_out else "retrieve"

    async def retrieve(state: RagState) -> dict:
        t = time.perf_counter()
        (hits,) = await retriever.retrieve([state["rewrite"].query], where=state.get("where"))
        return {"candidates": hits, "timings_ms": {"retrieve": _ms(t)}, "stages": ["retrieve"]}

    async def retrieve_each(state: RagState) -> dict:
        t = time.perf_counter()
        queries = list(state["rewrite"].search_queries)
        lists = await retriever.retrieve(queries, where=state.get("where"))
        depth = max(len(hits) for hits in lists) if lists else 0
        # sub-queries may each see another version of a document being replaced
        merged = keep_latest_versions(rrf_fuse(lists, k=fusion_k, limit=depth), key=_ids)
        return {
            "candidates": merged,
            "timings_ms": {"retrieve": _ms(t)},
            "stages": ["retrieve_each"],
        }

    async def rerank(state: RagState) -> dict:
        t = time.perf_counter()
        candidates, top_k = state["candidates"], state["top_k"]
        plan = state.get("plan", FULL_PLAN)
        if reranker is None or not plan.rerank or not candidates:
            hits = candidates[:top_k]
        else:
            # The reranker gets ids and scores of the first rerank_depth candidates and
            # fetches their token vectors itself; the rest keep first-stage order.
            depth = plan.rerank_depth or rerank_depth or len(candidates)
            head = candidates[:depth]
            verdicts = await reranker.rerank(
                state["rewrite"].query,
                [Candidate(h.chunk_id, h.score) for h in head],
                min(top_k, len(head)),
            )
            hits = apply_verdicts(candidates, verdicts)[:top_k]
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
            question, hits = state["rewrite"].original, state["hits"]
            sampling = state.get("sampling", DEFAULT_SAMPLING)
            write = get_stream_writer() if state.get("stream") else None
            if state.get("plan", FULL_PLAN).extractive:
                pieces = extractive_sentences(question, hits)
                for piece in pieces if write else ():
                    write(Delta(piece))
                generation = Generation(answer="".join(pieces), generator="extractive")
            elif write is None:
                generation = await generator.generate(question, hits, sampling)
            else:
                async for piece in generator.stream(question, hits, sampling):
                    if isinstance(piece, Delta):
                        write(piece)
                    else:
                        generation = piece
            return {
                "generation": generation,
                "timings_ms": {"generate": _ms(t)},
                "stages": ["generate"],
            }

        graph.add_node("generate", generate)
        graph.add_edge("rerank", "generate")
        graph.add_edge("generate", END)
    return graph
