"""A tiny keyword-search corpus standing in for the Retriever, and a bag-of-words embedder,
so the agents' decisions can be followed exactly (no Ray, no models)."""

from __future__ import annotations

import re
import zlib

import numpy as np

from deployments.common.entity_keys import fold, passage_keys
from deployments.supervisor.agents.validate import terms
from deployments.types import Hit

PASSAGES = {
    "Glass Hours": "Glass Hours is the debut album of Velvet Ferns, released in 2009.",
    "Velvet Ferns": "Velvet Ferns played its first concert in Austin.",
    "Concert Hall": "A concert hall is a venue where a band or orchestra played for the "
    "first time in a big city, often after years of rehearsal and touring across many "
    "countries and regions.",
    "Austin": "Austin is the capital of Texas.",
    "Pepper Keenan": "Pepper Keenan is an American musician born in 1967.",
    "Rob Parissi": "Rob Parissi is an American singer born in 1950.",
    "Wild Cherry": "Wild Cherry was a funk rock band led by Rob Parissi.",
    "Corrosion of Conformity": "Corrosion of Conformity is a band with Pepper Keenan.",
    "Supergroup": "A supergroup is a band whose members are famous from other bands.",
}
_NAMES = re.compile(r'title (==|like) "((?:[^"\\]|\\.)*)"')
_KEYS = re.compile(r'entities like "%\|([^"|]*)\|%"')


def hits_for(query: str, where: str | None = None, limit: int = 10) -> list[Hit]:
    words = terms(query)
    allowed = keys = None
    if where and "title" in where:
        allowed = _NAMES.findall(where)
    if where and "entities" in where:
        keys = set(_KEYS.findall(where))
    scored = []
    for title, text in PASSAGES.items():
        if allowed is not None and not any(
            title == n if op == "==" else title.startswith(n.removesuffix("%")) for op, n in allowed
        ):
            continue
        if keys is not None and not keys & set(passage_keys(text)):  # the stored entities
            continue
        overlap = len(words & terms(f"{title} {text}"))
        if overlap:
            scored.append((overlap, title))
    scored.sort(key=lambda s: (-s[0], s[1]))
    return [
        Hit(f"{t}#0", t, t, PASSAGES[t], float(s), {"hybrid": float(s)}) for s, t in scored[:limit]
    ]


class Corpus:
    """The Retriever's protocol over :data:`PASSAGES` (``limit`` hits by default, like a
    first stage that cannot see everything); records every call."""

    def __init__(self, limit: int = 2) -> None:
        self.limit = limit
        self.calls: list[tuple[list[str], str | None]] = []

    async def retrieve(self, queries, limit=None, where=None):
        self.calls.append((list(queries), where))
        return [hits_for(q, where, limit or self.limit) for q in queries]

    async def embed(self, texts):
        return [bag_of_words(t) for t in texts]


def bag_of_words(text: str, dim: int = 256) -> list[float]:
    v = np.zeros(dim, dtype=np.float32)
    for w in fold(text).split():
        v[zlib.crc32(w.encode()) % dim] += 1.0
    return v.tolist()


class Rewriter:
    async def rewrite(self, query, history=()):
        from deployments.types import Rewrite

        return Rewrite(original=query, query=query, route="simple")


class Extractive:
    """The generator client's protocol, answering extractively."""

    kind = "extractive"

    def __init__(self, answer: str | None = None) -> None:
        self.answer = answer

    async def generate(self, query, hits, sampling=None):
        from deployments.common.extractive import extractive_answer
        from deployments.types import Generation

        text = self.answer if self.answer is not None else extractive_answer(query, hits)
        return Generation(answer=text, generator="extractive")


class Reranker:
    """Scores a passage's text by the share of its words the query holds: short, focused
    passages beat long ones that mention everything (unlike the keyword first stage)."""

    async def rerank(self, query, candidates, top_k):
        from deployments.types import Reranked

        words = terms(query)
        scored = []
        for c in candidates:
            text = terms(PASSAGES[c.chunk_id.split("#")[0]])
            scored.append((len(words & text) / len(text), c.chunk_id))
        scored.sort(key=lambda s: (-s[0], s[1]))
        return [Reranked(cid, score, score) for score, cid in scored[:top_k]]
