"""The Supervisor class over in-process fake stages (no Ray): answer cache and search."""

from __future__ import annotations

import asyncio

import pytest

from deployments.errors import ConfigError
from deployments.supervisor.deployment import Supervisor
from deployments.types import Candidate, Generation, Hit, Reranked, Rewrite


class Stage:
    """An in-process stage: each keyword becomes an async method that counts its calls
    (keyword arguments reach ``fn`` too, and are recorded in ``kwargs``)."""

    def __init__(self, **methods) -> None:
        self.calls: dict[str, int] = {}
        self.kwargs: dict[str, list[dict]] = {}
        for name, fn in methods.items():
            setattr(self, name, self._method(name, fn))

    def _method(self, name, fn):
        async def call(*args, **kwargs):
            self.calls[name] = self.calls.get(name, 0) + 1
            self.kwargs.setdefault(name, []).append(kwargs)
            return fn(*args, **kwargs)

        return call


def _hit(cid: str) -> Hit:
    return Hit(cid, cid.split("#")[0], "", f"text {cid}", 1.0, {"hybrid": 1.0})


def _rerank(q: str, cands: list[Candidate], k: int) -> list[Reranked]:
    return [Reranked(c.chunk_id, c.score, 5.0) for c in cands][:k]


def _retrieve(qs: list[str], limit: int | None = None, where: str | None = None) -> list:
    return [[_hit("a#0000"), _hit("b#0000")] for _ in qs]


def _supervisor(*, generator: bool = True, **config):
    stages = {
        "rewriter": Stage(rewrite=lambda q: Rewrite(original=q, query=q, route="simple")),
        "retriever": Stage(retrieve=_retrieve),
        "reranker": Stage(rerank=_rerank),
        "generator": Stage(
            generate=lambda q, hits: Generation(f"answer to {q}", generator="extractive")
        )
        if generator
        else None,
    }
    return Supervisor.func_or_class(config, {}, "extractive", **stages), stages


def test_a_repeated_query_is_answered_from_the_cache() -> None:
    sup, stages = _supervisor()
    first = asyncio.run(sup.answer("what is x?", 2))
    again = asyncio.run(sup.answer("what is x?", 2))
    other_k = asyncio.run(sup.answer("what is x?", 1))
    assert not first.cached and again.cached and not other_k.cached
    assert again.answer == first.answer and again.citations == first.citations
    assert first.stages == ("rewrite", "retrieve", "rerank", "generate")
    assert set(again.timings_ms) == {"total"}
    assert stages["generator"].calls["generate"] == 2  # (query, 2) and (query, 1)
    stats = sup.answers.stats()
    assert (stats.hits, stats.misses) == (1, 2)


def test_the_filter_reaches_the_retriever_and_keys_the_answer_cache() -> None:
    sup, stages = _supervisor()
    where = 'metadata["lang"] == "en"'
    first = asyncio.run(sup.answer("q", 2, where=where))
    unfiltered = asyncio.run(sup.answer("q", 2))
    again = asyncio.run(sup.answer("q", 2, where=where))
    assert not first.cached and not unfiltered.cached and again.cached
    assert [k.get("where") for k in stages["retriever"].kwargs["retrieve"]] == [where, None]
    asyncio.run(sup.search("q", 2, where=where))
    assert stages["retriever"].kwargs["retrieve"][-1].get("where") == where


def test_answer_cache_can_be_turned_off() -> None:
    sup, stages = _supervisor(answer_cache={"max_entries": 0})
    asyncio.run(sup.answer("q", 2))
    assert not asyncio.run(sup.answer("q", 2)).cached
    assert stages["generator"].calls["generate"] == 2


def test_search_runs_the_retrieval_half_without_the_generator() -> None:
    sup, stages = _supervisor()
    result = asyncio.run(sup.search("q", 1))
    assert [h.chunk_id for h in result.hits] == ["a#0000"]
    assert result.hits[0].scores == {"hybrid": 1.0, "maxsim": 5.0, "rerank": 1.0}
    assert result.stages == ("rewrite", "retrieve", "rerank")
    assert {"rewrite", "retrieve", "rerank", "total"} <= set(result.timings_ms)
    assert "generate" not in stages["generator"].calls


def test_without_a_generator_only_search_is_served() -> None:
    sup, _ = _supervisor(generator=False)
    assert asyncio.run(sup.search("q", 2)).hits
    with pytest.raises(ConfigError, match="without a generator"):
        asyncio.run(sup.answer("q", 2))


def test_rerank_off_keeps_the_first_stage_order() -> None:
    sup, stages = _supervisor(rerank=False)
    result = asyncio.run(sup.search("q", 2))
    assert [h.chunk_id for h in result.hits] == ["a#0000", "b#0000"]
    assert "rerank" not in stages["reranker"].calls
