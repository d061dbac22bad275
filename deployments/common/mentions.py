"""What a chat turn mentions: its named entities, its topic, and pronouns that refer back.

Detection helpers of :mod:`deployments.rewriter.conversation` and of the supervisor's
agents, pure and linear in the length of the text:

- an *entity* is a quoted span or a run of capitalised words, connectors such as "of the"
  or "van der" included ("Lord of the Rings"); a single capitalised word that opens a
  sentence and is followed by a lowercase content word ("Metformin treats ...") is not one;
- the *topic* is the last run of content words (at most four), for text naming no entity;
- an *anaphor* is a pronoun that refers back: personal and neuter pronouns, their
  contractions ("it's"), possessives, and demonstratives used as pronouns ("when was this
  built?"); each belongs to a family (it, he, she, they).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from deployments.common.words import AUX, IMPERATIVES, NAME_CONNECTORS, WH

PERSONAL = frozenset("he him his she her hers they them their theirs".split())
_NEUTER = frozenset({"it", "its"})
_DEMONSTRATIVES = frozenset("this that these those".split())
_POSSESSIVES = frozenset("its his their".split())  # "her" is decided by the next word
PREPOSITIONS = frozenset(
    "of in on at to for from by with about after before during since into onto over under "
    "between among through than as against without within like near".split()
)
_FUNCTION = (
    WH
    | AUX
    | IMPERATIVES
    | PREPOSITIONS
    | frozenset(
        "the a an and or but so also then if not no yes any some all each every other such "
        "i me my mine we us our you your it its he him his she her they them their this that "
        "these those there here please hi hello hey thanks thank ok okay sure really well "
        "just more most much many very too again still only even what's who's it's that's "
        "let's don't doesn't didn't isn't wasn't aren't weren't can't won't".split()
    )
)
# Verbs so common in questions that they never name the topic ("what is X used for?").
_LIGHT_VERBS = frozenset(
    "use used uses using make made makes making call called mean means meant work works "
    "worked happen happened happens get got gets go goes went gone know known come came "
    "take took taken give gave given say said find found become became look like likes "
    "want need tell explain describe".split()
)
TOKEN = re.compile(r"\w+(?:[-'.&]\w+)*")
_QUOTED = re.compile(r'"([^"]{1,120})"')
_ABOUT = re.compile(r"\b(?i:about)\s+(?:(?:the|a|an)\s+)?(?P<x>[^?]{1,120})$")
#: Contraction suffix -> the verb it stands for ("it's" -> "it is").
CONTRACTIONS = {"s": "is", "re": "are", "ve": "have", "d": "would", "ll": "will"}
_NEW_CLAUSE = re.compile(
    r"(?:[,;:]|\b(?:and|but|so|then|while|because)\b)\s*(?:(?:and|but|so|then)\s+)?"
    r"(?:(?:how|when|where|why|what|which|who)\s+(?:\w+\s+)?)?$",
    re.IGNORECASE,
)
_FAMILIES = {
    "he": frozenset({"he", "him", "his"}),
    "she": frozenset({"she", "her", "hers"}),
    "they": frozenset({"they", "them", "their", "theirs", "these", "those"}),
}


@dataclass(frozen=True)
class Span:
    """``text`` found at ``start:end`` of the text it was read from."""

    start: int
    end: int
    text: str


def anaphor_kind(tokens: list[re.Match[str]], i: int, text: str) -> str | None:
    """``"possessive"``, ``"contraction"``, ``"pronoun"`` or ``None`` for the ``i``-th token."""
    word = tokens[i].group().lower()
    base, _, suffix = word.partition("'")
    if suffix in CONTRACTIONS and base in ("it", "he", "she", "they"):
        return "contraction"
    after = tokens[i + 1].group().lower() if i + 1 < len(tokens) else ""
    gap = text[tokens[i].end() : tokens[i + 1].start()] if after else ""
    follows_word = bool(after) and not re.search(r"[^\s\"]", gap)
    if word in _POSSESSIVES or (word == "her" and follows_word and after not in _FUNCTION):
        return "possessive" if follows_word or word == "its" else "pronoun"
    if word in PERSONAL or word in _NEUTER:
        return "pronoun"
    if word in _DEMONSTRATIVES:
        before = tokens[i - 1].group().lower() if i else ""
        led = not before or before in WH or before in AUX or before in PREPOSITIONS
        verb = after in AUX or after in _LIGHT_VERBS or after.endswith(("ed", "en", "ing"))
        final = (
            i + 2 >= len(tokens)
            or bool(  # "when was this built?": a one-word predicate
                re.search(r"[^\w\s'\"]", text[tokens[i + 1].end() : tokens[i + 2].start()])
            )
        )
        verb = verb or (follows_word and final)
        if word == "that" or word == "this":  # "the band that released": relative
            led = led and before not in PREPOSITIONS
        if not follows_word or (led and verb):
            return "pronoun"
    return None


def starts_own_clause(tokens: list[re.Match[str]], i: int, text: str) -> bool:
    """Whether the ``i``-th token is the subject of a clause of its own ("..., and when did
    he graduate?"), so a pronoun there may mean an entity named earlier in the message. A
    list item ("which is older, it or X?") is not."""
    if not _NEW_CLAUSE.search(text[max(0, tokens[i].start() - 80) : tokens[i].start()]):
        return False
    if i + 1 == len(tokens) or not _adjacent(text, tokens[i], tokens[i + 1]):
        return False
    return tokens[i + 1].group().lower() not in ("or", "and", "nor")


def pronoun_family(word: str) -> str:
    """The pronoun family of ``word``: ``"he"``, ``"she"``, ``"they"`` or ``"it"``."""
    base = word.lower().partition("'")[0]
    for name, members in _FAMILIES.items():
        if base in members:
            return name
    return "it"


def anaphors(text: str) -> bool:
    """Whether ``text`` holds a pronoun that refers back."""
    tokens = list(TOKEN.finditer(text))
    return any(anaphor_kind(tokens, i, text) for i in range(len(tokens)))


def main_subject(text: str) -> str | None:
    """What a standalone turn is about: "about X" at its end, its first entity, or its topic."""
    about = _ABOUT.search(text.rstrip(" ?!.")[-200:])
    x = about["x"].strip() if about else ""
    if x and (_capitalised(x) or x[0].isdigit()) and not anaphors(x):
        return x
    span = subject_span(text)
    return span.text if span else None


def subject_span(text: str) -> Span | None:
    """The first entity of ``text``, or else its topic."""
    named = entities(text)
    return named[0] if named else topic(text)


def entities(text: str) -> list[Span]:
    """Quoted spans and runs of capitalised words, in order (see the module docstring).

    >>> [e.text for e in entities('Did The Who play "My Generation" in Lord of the Rings?')]
    ['The Who', 'My Generation', 'Lord of the Rings']
    """
    quoted = [Span(m.start(1), m.end(1), m.group(1).strip()) for m in _QUOTED.finditer(text)]
    spans = [q for q in quoted if q.text]
    tokens, q = [], 0
    for tok in TOKEN.finditer(text):
        while q < len(quoted) and quoted[q].end <= tok.start():
            q += 1
        if not (q < len(quoted) and quoted[q].start <= tok.start()):
            tokens.append(tok)
    i = 0
    while i < len(tokens):
        tok, word = tokens[i], tokens[i].group()
        before = text[tokens[i - 1].end() : tok.start()] if i else text[: tok.start()]
        sentence_start = i == 0 or any(c in before for c in ".?!:;")
        if (
            not _capitalised(word)
            or word == "I"
            or word.startswith("I'")
            or (sentence_start and word.lower() in _FUNCTION)
        ):
            i += 1
            continue
        j = i + 1
        while j < len(tokens) and _adjacent(text, tokens[j - 1], tokens[j]):
            if _capitalised(tokens[j].group()) or tokens[j].group()[0].isdigit():
                j += 1
                continue
            k = j  # connectors ("of", "of the", "van der") between capitalised words
            while k < len(tokens) and tokens[k].group() in NAME_CONNECTORS:
                k += 1 if _adjacent(text, tokens[k - 1], tokens[k]) else len(tokens)
            if k < len(tokens) and _adjacent(text, tokens[k - 1], tokens[k]):
                if _capitalised(tokens[k].group()):
                    j = k + 1
                    continue
            break
        start, end = tok.start(), tokens[j - 1].end()
        if text[end - 2 : end] == "'s":
            end -= 2
        nxt = tokens[j].group() if j < len(tokens) else ""
        sentence_case = sentence_start and j == i + 1 and nxt.islower() and nxt not in _FUNCTION
        if not sentence_case:
            spans.append(Span(start, end, text[start:end]))
        i = j
    return sorted(spans, key=lambda s: s.start)


def topic(text: str) -> Span | None:
    """The last run of content words (at most four), when nothing is capitalised."""
    runs: list[list[re.Match[str]]] = [[]]
    previous_end = 0
    for tok in TOKEN.finditer(text):
        word = tok.group().lower()
        content = word not in _FUNCTION and word not in _LIGHT_VERBS and not word.isdigit()
        if not content or text[previous_end : tok.start()].strip():
            runs.append([])
        if content:
            runs[-1].append(tok)
        previous_end = tok.end()
    run = next((r[-4:] for r in reversed(runs) if r), None)
    return (
        Span(run[0].start(), run[-1].end(), text[run[0].start() : run[-1].end()]) if run else None
    )


def _capitalised(word: str) -> bool:
    return word[0].isupper() or (word[0].islower() and any(c.isupper() for c in word[1:]))


def _adjacent(text: str, left: re.Match[str], right: re.Match[str]) -> bool:
    return not text[left.end() : right.start()].strip()
