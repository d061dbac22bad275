"""Word lists and splitting heuristics behind :func:`~deployments.rewriter.core.classify`.

All functions take an already normalised query (see ``core.normalize``) and are pure.

Clause splitting heuristic (``clauses``): split after every ``?`` and at ``;``; then split at a
joiner (``and``, ``and then``, ``and also``, ``but``, ``then``) only when the word after it
starts a new request: a question word (``how``, ``why``...) or an imperative (``explain``,
``list``...), or an auxiliary verb (``is``, ``does``...) when the whole query is a question.
So "how does X work and why does Y fail?" splits, while "salt and pepper" (a noun phrase)
never does. ``loose=True`` (used for long queries) also splits at a joiner followed by a
subject pronoun ("... and it crashes"), at ", so/while/whereas" and at a comma followed by
a question word. Pieces shorter than two words are dropped.

Comparison decomposition (``compared_items``): drop the lead-in ("compare", "difference
between", "should I use", "is"...), split the rest into items at "and", "or", "vs", "versus",
",", "compared to", "differ from" and "<adjective>er than", and attach the shared context
(a leading "For X," or the last item's trailing "for/in/on ... X") to every item.
"""

from __future__ import annotations

import re

from deployments.common.words import AUX, IMPERATIVES, WH

SUBJECTS = frozenset("i we you it they he she there".split())

_JOIN = re.compile(
    r"(?P<sep>,\s*|\s+)(?:(?P<conj>and then|and also|and|but|then|so|while|whereas)\s+)?"
    r"(?P<next>[\w']+)",
    re.IGNORECASE,
)
_QUESTION_END = re.compile(r"(?<=\?)\s*|\s*;\s*")
_LEADING_JOINER = re.compile(r"^(?:(?:and|then|also|but|so)\b[\s,]*)+", re.IGNORECASE)
_WORD = re.compile(r"\w+(?:[-']\w+)*")

# Markers of a comparison anywhere in the query.
_STRONG_COMPARATIVE = re.compile(
    r"\bcompar(?:e|es|ing|ison|isons)\b|^contrast\b|\bvs\b|\bversus\b|\bdiffer(?:s|ed)? from\b"
    r"|\bdifferences? between\b|\bpros and cons\b|\btrade-?offs? between\b"
    r"|\bsimilarities (?:and differences )?between\b",
    re.IGNORECASE,
)
# Markers that also occur in plain claims ("X is higher than Y."): count only in requests.
# Gaps are bounded ({0,200}) so that pathological inputs stay linear.
_REQUEST_COMPARATIVE = re.compile(
    r"\bcompared (?:to|with)\b|\b(?!other\b)(?:\w+er|more \w+|less \w+) than\b"
    r"|\bwhich\b[^,:]{0,200}[,:][^,:]{0,200}\bor\b"
    r"|\b(?:should|would|do|can) (?:i|we|you|one) (?:use|choose|pick|prefer|go with)\b"
    r".{0,200}\bor\b"
    r"|\bor\b.{0,200}\b(?:better|best|faster|preferable)\b"
    r"|\b(?:better|best|faster|preferable)\b.{0,200}\bor\b",
    re.IGNORECASE,
)

