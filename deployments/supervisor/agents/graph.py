"""The agent supervisor as a LangGraph ``StateGraph``: plan, act, reflect, answer, validate.

- ``rewrite``: the rewriter normalises the query (as in the single-shot graph);
- ``plan``: the :class:`~deployments.supervisor.agents.select.Selector` scores every
  registered agent by embedding similarity and rules and picks the ones to run;
- ``act``: the chosen agents run concurrently over the stages (:mod:`.kinds`);
- ``reflect``: when the evidence chain is incomplete and no link-following agent ran yet,
  the question is handed to one (within the hop budget and the deadline); otherwise on;
- ``generate``: the generator answers from the evidence, or the supervisor abstains when
  the evidence does not mention what the question names;
- ``validate``: every answer sentence is checked against the passage it cites;
  unsupported ones are dropped, and an answer left empty becomes the abstention.

Without a generator the graph ends after ``reflect`` (retrieval only). The response's
``trace`` records each decision: agents scored and chosen, queries per hop, documents
found per hop, the validator's verdicts.
"""

from __future__ import annotations

import asyncio
import operator
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Annotated, Any, Literal, TypedDict

import numpy as np
from langgraph.graph import END, START, StateGraph

from deployments.common.extractive import extractive_sentences
from deployments.metrics import record_agent_run, record_validation
from deployments.supervisor.agents.config import AgentsConfig, AgentSpec
from deployments.supervisor.agents.kinds import KINDS, Finding, Task
from deployments.supervisor.agents.select import Choice, Selector, agent_texts
from deployments.supervisor.agents.tools import Reranks, Retrieves, Tools
from deployments.supervisor.agents.validate import aboutness, coverage, judge, kept_answer
from deployments.types import (
    DEFAULT_SAMPLING,
    FULL_PLAN,
    Generation,
    Hit,
    Plan,
    Rewrite,
    Sampling,
)

LINK_KINDS = ("multihop", "graph", "multihop_graph")
Embed = Callable[[list[str]], Awaitable[Any]]


def _merge(left: dict, right: dict) -> dict:
    return {**left, **right}


class AgentState(TypedDict, total=False):
    query: str
    top_k: int
    plan: Plan
    sampling: Sampling
    where: str | None
    deadline: float  # time.monotonic() by which the answer is due
    rewrite: Rewrite
    ranked: list[Choice]
    ran: Annotated[list[str], operator.add]
    findings: Annotated[list[Finding], operator.add]
    hits: list[Hit]
    generation: Generation
    trace: Annotated[dict[str, Any], _merge]
    timings_ms: Annotated[dict[str, float], _merge]
    stages: Annotated[list[str], operator.add]


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000.0, 3)


def merge_findings(findings: Sequence[Finding]) -> list[Hit]:
    """Round-robin over the agents' evidence, each passage once."""
    seen: set[str] = set()
    out: list[Hit] = []
    lists = [f.hits for f in findings]
    for rank in range(max((len(x) for x in lists), default=0)):
        for hits in lists:
            if rank < len(hits) and hits[rank].chunk_id not in seen:
                seen.add(hits[rank].chunk_id)
                out.append(hits[rank])
    return out


class _Planner:
    """The selector, built on first use from the embeddings of the agents' texts."""

    def __init__(self, cfg: AgentsConfig, embed: Embed) -> None:
        self._cfg, self._embed = cfg, embed
        self._selector: Selector | None = None
        self._lock = asyncio.Lock()

    async def rank(self, question: str) -> list[Choice]:
        async with self._lock:
            if self._selector is None:
                texts = [t for a in self._cfg.agents for t in agent_texts(a)]
                self._selector = Selector(self._cfg, np.asarray(await self._embed(texts)))
        (vector,) = np.asarray(await self._embed([question]))
        return self._selector.rank(question, vector)

    def choose(self, ranked: list[Choice]) -> list[Choice]:
        assert self._selector is not None
        return self._selector.choose(ranked)


