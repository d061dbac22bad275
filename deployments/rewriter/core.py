r"""Deterministic, rule-based query rewriting: normalise, expand, classify, decompose.

No model is involved: every function is pure text logic, so the stage is cheap, testable
and reproducible. The splitting heuristics live in :mod:`deployments.rewriter.rules`.

Example:
    >>> from deployments.rewriter.config import RewriterConfig
    >>> r = rewrite("Compare  BM25 and RRF\u2011based fusion for claims", RewriterConfig())
    >>> r.route, r.query
    ('comparative', 'Compare BM25 and RRF-based (reciprocal rank fusion) fusion for claims')
    >>> r.sub_queries
    ('BM25 for claims', 'RRF-based (reciprocal rank fusion) fusion for claims')
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache

from deployments.common.text import normalize
from deployments.errors import InvalidRequestError
from deployments.rewriter import rules
from deployments.rewriter.config import RewriterConfig
from deployments.types import Rewrite, Route


@lru_cache(maxsize=32)
def _abbreviation_pattern(keys: tuple[str, ...]) -> re.Pattern[str]:
    # Longest key first, so "COVID-19" wins over a hypothetical "COVID". A key is a whole
    # word: no word character may touch it, except a plural "s" (upper-case acronyms only,
    # checked by the caller) and hyphen/apostrophe tails ("HIV-1", "RAG-based", "LLM's"),
    # after which the expansion is inserted.
    alternatives = [
        re.escape(k) if k != k.lower() else f"(?i:{re.escape(k)})"
        for k in sorted(keys, key=len, reverse=True)
    ]
    return re.compile(
        rf"(?<!\w)(?P<key>{'|'.join(alternatives)})(?P<plural>s?)(?P<tail>(?:[-'][^\W_]+)*)(?!\w)"
    )


def expand(query: str, abbreviations: Mapping[str, str]) -> tuple[str, tuple[str, ...]]:
    """Append the expansion of each known abbreviation after its first occurrence.

    Keys containing an upper-case letter match case-sensitively ("RAG" matches, "rag" and
    "ragged" do not); all-lower-case keys ("k8s", "vs") match in any case. An expansion that
    already appears in the query is not added again.

    Args:
        query: A normalised query.
        abbreviations: Abbreviation -> expansion.

    Returns:
        The expanded query and the expansions applied, in order of appearance.

    Example:
        >>> table = {"RRF": "reciprocal rank fusion", "LLM": "large language model"}
        >>> expand("How does RRF work?", table)
        ('How does RRF (reciprocal rank fusion) work?', ('reciprocal rank fusion',))
        >>> expand("Do LLMs use RRF (reciprocal rank fusion)? rrf?", table)[0]
        'Do LLMs (large language model) use RRF (reciprocal rank fusion)? rrf?'
    """
    if not abbreviations:
        return query, ()
    lower_keys = {k.lower(): k for k in abbreviations if k == k.lower()}
    applied: dict[str, None] = {}  # in order of first use
    present: set[str] = set()  # expansions the query already spells out

    def substitute(match: re.Match[str]) -> str:
        key = match["key"] if match["key"] in abbreviations else lower_keys[match["key"].lower()]
        if match["plural"] and not key[-1].isupper():
            return match[0]
        expansion = abbreviations[key].strip()
        if expansion in applied or expansion in present:
            return match[0]
        if re.search(rf"(?<!\w){re.escape(expansion)}(?!\w)", query, re.IGNORECASE):
            present.add(expansion)
            return match[0]
        applied[expansion] = None
        return f"{match[0]} ({expansion})"

    expanded = _abbreviation_pattern(tuple(abbreviations)).sub(substitute, query)
    return expanded, tuple(applied)


def classify(query: str, *, complex_min_words: int) -> Route:
    """Route a query: ``"complex"``, ``"comparative"`` or ``"simple"``.

    Rules, in order:

    1. complex: more than one ``?``, or several requests joined by ``;`` or by
       "and"/"then"/"but" before a question word or imperative (see ``rules.clauses``);
    2. comparative: "compare", "vs", "versus", "difference between", "differ from",
       "pros and cons", or, in questions and instructions only (claims often say "higher
       than"), "compared to", "better/faster... than" and "which ..., A or B" choices;
    3. complex: at least ``complex_min_words`` words splitting into two or more clauses;
    4. simple otherwise.

    Several questions come first because each is decomposed into its own sub-query; a
    comparison inside one of them is still retrieved through that sub-query.

    Example:
        >>> classify("0-dimensional biomaterials show inductive properties.", complex_min_words=18)
        'simple'
        >>> classify("BM25 vs dense retrieval on SciFact", complex_min_words=18)
        'comparative'
        >>> classify("What is RAG? How is it evaluated?", complex_min_words=18)
        'complex'
    """
    text = normalize(query)
    if len(re.findall(r"\?+", text)) > 1 or len(rules.clauses(text)) > 1:
        return "complex"
    if rules.is_comparative(text):
        return "comparative"
    if rules.word_count(text) >= complex_min_words and len(rules.clauses(text, loose=True)) > 1:
        return "complex"
    return "simple"


def sub_questions(query: str, route: Route, *, max_sub_queries: int) -> tuple[str, ...]:
    """Decompose a query into standalone sub-queries for its route.

    Comparative queries give one query per compared item with the shared context attached;
    complex queries give their component requests (strict clause split, falling back to
    the loose one); simple queries give none. Results are normalised, non-empty,
    de-duplicated (ignoring case) and at most ``max_sub_queries`` long. A query that cannot
    be split into at least two parts gives ``()``: the rewritten query alone is searched.

    Example:
        >>> sub_questions("How does HNSW work and why is it fast?", "complex", max_sub_queries=4)
        ('How does HNSW work?', 'why is it fast?')
        >>> sub_questions("Is salt and pepper bad?", "complex", max_sub_queries=4)
        ()
    """
    text = normalize(query)
    if route == "comparative":
        pieces = rules.compared_items(text)
    elif route == "complex":
        pieces = rules.clauses(text)
        if len(pieces) < 2:
            pieces = rules.clauses(text, loose=True)
    else:
        return ()
    seen: dict[str, str] = {}
    for piece in pieces:
        piece = normalize(piece)
        if re.search(r"\w", piece):
            seen.setdefault(piece.lower(), piece)
    out = tuple(seen.values())
    return out[:max_sub_queries] if len(out) >= 2 else ()


def rewrite(query: str, cfg: RewriterConfig) -> Rewrite:
    """Normalise, classify, decompose and (optionally) expand one query.

    Routing and decomposition look at the normalised text; expansions are then applied to
    the query and to each sub-query, so every search query carries them.

    Raises:
        InvalidRequestError: ``query`` is not a string or is empty once normalised.

    Example:
        >>> r = rewrite("  How does RRF work?  ", RewriterConfig())
        >>> r.query, r.route, r.expansions
        ('How does RRF (reciprocal rank fusion) work?', 'simple', ('reciprocal rank fusion',))
    """
    if not isinstance(query, str):
        raise InvalidRequestError(
            f"query must be a string, got {type(query).__name__}; send the question as text",
            param="query",
        )
    text = normalize(query)
    if not text:
        raise InvalidRequestError(
            f"query is empty after normalisation (got {query[:40]!r}); "
            "send a non-empty question or claim",
            param="query",
        )
    route = classify(text, complex_min_words=cfg.complex_min_words)
    subs = sub_questions(text, route, max_sub_queries=cfg.max_sub_queries)
    expansions: tuple[str, ...] = ()
    if cfg.expand_abbreviations:
        text, expansions = expand(text, cfg.abbreviations)
        subs = tuple(dict.fromkeys(expand(s, cfg.abbreviations)[0] for s in subs))
    return Rewrite(original=query, query=text, route=route, sub_queries=subs, expansions=expansions)
