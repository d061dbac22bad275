"""The Supervisor class over fake stage handles (no Ray): answer cache and search."""

from __future__ import annotations

import asyncio

from deployments.supervisor.deployment import Supervisor
from deployments.types import Generation, Hit, Rewrite


class _Method:
    def __init__(self, fn) -> None:
        self.fn = fn
        self.calls = 0

    def remote(self, *args):
        self.calls += 1

        async def run():
            return self.fn(*args)

        return run()


class Handle:
    """A stand-in for a DeploymentHandle: ``handle.method.remote(*args)`` is awaitable."""

    def __init__(self, **methods) -> None:
        for name, fn in methods.items():
            setattr(self, name, _Method(fn))


def _hit(cid: str) -> Hit:
    return Hit(cid, cid.split("#")[0], "", f"text {cid}", 1.0, "blob")


def _supervisor(**config):
    handles = {
        "rewriter": Handle(rewrite=lambda q: Rewrite(original=q, query=q, route="simple")),
        "retriever": Handle(
            retrieve=lambda qs, tokens_for: [[_hit("a#0000"), _hit("b#0000")] for _ in qs]
        ),
        "reranker": Handle(rerank=lambda q, hits, k: [h.without_tokens() for h in hits][:k]),
        "generator": Handle(
            generate=lambda q, hits: Generation(f"answer to {q}", generator="extractive")
        ),
    }
    cls = Supervisor.func_or_class
    return cls(config, {}, "extractive", **handles), handles


def test_a_repeated_query_is_answered_from_the_cache() -> None:
    sup, handles = _supervisor()
    first = asyncio.run(sup.answer("what is x?", 2))
    again = asyncio.run(sup.answer("what is x?", 2))
    other_k = asyncio.run(sup.answer("what is x?", 1))
    assert not first.cached and again.cached and not other_k.cached
    assert again.answer == first.answer and again.citations == first.citations
    assert set(again.timings_ms) == {"total"}
    assert handles["generator"].generate.calls == 2  # (query, 2) and (query, 1)
    stats = sup.answers.stats()
    assert (stats.hits, stats.misses) == (1, 2)


def test_answer_cache_can_be_turned_off() -> None:
    sup, handles = _supervisor(answer_cache={"max_entries": 0})
    asyncio.run(sup.answer("q", 2))
    assert not asyncio.run(sup.answer("q", 2)).cached
    assert handles["generator"].generate.calls == 2


def test_search_runs_the_retrieval_half_without_the_generator() -> None:
    sup, handles = _supervisor()
    result = asyncio.run(sup.search("q", 1))
    assert [h.chunk_id for h in result.hits] == ["a#0000"]
    assert result.hits[0].token_blob is None
    assert {"rewrite", "retrieve", "rerank", "total"} <= set(result.timings_ms)
    assert "generate" not in result.timings_ms
    assert handles["generator"].generate.calls == 0
