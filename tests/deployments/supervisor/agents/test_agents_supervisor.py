"""The Supervisor deployment class routes to the agent supervisor per request or by default."""

from __future__ import annotations

import asyncio

import pytest

from deployments.errors import InvalidRequestError
from deployments.generator.deployment import ExtractiveGenerator
from deployments.supervisor.deployment import Supervisor
from tests.deployments.supervisor.agents.corpus_fakes import Corpus, Reranker, Rewriter

QUESTION = "The band behind the album Glass Hours played its first concert in what city?"


def supervisor(**config) -> Supervisor:
    return Supervisor.func_or_class(
        config,
        {},
        "extractive",
        rewriter=Rewriter(),
        retriever=Corpus(),
        reranker=Reranker(),
        generator=ExtractiveGenerator.func_or_class(),
    )


def test_agents_answer_when_asked_with_a_trace_and_grounded_citations():
    sup = supervisor()
    answer = asyncio.run(sup.answer(QUESTION, 3, agents=True))
    assert answer.trace["chosen"] == ["multihop"]
    assert answer.trace["validator"]["outcome"] == "kept"
    assert "Austin" in answer.answer
    assert [h.doc_id for h in answer.citations[:2]] == ["Glass Hours", "Velvet Ferns"]
    assert len(answer.citations) == 3
    assert answer.stages == ("rewrite", "plan", "act", "generate", "validate")


def test_the_single_shot_graph_stays_the_default_and_carries_no_trace():
    sup = supervisor()
    answer = asyncio.run(sup.answer(QUESTION, 3))
    assert answer.trace is None
    assert "plan" not in answer.stages


def test_the_config_can_make_agents_the_default_for_search():
    sup = supervisor(agents={"default": True})
    found = asyncio.run(sup.search(QUESTION, 2))
    assert found.trace["chosen"] == ["multihop"]
    assert [h.doc_id for h in found.hits] == ["Glass Hours", "Velvet Ferns"]
    assert asyncio.run(sup.search(QUESTION, 2, agents=False)).trace is None


def test_agents_refuse_a_conversation_with_a_clear_error():
    sup = supervisor()
    with pytest.raises(InvalidRequestError, match="standalone question") as err:
        asyncio.run(sup.answer(QUESTION, 3, history=[("user", "hi")], agents=True))
    assert err.value.param == "agents"
