"""What an agent may call: retrieval and reranking over the graph's stages, within budget.

The costly work stays in the Serve deployments (the Retriever embeds and searches, the
Reranker scores late interaction); an agent only decides what to ask. Several queries go
to the Retriever in one call, which embeds them in one batch.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from deployments.common.store.filters import and_expressions
from deployments.types import Candidate, Hit, Reranked


class Retrieves(Protocol):
    async def retrieve(
        self, queries: list[str], limit: int | None = None, where: str | None = None
    ) -> list[list[Hit]]: ...


class Reranks(Protocol):
    async def rerank(
        self, query: str, candidates: list[Candidate], top_k: int
    ) -> list[Reranked]: ...


def apply_verdicts(candidates: Sequence[Hit], verdicts: Sequence[Reranked]) -> list[Hit]:
    """The reranked hits first, in the reranker's order with its scores (``maxsim`` and
    ``rerank`` in ``Hit.scores``), then every other candidate in first-stage order.

    >>> hits = [Hit(c, "d", "", "", 1.0 / (i + 1)) for i, c in enumerate("abc")]
    >>> out = apply_verdicts(hits, [Reranked("c", 0.9, 12.5), Reranked("a", 0.4, 9.0)])
    >>> [(h.chunk_id, h.score, h.scores.get("maxsim")) for h in out]
    [('c', 0.9, 12.5), ('a', 0.4, 9.0), ('b', 0.5, None)]
    """
    by_id = {h.chunk_id: h for h in candidates}
    first = []
    for v in verdicts:
        hit = by_id.get(v.chunk_id)
        if hit is not None:
            scores = {**hit.scores, "maxsim": v.maxsim, "rerank": v.score}
            first.append(replace(hit, score=v.score, scores=scores))
    done = {h.chunk_id for h in first}
    return first + [h for h in candidates if h.chunk_id not in done]


@dataclass
class Tools:
    """The stages an agent drives, the request's filter and deadline, and its hop log.

    Args:
        retriever: First-stage search (one hit list per query).
        reranker: Late-interaction reranker; None keeps the first-stage order.
        rerank_depth: Candidates the reranker scores per call.
        where: The request's metadata filter expression, applied to every search.
        deadline: ``time.monotonic()`` by which the agents must have returned.
    """

    retriever: Retrieves
    reranker: Reranks | None
    rerank_depth: int
    where: str | None
    deadline: float
    log: list[dict[str, Any]] = field(default_factory=list)

    def time_left(self) -> float:
        return self.deadline - time.monotonic()

    async def search(
        self, queries: Sequence[str], *, limit: int | None = None, within: str | None = None
    ) -> list[list[Hit]]:
        """One ranked list per query, over the request's filter and ``within`` (an
        expression further narrowing the passages, e.g. to some titles)."""
        if not queries:
            return []
        where = and_expressions(self.where, within)
        return await self.retriever.retrieve(list(queries), limit=limit, where=where)

    async def rerank(self, query: str, hits: Sequence[Hit], top_k: int) -> list[Hit]:
        """``hits`` reordered by the reranker against ``query`` (the first
        ``rerank_depth`` of them; the rest keep their order)."""
        if self.reranker is None or not hits:
            return list(hits)
        head = list(hits[: self.rerank_depth])
        verdicts = await self.reranker.rerank(
            query, [Candidate(h.chunk_id, h.score) for h in head], min(top_k, len(head))
        )
        return apply_verdicts(hits, verdicts)

    def record(self, agent: str, hop: int, queries: Sequence[str], hits: Sequence[Hit], **extra):
        """Log one retrieval round for the response's trace."""
        self.log.append(
            {
                "agent": agent,
                "hop": hop,
                "queries": list(queries),
                "found": list(dict.fromkeys(h.doc_id for h in hits))[:10],
                **extra,
            }
        )
