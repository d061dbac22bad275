"""The supervisor graph driven by plain fake stage clients (no Ray)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from langgraph.graph import StateGraph

from deployments.common.fusion import rrf_fuse
from deployments.supervisor.graph import apply_verdicts, create_rag_graph
from deployments.types import Candidate, Delta, Generation, Hit, Plan, Reranked, Rewrite

TIMING_KEYS = {"rewrite", "retrieve", "rerank", "generate"}


def _hit(cid: str, score: float = 1.0) -> Hit:
    return Hit(cid, cid.split("#")[0], "", f"text {cid}", score, {"hybrid": score})


class FakeRewriter:
    def __init__(self, rewrite: Rewrite) -> None:
        self._rewrite = rewrite
        self.calls: list[str] = []
        self.histories: list[tuple] = []

    async def rewrite(self, query: str, history=()) -> Rewrite:
        self.calls.append(query)
        self.histories.append(tuple(history))
        return self._rewrite


class FakeRetriever:
    """Returns a scripted hit list per query; unknown queries get no hits."""

    def __init__(self, lists: dict[str, list[Hit]]) -> None:
        self._lists = lists
        self.calls: list[list[str]] = []
        self.filters: list[tuple[int | None, str | None]] = []  # (limit, where) per call

    async def retrieve(
        self, queries: list[str], limit: int | None = None, where: str | None = None
    ) -> list[list[Hit]]:
        self.calls.append(list(queries))
        self.filters.append((limit, where))
        return [self._lists.get(q, []) for q in queries]


class FakeReranker:
    """Reverses the candidates, so its effect is visible; MaxSim is 10 x the new rank."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[Candidate], int]] = []

    async def rerank(self, query: str, candidates: list[Candidate], top_k: int) -> list[Reranked]:
        self.calls.append((query, list(candidates), top_k))
        order = list(reversed(candidates))[:top_k]
        return [
            Reranked(c.chunk_id, 1.0 / (i + 1), 10.0 * (len(order) - i))
            for i, c in enumerate(order)
        ]


def _candidates(hits: list[Hit]) -> list[Candidate]:
    return [Candidate(h.chunk_id, h.score) for h in hits]


class FakeGenerator:
    def __init__(self) -> None:
        self.calls: list[tuple[str, list[Hit]]] = []

    async def generate(self, query: str, hits: Sequence[Hit], sampling=None) -> Generation:
        self.calls.append((query, list(hits)))
        return Generation(answer=f"answer from {len(hits)} passages", generator="extractive")

    async def stream(self, query: str, hits: Sequence[Hit], sampling=None):
        self.calls.append((query, list(hits)))
        for word in ("answer ", "from ", f"{len(hits)} passages"):
            yield Delta(word)
        yield Generation(answer=f"answer from {len(hits)} passages", generator="extractive")


def _run(
    rewrite: Rewrite,
    lists: dict[str, list[Hit]],
    *,
    top_k: int = 3,
    reranker: FakeReranker | None = None,
    fusion_k: int = 60,
    where: str | None = None,
):
    rewriter, retriever, generator = FakeRewriter(rewrite), FakeRetriever(lists), FakeGenerator()
    graph = create_rag_graph(
        rewriter=rewriter,
        retriever=retriever,
        reranker=reranker,
        generator=generator,
        fusion_k=fusion_k,
    )
    start = {"query": rewrite.original, "top_k": top_k, "where": where}
    state = asyncio.run(graph.compile().ainvoke(start))
    return state, rewriter, retriever, generator


def test_factory_returns_an_uncompiled_graph() -> None:
    graph = create_rag_graph(
        rewriter=FakeRewriter(Rewrite("q", "q", "simple")),
        retriever=FakeRetriever({}),
        reranker=None,
        generator=FakeGenerator(),
    )
    assert isinstance(graph, StateGraph)
    assert set(graph.nodes) == {"rewrite", "retrieve", "retrieve_each", "rerank", "generate"}


