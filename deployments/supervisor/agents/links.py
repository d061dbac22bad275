"""Entity links between a question and passages, and between passages (pure).

A passage's *title* names what it is about (a Wikipedia title, a file's heading); a
*mention* of it is that title, lowercased, without a trailing disambiguation such as
"(band)", found between word boundaries of another text. Links are how the agents follow
evidence: a question names the passages to start from, a passage names the passages it
leads to, and two passages where one names the other form a chain. In the store, each
chunk keeps the keys of the names it mentions (:mod:`deployments.common.entity_keys`), so
the links back to a passage are found by exact match.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from deployments.common.entity_keys import entity_pattern, fold, title_key
from deployments.common.mentions import entities
from deployments.common.store.expr import string_literal
from deployments.common.words import FUNCTION_WORDS
from deployments.types import Hit

# Capitalised words that name no passage of their own in running text.
_CALENDAR = frozenset(
    "january february march april may june july august september october november december "
    "monday tuesday wednesday thursday friday saturday sunday".split()
)
MAX_LINKS = 16


def mentions(text: str, title: str) -> bool:
    """Whether ``text`` mentions ``title`` (as whole words, see :func:`title_key`).

    >>> mentions("Was Pepper Keenan born first?", "Pepper Keenan")
    True
    >>> mentions("Keenan's band", "Pepper Keenan")
    False
    """
    key = title_key(title)
    return bool(key) and f" {key} " in f" {fold(text)} "


def linked(a: Hit, b: Hit) -> bool:
    """Whether one passage names the other's title: a chain of evidence.

    >>> a = Hit("a#0", "a", "Heat (film)", "Heat is a film by Michael Mann.", 1.0)
    >>> b = Hit("b#0", "b", "Michael Mann", "Michael Mann is a director.", 1.0)
    >>> linked(a, b), linked(b, a)
    (True, True)
    """
    return a.doc_id != b.doc_id and (mentions(a.text, b.title) or mentions(b.text, a.title))


def bridge_entities(question: str, passages: Sequence[Hit], limit: int) -> list[str]:
    """Named things the ``passages`` mention that the question does not: the entities a
    next hop may be about, without repeats, best first.

    Best come the entities of the best passage; within a passage, the entity whose
    sentence shares most content words with the question (the bridge usually sits in the
    sentence that matches the question's other half), then longer names, then earlier.
    A name joined by "of" ("CEO of Viglen") also offers its tail ("Viglen").

    >>> p = Hit("a#0", "a", "Tinted Windows (album)", "Tinted Windows is an album from "
    ...         "Texas. It is the debut of Tinted Windows (band), who first played in Austin.", 1.0)
    >>> bridge_entities("Where did the band behind Tinted Windows first play?", [p], 4)
    ['Austin', 'Texas']
    """
    asked = f" {fold(question)} "
    words = set(asked.split())
    ranked: dict[str, tuple[tuple, str]] = {}
    for rank, hit in enumerate(passages):
        own = title_key(hit.title)
        for position, (sentence, names) in enumerate(_sentence_entities(hit.text)):
            overlap = len(words & set(fold(sentence).split()) - FUNCTION_WORDS)
            for name in names:
                key = fold(name)
                if (
                    not key
                    or key == own
                    or key.split()[0] in _CALENDAR
                    or key.isdigit()
                    or f" {key} " in asked
                ):
                    continue
                order = (rank, -overlap, -min(len(key.split()), 3), position)
                if key not in ranked or order < ranked[key][0]:
                    ranked[key] = (order, name)
    return [name for _, name in sorted(ranked.values())[:limit]]


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def _sentence_entities(text: str) -> list[tuple[str, list[str]]]:
    """Each sentence of ``text`` with the names in it (and the tails of "X of Y" names)."""
    out = []
    for sentence in _SENTENCE_END.split(text):
        names = []
        for span in entities(sentence):
            names.append(span.text)
            head, sep, tail = span.text.rpartition(" of ")
            if sep and head and tail and tail[0].isupper():
                names.append(tail)
        out.append((sentence, names))
    return out


def question_entities(question: str) -> list[str]:
    """The named things of a question (quoted spans and runs of capitalised words).

    >>> question_entities("Was Pepper Keenan or Rob Parissi born first?")
    ['Pepper Keenan', 'Rob Parissi']
    """
    return [s.text for s in entities(question)]


def title_expression(names: Iterable[str]) -> str | None:
    """A Milvus expression matching passages titled by one of ``names``, as is or with a
    qualifier ("Heat (film)", "Gainesville, Florida"); None when no name can be written.

    >>> print(title_expression(["Heat", "50%"]))
    (title == "Heat" or title like "Heat (%" or title like "Heat, %" or title == "50%")
    """
    parts = []
    for name in list(dict.fromkeys(n.strip() for n in names if n.strip()))[:MAX_LINKS]:
        if "%" in name or "_" in name:  # wildcards of `like`; compare exactly only
            try:
                parts.append(f"title == {string_literal(name)}")
            except ValueError:
                continue
            continue
        try:
            parts.append(
                f"title == {string_literal(name)} or title like {string_literal(f'{name} (%')}"
                f" or title like {string_literal(f'{name}, %')}"
            )
        except ValueError:
            continue
    return f"({' or '.join(parts)})" if parts else None


def mention_expression(titles: Iterable[str]) -> str | None:
    """A Milvus expression matching passages whose text mentions one of ``titles`` (its
    :func:`title_key` is among the entity keys stored with each chunk): the links that
    point back at these passages. None when no title has a key.

    >>> print(mention_expression(["Heat (film)", "Michael Mann", "Heat"]))
    (entities like "%|heat|%" or entities like "%|michael mann|%")
    """
    keys = [k for k in dict.fromkeys(map(title_key, titles)) if k][:MAX_LINKS]
    parts = [f"entities like {string_literal(entity_pattern(k))}" for k in keys]
    return f"({' or '.join(parts)})" if parts else None


def by_document(lists: Sequence[Sequence[Hit]]) -> list[Hit]:
    """Round-robin over ranked lists, each document once (its first passage met).

    >>> h = lambda d: Hit(f"{d}#0", d, d, "", 1.0)
    >>> [x.doc_id for x in by_document([[h("a"), h("b")], [h("a"), h("c")], [h("d")]])]
    ['a', 'd', 'b', 'c']
    """
    seen: set[str] = set()
    out: list[Hit] = []
    for rank in range(max((len(x) for x in lists), default=0)):
        for ranked in lists:
            if rank < len(ranked) and ranked[rank].doc_id not in seen:
                seen.add(ranked[rank].doc_id)
                out.append(ranked[rank])
    return out