# Decomposition of comparative queries into compared items.
_WHICH = re.compile(
    r"^which(?:\s+\w+){0,3}?\s+(?P<verb>is|are|was|were|would be)\s+(?P<crit>[^,:]+?)\s*[,:]\s*"
    r"(?P<items>.+)$",
    re.IGNORECASE,
)
_WHICH_BARE = re.compile(  # "which is better A or B", no comma before the items
    r"^which(?:\s+one)?\s+(?P<verb>is|are)\s+"
    r"(?P<crit>better|worse|best|faster|slower|cheaper|preferable)\s+(?P<items>.+)$",
    re.IGNORECASE,
)
_MARKER = re.compile(
    r"\b(?:differences?|similarities(?:\s+and\s+differences)?|trade-?offs?)\s+(?:between|of)\s+"
    r"|\b(?P<pros>pros\s+and\s+cons\s+of)\s+|\bcomparison\s+(?:of|between)\s+"
    r"|\b(?P<compare>compare(?:\s+and\s+contrast)?|contrast)\s+(?!to\b|with\b|against\b)",
    re.IGNORECASE,
)
_HOW_ADJECTIVE = re.compile(  # "how fast is X compared to Y" -> "how fast is X?" per item
    r"^(?P<frame>how\s+(?!(?:does|do|did|is|are|would|will)\b)\w+\s+(?:is|are))\s+(?P<rest>.+)$",
    re.IGNORECASE,
)
_LEAD_IN = re.compile(
    r"^(?:(?:should|would|could|can|do)\s+(?:i|we|you|one)\s+(?:use|choose|pick|prefer|go\s+with)"
    r"|when\s+(?:should|would)\s+(?:i|we|you|one)\s+(?:use|choose|pick|prefer)"
    r"|how\s+(?:does|do|did|is|are|would|will)"
    r"|is|are|was|were|does|do|did|can|could|should|would|will)\s+",
    re.IGNORECASE,
)
_TRAILER = re.compile(
    r"(?:\s*[,:;-]?\s*which(?:\s+one)?\s+is\s+(?:better|faster|best|preferable)"
    r"|\s+(?:compare|differ|stack\s+up)(?:\s+(?:to|with)\s+each\s+other)?)$",
    re.IGNORECASE,
)
_ITEM_SEP = (
    r"\s*,\s*(?:and\s+|or\s+)?|\s+(?:and|or|vs\.?|versus)\s+"
    r"|\s+(?:compared|comparing|compare[sd]?)\s+(?:to|with|against)\s+|\s+differs?\s+from\s+"
    r"|\s+(?!other\s)(?:\w+er|more\s+\w+|less\s+\w+)\s+than\s+"
)
_COMPARE_SEP = re.compile(_ITEM_SEP + r"|\s+(?:with|to|against)\s+", re.IGNORECASE)
_PLAIN_SEP = re.compile(_ITEM_SEP, re.IGNORECASE)
_TRAILING_JUDGEMENT = re.compile(
    r"\s+(?:better|worse|best|worst|faster|slower|cheaper|preferable)$", re.IGNORECASE
)
_PREPOSITION = r"(?:for|in|on|when|at|under|regarding|with\s+respect\s+to|across|during|within)"
_LEADING_CONTEXT = re.compile(rf"^(?P<ctx>{_PREPOSITION}\s[^,]+),\s*(?P<rest>.+)$", re.I)
_CONTEXT = re.compile(rf"\s+(?P<ctx>{_PREPOSITION}\s+.+)$", re.IGNORECASE)
_STARTS_WITH_PREPOSITION = re.compile(rf"^{_PREPOSITION}\s", re.IGNORECASE)


def word_count(text: str) -> int:
    """Number of words, counting hyphenated and apostrophe compounds once.

    >>> word_count("What's the TF-IDF score of RAG?")
    6
    """
    return len(_WORD.findall(text))


def first_word(text: str) -> str:
    """The first word of ``text``, lower-cased ("" when there is none)."""
    match = _WORD.search(text)
    return match.group(0).lower() if match else ""


def is_request(text: str) -> bool:
    """Whether ``text`` asks something (a question or an instruction) rather than states a claim.

    >>> is_request("Is BM25 better than dense retrieval")
    True
    >>> is_request("Vitamin D levels are lower in winter than in summer.")
    False
    """
    word = first_word(text)
    return text.endswith("?") or word in AUX or word in IMPERATIVES or word in WH - {"when"}


def _split_joins(part: str, *, request: bool, loose: bool) -> list[str]:
    pieces, start = [], 0
    for m in _JOIN.finditer(part):
        conj = (m["conj"] or "").lower()
        nxt = m["next"].lower()
        comma = m["sep"].startswith(",")
        if not conj:
            split = loose and comma and (nxt in WH or nxt in IMPERATIVES)
        elif conj in ("so", "while", "whereas"):
            split = loose and comma and (nxt in WH or nxt in SUBJECTS or nxt in IMPERATIVES)
        else:
            split = (
                nxt in WH
                or nxt in IMPERATIVES
                or (request and nxt in AUX)
                or (loose and nxt in SUBJECTS)
            )
        if split:
            pieces.append(part[start : m.start()])
            start = m.start("next")
    pieces.append(part[start:])
    return pieces