def test_simple_route_retrieves_once_with_the_rewritten_query() -> None:
    rewrite = Rewrite(
        "how does rrf work",
        "How does RRF (reciprocal rank fusion) work?",
        "simple",
        sub_queries=("ignored on the simple route",),
    )
    hits = [_hit(f"d{i}#0000", 1.0 - i / 10) for i in range(5)]
    reranker = FakeReranker()

    state, rewriter, retriever, generator = _run(
        rewrite, {rewrite.query: hits}, top_k=3, reranker=reranker
    )

    assert rewriter.calls == ["how does rrf work"]
    assert retriever.calls == [[rewrite.query]]
    assert state["stages"] == ["rewrite", "retrieve", "rerank", "generate"]
    assert state["candidates"] == hits
    assert reranker.calls == [(rewrite.query, _candidates(hits), 3)]  # ids and scores only
    assert [h.chunk_id for h in state["hits"]] == ["d4#0000", "d3#0000", "d2#0000"]
    top = state["hits"][0]
    assert top.score == 1.0 and top.scores == {"hybrid": 0.6, "maxsim": 30.0, "rerank": 1.0}
    assert top.text == "text d4#0000"  # the supervisor's own copy, never sent to the reranker
    assert generator.calls == [("how does rrf work", state["hits"])]
    assert state["generation"].answer == "answer from 3 passages"
    assert set(state["timings_ms"]) == TIMING_KEYS
    assert all(v >= 0 for v in state["timings_ms"].values())


@pytest.mark.parametrize("route", ["complex", "comparative"])
def test_sub_queries_are_retrieved_in_one_call_and_fused(route: str) -> None:
    rewrite = Rewrite(
        "milvus vs faiss",
        "Milvus versus FAISS",
        route,
        sub_queries=("What is Milvus?", "What is FAISS?", "Milvus versus FAISS"),
    )
    lists = {
        "Milvus versus FAISS": [_hit("cmp#0000"), _hit("milvus#0001")],
        "What is Milvus?": [_hit("milvus#0000"), _hit("milvus#0001"), _hit("cmp#0000")],
        "What is FAISS?": [_hit("faiss#0000"), _hit("cmp#0000")],
    }
    reranker = FakeReranker()

    state, _, retriever, _ = _run(rewrite, lists, top_k=10, reranker=reranker, fusion_k=5)

    assert state["stages"] == ["rewrite", "retrieve_each", "rerank", "generate"]
    assert retriever.calls == [["Milvus versus FAISS", "What is Milvus?", "What is FAISS?"]]
    ordered = [lists[q] for q in retriever.calls[0]]
    expected = rrf_fuse(ordered, k=5, limit=3)  # limited to the longest list
    assert state["candidates"] == expected
    assert [h.chunk_id for h in expected] == ["cmp#0000", "milvus#0001", "milvus#0000"]
    assert reranker.calls[0][0] == "Milvus versus FAISS"  # reranked against the whole query
    assert reranker.calls[0][1] == _candidates(expected)
    assert all("subquery_rrf" in h.scores for h in state["hits"])
    assert set(state["timings_ms"]) == TIMING_KEYS


@pytest.mark.parametrize("sub_queries", [(), ("What is Milvus?", "What is FAISS?")])
def test_the_metadata_filter_reaches_every_retrieval(sub_queries: tuple[str, ...]) -> None:
    rewrite = Rewrite("q", "q", "comparative", sub_queries=sub_queries)
    where = 'metadata["lang"] == "en"'
    _, _, retriever, _ = _run(rewrite, {"q": [_hit("a#0000")]}, where=where)
    assert retriever.filters == [(None, where)]
    _, _, unfiltered, _ = _run(rewrite, {"q": [_hit("a#0000")]})
    assert unfiltered.filters == [(None, None)]


def test_complex_route_without_sub_queries_retrieves_once() -> None:
    rewrite = Rewrite("q", "rewritten q", "complex")
    state, _, retriever, _ = _run(rewrite, {"rewritten q": [_hit("a#0000")]})
    assert state["stages"] == ["rewrite", "retrieve", "rerank", "generate"]
    assert retriever.calls == [["rewritten q"]]


def test_without_reranker_first_stage_order_is_cut_to_top_k() -> None:
    rewrite = Rewrite("q", "q", "simple")
    hits = [_hit(f"d{i}#0000") for i in range(6)]

    state, _, retriever, generator = _run(rewrite, {"q": hits}, top_k=4, reranker=None)

    assert state["hits"] == hits[:4]
    assert generator.calls[0][1] == hits[:4]
    assert state["stages"] == ["rewrite", "retrieve", "rerank", "generate"]
    assert set(state["timings_ms"]) == TIMING_KEYS


def test_no_candidates_skips_the_reranker() -> None:
    reranker = FakeReranker()
    state, _, _, generator = _run(Rewrite("q", "q", "simple"), {}, reranker=reranker)
    assert reranker.calls == []
    assert state["hits"] == []
    assert generator.calls == [("q", [])]
    assert state["generation"].answer == "answer from 0 passages"


