"""The agent supervisor over a keyword corpus: plans, follows links, compares, validates."""

from __future__ import annotations

import asyncio
import time

import pytest

from deployments.supervisor.agents.config import AgentsConfig, AgentSpec, default_agents
from deployments.supervisor.agents.graph import create_agent_graph
from deployments.types import Plan
from tests.deployments.supervisor.agents.corpus_fakes import Corpus, Extractive, Reranker, Rewriter

BRIDGE = "The band behind the album Glass Hours played its first concert in what city?"
COMPARE = "Was Pepper Keenan or Rob Parissi born first?"


def run(question: str, *, cfg: AgentsConfig | None = None, generator=None, **state):
    corpus = Corpus()
    graph = create_agent_graph(
        cfg=cfg or AgentsConfig(),
        rewriter=Rewriter(),
        retriever=corpus,
        reranker=Reranker(),
        embed=corpus.embed,
        generator=generator,
    ).compile()
    start = {"query": question, "top_k": 3, "deadline": time.monotonic() + 30, **state}
    return asyncio.run(graph.ainvoke(start)), corpus


def test_a_bridge_question_reaches_the_passage_named_by_the_first():
    state, corpus = run(BRIDGE)
    trace = state["trace"]
    assert trace["chosen"] == ["multihop"], trace["agents"]
    top2 = [h.doc_id for h in state["hits"][:2]]
    assert top2 == ["Glass Hours", "Velvet Ferns"]
    second_hop = [h for h in trace["hops"] if h["hop"] == 2]
    assert second_hop[0]["bridges"][0] == "Velvet Ferns"
    assert "Velvet Ferns" in second_hop[0]["found"]
    # the graph agent follows links: its second search is narrowed to linked titles
    assert any(where and "title like" in where for _, where in corpus.calls)


def test_a_comparison_retrieves_each_named_thing():
    state, corpus = run(COMPARE)
    assert state["trace"]["chosen"] == ["comparison"]
    assert {h.doc_id for h in state["hits"][:2]} == {"Pepper Keenan", "Rob Parissi"}
    things = {h.get("thing") for h in state["trace"]["hops"]}
    assert {"Pepper Keenan", "Rob Parissi"} <= things


def test_no_hop_is_started_past_the_deadline():
    cfg = AgentsConfig(min_hop_s=5.0)
    state, _ = run(BRIDGE, cfg=cfg, deadline=time.monotonic() + 1.0)
    assert [h.get("skipped") for h in state["trace"]["hops"] if h["hop"] == 2] == ["deadline"]
    assert state["hits"], "the agent returns its best evidence so far"


def test_an_agent_registered_by_config_is_selected_by_its_description():
    extra = AgentSpec(
        name="overview",
        kind="summary",
        description="Everything about supergroups of famous musicians",
        examples=["Tell me about supergroups"],
    )
    cfg = AgentsConfig(agents=[*default_agents(), extra])
    state, _ = run("Tell me about supergroups of famous musicians", cfg=cfg)
    assert state["trace"]["chosen"][0] == "overview"


def test_the_validator_keeps_supported_sentences_and_drops_the_rest():
    answer = (
        "Velvet Ferns played its first concert in Austin. [2] "
        "The band sold a billion records on the Moon. [1]"
    )
    state, _ = run(BRIDGE, generator=Extractive(answer))
    validator = state["trace"]["validator"]
    assert validator["outcome"] == "trimmed"
    assert [v["supported"] for v in validator["verdicts"]] == [True, False]
    assert "Moon" not in state["generation"].answer
    assert "Austin" in state["generation"].answer


def test_an_answer_with_no_supported_sentence_abstains():
    state, _ = run(BRIDGE, generator=Extractive("Purple elephants sing. [1]"))
    assert state["generation"].answer == AgentsConfig().abstain_text
    assert state["trace"]["validator"]["outcome"] == "abstained"


def test_a_question_about_things_the_documents_never_mention_abstains():
    state, _ = run("Was Zanzibar Quux or Yoyodyne Frobnitz born first?", generator=Extractive())
    assert state["generation"].answer == AgentsConfig().abstain_text
    assert "abstained" in state["trace"]


def test_the_extractive_answer_of_a_bridge_question_is_grounded():
    state, _ = run(BRIDGE, generator=Extractive())
    assert state["trace"]["validator"]["outcome"] == "kept"
    assert "Austin" in state["generation"].answer


def test_a_degraded_plan_still_answers_without_the_reranker():
    state, _ = run(
        BRIDGE, plan=Plan("light", rerank=False, extractive=True), generator=Extractive()
    )
    assert state["generation"].generator == "extractive"


def test_agents_config_refuses_duplicates_and_a_missing_lookup():
    lookup, *others = default_agents()
    with pytest.raises(ValueError, match="unique"):
        AgentsConfig(agents=[lookup, lookup])
    with pytest.raises(ValueError, match="kind 'lookup'"):
        AgentsConfig(agents=others)
    with pytest.raises(ValueError, match="not a regular expression"):
        AgentSpec(name="x", kind="lookup", description="d", patterns=["("])