def _asks(piece: str) -> bool:
    # "How does X work" asks; "When memory is full" (no auxiliary after "when") sets a condition.
    words = [w.lower() for w in _WORD.findall(piece)[:2]] + [""]
    if words[0] == "when":
        return words[1] in AUX
    return words[0] in AUX or words[0] in WH


def clauses(text: str, *, loose: bool = False) -> list[str]:
    """Split a query into its component requests (see the module docstring).

    >>> clauses("How does RRF work and why does it beat score fusion?")
    ['How does RRF work?', 'why does it beat score fusion?']
    >>> clauses("Does salt and pepper raise blood pressure?")
    ['Does salt and pepper raise blood pressure?']
    """
    request = is_request(text)
    out: list[str] = []
    for part in _QUESTION_END.split(text):
        asked = part.rstrip().endswith("?")
        for piece in _split_joins(part, request=request, loose=loose):
            piece = _LEADING_JOINER.sub("", piece.strip()).rstrip(",;:. ")
            if word_count(piece) < 2:
                continue
            if asked and not piece.endswith("?") and _asks(piece):
                piece += "?"
            out.append(piece)
    return out


def is_comparative(text: str) -> bool:
    """Whether the query compares two or more things.

    >>> is_comparative("Which is faster, HNSW or IVF?")
    True
    >>> is_comparative("Statins lower LDL more than diet alone.")  # a claim, not a request
    False
    """
    if _STRONG_COMPARATIVE.search(text):
        return True
    return is_request(text) and bool(_REQUEST_COMPARATIVE.search(text))


def compared_items(text: str) -> list[str]:
    """One standalone query per compared item, sharing the query's context.

    Returns ``[]`` when fewer than two items are found (a lone "pros and cons of X" gives
    "advantages of X" and "disadvantages of X").

    >>> compared_items("Compare BM25 and dense retrieval for scientific claims")
    ['BM25 for scientific claims', 'dense retrieval for scientific claims']
    >>> compared_items("Which is faster, HNSW or IVF?")
    ['is HNSW faster?', 'is IVF faster?']
    """
    text = text.strip().rstrip("?!. ")
    which = _WHICH.match(text) or _WHICH_BARE.match(text)
    if which:
        items = _PLAIN_SEP.split(which["items"])
        return [f"{which['verb']} {item} {which['crit']}?" for item in items if item.strip()]
    context, prefix, suffix = "", "", ""
    leading = _LEADING_CONTEXT.match(text)
    if leading:
        context, text = leading["ctx"][0].lower() + leading["ctx"][1:], leading["rest"]
    how = _HOW_ADJECTIVE.match(text)
    if how:
        prefix, suffix, text = how["frame"] + " ", "?", how["rest"]
    marker = _MARKER.search(text)
    if marker:
        text = text[marker.end() :]
    else:
        text = _LEAD_IN.sub("", text, count=1)
    text = _TRAILER.sub("", text)
    splitter = _COMPARE_SEP if marker and marker["compare"] else _PLAIN_SEP
    items: list[str] = []
    for item in (i.strip(" ,;:-") for i in splitter.split(text)):
        if _STARTS_WITH_PREPOSITION.match(item):
            context = f"{context} {item}".strip()
        elif item:
            items.append(item)
    if items and not context and not any(_CONTEXT.search(i) for i in items[:-1]):
        tail = _CONTEXT.search(items[-1])
        if tail and tail.start() > 0:
            context, items[-1] = tail["ctx"], items[-1][: tail.start()]
    items = [_TRAILING_JUDGEMENT.sub("", item).strip(" ,;:-") for item in items]
    if len(items) == 1 and marker and marker["pros"]:
        return [f"advantages of {items[0]}", f"disadvantages of {items[0]}"]
    if len(items) < 2:
        return []
    return [f"{prefix}{item} {context}".strip() + suffix for item in items]