def create_agent_graph(
    *,
    cfg: AgentsConfig,
    rewriter: Any,
    retriever: Retrieves,
    reranker: Reranks | None,
    embed: Embed,
    generator: Any = None,
    rerank_depth: int = 50,
) -> StateGraph:
    """Build the agent supervisor over the stage clients (uncompiled).

    Args:
        cfg: Registered agents, selection settings, budgets and validation settings.
        rewriter, retriever, reranker, generator: Stage clients, as for
            :func:`deployments.supervisor.graph.create_rag_graph`; ``generator`` None
            ends the graph after retrieval.
        embed: Embeds texts (the Retriever's query embedder): one vector per text.
        rerank_depth: Candidates the reranker scores per call.
    """
    planner = _Planner(cfg, embed)

    def tools_for(state: AgentState) -> Tools:
        plan = state.get("plan", FULL_PLAN)
        return Tools(
            retriever=retriever,
            reranker=reranker if plan.rerank else None,
            rerank_depth=plan.rerank_depth or rerank_depth,
            where=state.get("where"),
            deadline=state["deadline"],
        )

    async def run(state: AgentState, agents: Sequence[AgentSpec], via: str) -> dict:
        tools = tools_for(state)
        rewrite = state["rewrite"]
        tasks = [Task(a.name, rewrite.original, rewrite.query, state["top_k"]) for a in agents]
        findings = await asyncio.gather(
            *(KINDS[a.kind](task, tools, cfg) for a, task in zip(agents, tasks, strict=True))
        )
        for agent in agents:
            record_agent_run(agent.name, via)
        hops = [*state.get("trace", {}).get("hops", []), *tools.log]
        return {
            "findings": list(findings),
            "ran": [a.name for a in agents],
            "trace": {"hops": hops},
        }

    async def rewrite(state: AgentState) -> dict:
        t = time.perf_counter()
        result = await rewriter.rewrite(state["query"])
        return {"rewrite": result, "timings_ms": {"rewrite": _ms(t)}, "stages": ["rewrite"]}

    async def plan(state: AgentState) -> dict:
        t = time.perf_counter()
        ranked = await planner.rank(state["rewrite"].original)
        chosen = planner.choose(ranked)
        return {
            "ranked": ranked,
            "trace": {
                "agents": [c.why() for c in ranked],
                "chosen": [c.agent.name for c in chosen],
            },
            "timings_ms": {"plan": _ms(t)},
            "stages": ["plan"],
        }

    async def act(state: AgentState) -> dict:
        t = time.perf_counter()
        chosen = [c.agent for c in planner.choose(state["ranked"])]
        out = await run(state, chosen, "selected")
        hits = merge_findings(out["findings"])
        return {**out, "hits": hits, "timings_ms": {"act": _ms(t)}, "stages": ["act"]}

    def escalation(state: AgentState) -> AgentSpec | None:
        """The link-following agent to hand the question to, if reflection calls for one."""
        if all(f.complete for f in state["findings"]):
            return None
        if any(a.kind in LINK_KINDS for a in cfg.agents if a.name in state["ran"]):
            return None
        if state["deadline"] - time.monotonic() < cfg.min_hop_s:
            return None
        return next((a for a in cfg.agents if a.kind in LINK_KINDS), None)

    def reflect(state: AgentState) -> Literal["escalate", "generate", "__end__"]:
        if cfg.escalate and escalation(state) is not None:
            return "escalate"
        return "generate" if generator is not None else END

    async def escalate(state: AgentState) -> dict:
        t = time.perf_counter()
        agent = escalation(state)
        assert agent is not None
        out = await run(state, [agent], "escalated")
        # The first agents' evidence leads: the escalation adds what they missed.
        hits = merge_findings([*state["findings"], *out["findings"]])
        trace = {**out["trace"], "escalated_to": agent.name}
        return {
            **out,
            "hits": hits,
            "trace": trace,
            "timings_ms": {"escalate": _ms(t)},
            "stages": ["escalate"],
        }

    graph = StateGraph(AgentState)
    graph.add_node("rewrite", rewrite)
    graph.add_node("plan", plan)
    graph.add_node("act", act)
    graph.add_node("escalate", escalate)
    graph.add_edge(START, "rewrite")
    graph.add_edge("rewrite", "plan")
    graph.add_edge("plan", "act")
    targets = ["escalate", "generate"] if generator is not None else ["escalate", END]
    graph.add_conditional_edges("act", reflect, targets)
    if generator is None:
        graph.add_edge("escalate", END)
        return graph

    async def generate(state: AgentState) -> dict:
        t = time.perf_counter()
        question, hits = state["rewrite"].original, state["hits"][: state["top_k"]]
        share, about = coverage(question, hits), aboutness(question, hits)
        if share < cfg.abstain_below and about < cfg.abstain_about_below:
            generation = Generation(answer=cfg.abstain_text, generator=generator.kind)
            trace = {
                "abstained": f"the evidence mentions {share:.0%} of what the question "
                f"names (< agents.abstain_below={cfg.abstain_below}) and is about "
                f"{about:.0%} of it (< agents.abstain_about_below={cfg.abstain_about_below})"
            }
            record_validation("abstained")
        elif state.get("plan", FULL_PLAN).extractive:
            answer = "".join(extractive_sentences(question, hits))
            generation, trace = Generation(answer=answer, generator="extractive"), {}
        else:
            sampling = state.get("sampling", DEFAULT_SAMPLING)
            generation, trace = await generator.generate(question, hits, sampling), {}
        return {
            "generation": generation,
            "trace": {**trace, "coverage": round(share, 3), "aboutness": round(about, 3)},
            "timings_ms": {"generate": _ms(t)},
            "stages": ["generate"],
        }

    def needs_validation(state: AgentState) -> Literal["validate", "__end__"]:
        abstained = "abstained" in state.get("trace", {})
        return "validate" if cfg.validate_answers and not abstained else END

    async def validate(state: AgentState) -> dict:
        t = time.perf_counter()
        generation = state["generation"]
        hits = state["hits"][: state["top_k"]]
        verdicts = judge(generation.answer, hits, cfg.support_threshold)
        kept = kept_answer(verdicts)
        if all(v.supported for v in verdicts) and verdicts:
            outcome = "kept"
        elif kept:
            outcome, generation = "trimmed", _with_answer(generation, kept)
        else:
            outcome, generation = "abstained", _with_answer(generation, cfg.abstain_text)
        record_validation(outcome)
        return {
            "generation": generation,
            "trace": {
                "validator": {"outcome": outcome, "verdicts": [v.as_dict() for v in verdicts]}
            },
            "timings_ms": {"validate": _ms(t)},
            "stages": ["validate"],
        }

    graph.add_node("generate", generate)
    graph.add_node("validate", validate)
    graph.add_edge("escalate", "generate")
    graph.add_conditional_edges("generate", needs_validation, ["validate", END])
    graph.add_edge("validate", END)
    return graph


def _with_answer(generation: Generation, answer: str) -> Generation:
    return replace(generation, answer=answer)
