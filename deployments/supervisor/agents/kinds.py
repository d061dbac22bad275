"""The agents' implementations, one coroutine per kind (pure decisions over :class:`Tools`).

- ``lookup``: one search for the query, reranked (the single-shot path).
- ``multihop``: iterative retrieval. Read the best passages of a hop for the named things
  the question does not name (bridge entities), search again with each of them added to
  the query, keep the passage that best answers the question; repeat until two top
  passages form a chain (one names the other) or the hop budget is spent.
- ``graph``: entity links instead of new queries. The next hop's candidates are the
  passages *titled* by an entity the previous hop's passages mention, ranked against the
  question (GraphRAG over the title graph of the corpus).
- ``multihop_graph``: both sources of next-hop candidates, pooled.
- ``comparison``: one retrieval per named thing of the question, concurrently, each
  reranked for its own thing, then interleaved so every thing's best passage comes early.
- ``summary``: a wide retrieval, one passage per document first.

Every agent starts from passages the question itself names (their titles are mentioned in
it): those lead the evidence, the rest keeps its order.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from deployments.supervisor.agents.config import AgentKind, AgentsConfig
from deployments.supervisor.agents.links import (
    bridge_entities,
    by_document,
    linked,
    mention_expression,
    mentions,
    question_entities,
    title_expression,
)
from deployments.supervisor.agents.tools import Tools
from deployments.supervisor.agents.validate import coverage
from deployments.types import Hit


@dataclass
class Task:
    """One question handed to one agent."""

    agent: str
    question: str  # as asked: what is answered
    query: str  # as rewritten: what is searched
    top_k: int


@dataclass
class Finding:
    """What an agent came back with: its evidence, best first, and whether it judged the
    evidence chain complete."""

    agent: str
    hits: list[Hit]
    complete: bool = True
    notes: dict[str, object] = field(default_factory=dict)


Agent = Callable[[Task, Tools, AgentsConfig], Awaitable[Finding]]


def named_first(question: str, hits: Sequence[Hit]) -> list[Hit]:
    """Passages whose title the question mentions first (stable), then the rest.

    >>> h = lambda d: Hit(f"{d}#0", d, d, "", 1.0)
    >>> [x.doc_id for x in named_first("Is Lyon bigger than Nice?", [h("Paris"), h("Nice")])]
    ['Nice', 'Paris']
    """
    named = [h for h in hits if mentions(question, h.title)]
    return named + [h for h in hits if not mentions(question, h.title)]


def chain_complete(hits: Sequence[Hit]) -> bool:
    """Whether the two best passages form a chain (one names the other)."""
    return len(hits) >= 2 and linked(hits[0], hits[1])


async def lookup(task: Task, tools: Tools, cfg: AgentsConfig) -> Finding:
    (found,) = await tools.search([task.query])
    ranked = named_first(task.question, await tools.rerank(task.query, found, task.top_k))
    tools.record(task.agent, 1, [task.query], ranked)
    # Complete when the two best passages mention everything the question names.
    return Finding(task.agent, ranked, complete=coverage(task.question, ranked[:2]) == 1.0)


def _hops(follow_queries: bool, follow_links: bool) -> Agent:
    async def multihop(task: Task, tools: Tools, cfg: AgentsConfig) -> Finding:
        first = await lookup(task, tools, cfg)
        evidence, hop = first.hits, 1
        while hop < cfg.max_hops and not chain_complete(evidence):
            if tools.time_left() < cfg.min_hop_s:
                tools.record(task.agent, hop + 1, [], [], skipped="deadline")
                break
            hop += 1
            nxt = await _next_hop(task, tools, cfg, evidence, hop, follow_queries, follow_links)
            if nxt is None:
                break
            evidence = nxt
        return Finding(task.agent, evidence, complete=chain_complete(evidence))

    return multihop


async def _next_hop(
    task: Task,
    tools: Tools,
    cfg: AgentsConfig,
    evidence: list[Hit],
    hop: int,
    follow_queries: bool,
    follow_links: bool,
) -> list[Hit] | None:
    """The evidence after one more hop.

    Candidates are the passages reached from the current best ones: by new queries (a
    bridge entity added to the query) and/or by entity links, both ways (passages titled
    by an entity the best passages mention, and passages mentioning a best passage's
    title). They compete with the current runners-up in one rerank against the question;
    the best passage stays first, the best-ranked passage linked to it (the chain) second,
    and the rerank's order follows.
    """
    sources = evidence[: cfg.bridge_passages]
    bridges = bridge_entities(task.question, sources, cfg.max_bridges)
    queries = [f"{b} {task.query}" for b in bridges] if follow_queries else []
    calls = [tools.search(queries, limit=cfg.hop_candidates)] if queries else []
    if follow_links:
        for within in (title_expression(bridges), mention_expression(h.title for h in sources)):
            if within is not None:
                calls.append(tools.search([task.query], limit=cfg.hop_candidates, within=within))
    if not calls:
        tools.record(task.agent, hop, [], [], skipped="no bridge entity")
        return None
    lists = [hits for result in await asyncio.gather(*calls) for hits in result]
    first = evidence[0]
    reached = [h for h in by_document(lists) if h.doc_id != first.doc_id]
    if not reached:
        tools.record(task.agent, hop, queries, [], bridges=bridges)
        return None
    contenders = by_document([evidence[1 : cfg.bridge_passages], reached])
    ranked = await tools.rerank(task.query, contenders, task.top_k)
    partner = next((h for h in ranked if linked(first, h)), None)
    tools.record(
        task.agent,
        hop,
        queries,
        reached,
        bridges=bridges,
        links=follow_links,
        partner=partner.doc_id if partner else None,
    )
    if partner is None:
        return [first, *by_document([ranked, evidence[1:]])]
    # The chain: the best passage, then the best-ranked passage linked to it.
    return [first, partner, *by_document([[h for h in ranked if h is not partner], evidence[1:]])]


async def comparison(task: Task, tools: Tools, cfg: AgentsConfig) -> Finding:
    things = question_entities(task.question)[: cfg.max_bridges]
    if len(things) < 2:
        return await lookup(task, tools, cfg)

    async def about(thing: str) -> list[Hit]:
        query = f"{thing} {task.query}"
        within = title_expression([thing])
        calls = [tools.search([query], limit=cfg.hop_candidates)]
        if within is not None:
            calls.append(tools.search([task.query], limit=cfg.hop_candidates, within=within))
        lists = [hits for result in await asyncio.gather(*calls) for hits in result]
        pool = by_document(lists[::-1])  # passages titled by the thing first
        return await tools.rerank(query, pool, task.top_k)

    overall, *each = await asyncio.gather(lookup(task, tools, cfg), *map(about, things))
    for thing, hits in zip(things, each, strict=True):
        tools.record(task.agent, 1, [f"{thing} {task.query}"], hits, thing=thing)
    evidence = named_first(task.question, by_document([*each, overall.hits]))
    # Complete when every compared thing is mentioned by one of the first passages.
    return Finding(
        task.agent, evidence, complete=coverage(task.question, evidence[: len(things)]) == 1.0
    )


async def summary(task: Task, tools: Tools, cfg: AgentsConfig) -> Finding:
    (found,) = await tools.search([task.query])
    ranked = await tools.rerank(task.query, found, max(task.top_k * 3, task.top_k))
    spread = by_document([[h] for h in ranked])  # one passage per document first
    rest = [h for h in ranked if h not in spread]
    tools.record(task.agent, 1, [task.query], spread)
    return Finding(task.agent, [*spread, *rest])


KINDS: dict[AgentKind, Agent] = {
    "lookup": lookup,
    "multihop": _hops(follow_queries=True, follow_links=False),
    "graph": _hops(follow_queries=False, follow_links=True),
    "multihop_graph": _hops(follow_queries=True, follow_links=True),
    "comparison": comparison,
    "summary": summary,
}