def test_rerank_depth_limits_what_is_reranked() -> None:
    rewriter, reranker = FakeRewriter(Rewrite("q", "q", "simple")), FakeReranker()
    retriever = FakeRetriever({"q": [_hit(f"d{i}#0000") for i in range(6)]})
    graph = create_rag_graph(
        rewriter=rewriter,
        retriever=retriever,
        reranker=reranker,
        generator=None,
        rerank_depth=3,
    )
    state = asyncio.run(graph.compile().ainvoke({"query": "q", "top_k": 5}))
    assert [c.chunk_id for c in reranker.calls[0][1]] == ["d0#0000", "d1#0000", "d2#0000"]
    # reranked head (reversed by the fake), then the first-stage order
    assert [h.chunk_id for h in state["hits"]] == [
        "d2#0000",
        "d1#0000",
        "d0#0000",
        "d3#0000",
        "d4#0000",
    ]
    assert "maxsim" in state["hits"][0].scores and "maxsim" not in state["hits"][3].scores


def test_verdicts_for_unknown_ids_are_ignored_and_the_rest_keep_their_order() -> None:
    hits = [_hit("a#0000", 0.3), _hit("b#0000", 0.2), _hit("c#0000", 0.1)]
    out = apply_verdicts(hits, [Reranked("zz#0000", 9.0, 9.0), Reranked("c#0000", 0.8, 5.0)])
    assert [h.chunk_id for h in out] == ["c#0000", "a#0000", "b#0000"]
    assert out[1] == hits[0]


async def _stream(graph, state: dict) -> tuple[list, dict]:
    pieces, final = [], {}
    async for mode, chunk in graph.astream(state, stream_mode=["custom", "values"]):
        if mode == "custom":
            pieces.append(chunk)
        else:
            final = chunk
    return pieces, final


def _streaming_graph(rewrite: Rewrite, hits: list[Hit]):
    rewriter, generator = FakeRewriter(rewrite), FakeGenerator()
    graph = create_rag_graph(
        rewriter=rewriter,
        retriever=FakeRetriever({rewrite.query: hits}),
        reranker=None,
        generator=generator,
    ).compile()
    return graph, rewriter, generator


def test_streaming_writes_the_generators_pieces_then_the_whole_answer() -> None:
    rewrite = Rewrite("what about its side effects?", "metformin side effects", "simple")
    graph, rewriter, generator = _streaming_graph(rewrite, [_hit("d1#0000", 0.9)])
    history = (("user", "What is metformin used for?"), ("assistant", "Diabetes [1]."))
    state = {"query": rewrite.original, "top_k": 3, "history": history, "stream": True}

    pieces, final = asyncio.run(_stream(graph, state))

    assert pieces == [Delta("answer "), Delta("from "), Delta("1 passages")]
    assert final["generation"].answer == "answer from 1 passages"
    assert rewriter.histories == [history]  # the conversation reaches the rewriter
    assert generator.calls[0][0] == rewrite.original  # the (standalone) question is answered


def test_without_stream_nothing_is_written_to_the_custom_stream() -> None:
    rewrite = Rewrite("q", "q", "simple")
    graph, rewriter, _ = _streaming_graph(rewrite, [_hit("d1#0000", 0.9)])
    pieces, final = asyncio.run(_stream(graph, {"query": "q", "top_k": 3}))
    assert pieces == [] and final["generation"].answer == "answer from 1 passages"
    assert rewriter.histories == [()]


def test_the_extractive_plan_streams_sentence_by_sentence() -> None:
    rewrite = Rewrite("Do cats purr where vectors are stored?", "cats vectors", "simple")
    hit = Hit("d1#0000", "d1", "", "Cats purr. Milvus stores vectors.", 0.9)
    graph, _, generator = _streaming_graph(rewrite, [hit])
    light = Plan("light", rerank=False, extractive=True)
    state = {"query": rewrite.original, "top_k": 3, "stream": True, "plan": light}

    pieces, final = asyncio.run(_stream(graph, state))

    assert pieces == [Delta("Cats purr. [1]"), Delta(" Milvus stores vectors. [1]")]
    assert final["generation"].answer == "Cats purr. [1] Milvus stores vectors. [1]"
    assert generator.calls == []  # the LLM is not called under the light plan
