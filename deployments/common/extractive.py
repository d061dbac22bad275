"""Extractive answers: the sentences of the top passages that best match the query (pure).

Used when no LLM weights can be loaded, and by the supervisor as the cheap plan under
load. It never invents text: every sentence is copied from a cited passage and followed
by that passage's citation number.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from deployments.types import Hit

_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[])")
_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset(
    "a an and are as at be by can do does for from how in is it of on or that the this "
    "to was what when where which who why will with".split()
)


def _terms(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP}


def split_sentences(text: str) -> list[str]:
    """Split text into sentences on terminal punctuation.

    >>> split_sentences("One. Two? Three!")
    ['One.', 'Two?', 'Three!']
    """
    return [s.strip() for s in _SENTENCE.split(text.strip()) if s.strip()]


def extractive_answer(query: str, hits: Sequence[Hit], *, max_sentences: int = 3) -> str:
    """Pick up to ``max_sentences`` sentences from ``hits`` by overlap with the query.

    Sentences keep the order of their passages (best passage first) and carry the
    passage number as a citation (the pieces of :func:`extractive_sentences`, joined).

    >>> from deployments.types import Hit
    >>> hits = [Hit("c1", "d1", "", "Cats purr. Milvus stores vectors.", 1.0)]
    >>> extractive_answer("Where are vectors stored?", hits)
    'Milvus stores vectors. [1]'
    >>> extractive_answer("anything", [])
    'No passages matched the question, so there is nothing to answer from.'
    """
    return "".join(extractive_sentences(query, hits, max_sentences=max_sentences))


def extractive_sentences(query: str, hits: Sequence[Hit], *, max_sentences: int = 3) -> list[str]:
    """The extractive answer in the pieces it streams in: each sentence with its citation,
    the pieces after the first led by a space.

    >>> hits = [Hit("c1", "d1", "", "Cats purr. Milvus stores vectors.", 1.0)]
    >>> extractive_sentences("Do cats purr where vectors are stored?", hits)
    ['Cats purr. [1]', ' Milvus stores vectors. [1]']
    """
    if not hits:
        return ["No passages matched the question, so there is nothing to answer from."]
    query_terms = _terms(query)
    scored = []
    for n, hit in enumerate(hits, start=1):
        for i, sentence in enumerate(split_sentences(hit.text)):
            overlap = len(query_terms & _terms(sentence))
            scored.append((overlap, -n, -i, sentence, n))
    best = [s for s in sorted(scored, reverse=True) if s[0] > 0][:max_sentences]
    if not best:  # nothing overlaps: lead with the top passage's opening sentence
        best = scored[:1]
    chosen = sorted(best, key=lambda s: (-s[1], -s[2]))
    return [
        f"{' ' if i else ''}{sentence} [{n}]" for i, (_, _, _, sentence, n) in enumerate(chosen)
    ]
