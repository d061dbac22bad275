"""Entity keys: the names a passage mentions, written so they compare exactly (pure).

The store keeps each chunk's keys with it, in its ``entities`` field written as
``|key|key|...|`` (:func:`entity_field`), so the supervisor's agents follow entity links by
exact match (``entities like "%|tinted windows|%"``) instead of scanning the text for a
substring. A *key* is a name folded by :func:`fold` (lowercase letters and digits, single
spaces: never a delimiter or a ``like`` wildcard); a title is mentioned as
:func:`title_key`, without its trailing "(disambiguation)".

Why a delimited string and not an ARRAY field with ``array_contains_any``: Milvus Lite
evaluates array functions row by row in Python (278 ms per filtered search over the
6,537 HotpotQA chunks, against 22 ms for a ``like`` over a VARCHAR, which it runs
vectorised in Arrow); a ``like`` also runs on every Milvus server.

Names are runs of capitalised or numeric words, with connectors ("of the", "van der",
"and") and initials ("Michael C. Hall") inside, and a place's qualifier after a comma
("Rochester Hills, Michigan"). A run gives its own key and the keys of its shorter
stretches (up to :data:`MAX_WORDS` words) that start and end on a capitalised or numeric
word, so a title inside a longer name is still found ("U2 360° Tour" in "their U2 360°
Tour in Barcelona", "Asian Games" in "the 1970 Asian Games").
"""

from __future__ import annotations

import itertools
import re
import unicodedata

from deployments.common.words import NAME_CONNECTORS

#: At most this many keys per chunk (the schema's ``max_capacity``); the first met win.
MAX_ENTITIES = 128
#: A key longer than this (UTF-8 bytes) is not stored.
MAX_KEY_BYTES = 128
#: The ``entities`` field's size (the schema's ``max_length``): what MAX_ENTITIES keys of
#: MAX_KEY_BYTES bytes and their delimiters take at most.
ENTITIES_MAX_BYTES = MAX_ENTITIES * (MAX_KEY_BYTES + 1) + 1
#: Stretches of a run longer than this are not keyed (the run itself always is, if it fits).
MAX_WORDS = 5

_NON_WORD = re.compile(r"[\W_]+")
_DISAMBIGUATION = re.compile(r"\s*\([^()]*\)\s*$")
_WORD = re.compile(r"\w+(?:['’-]\w+)*")
_QUOTED = re.compile(r'"([^"]{1,120})"')
_POSSESSIVE = re.compile(r"['’]s$")
# Abbreviations a name continues after ("St. Louis", "Vol. 2"), besides initials.
_ABBREVIATIONS = frozenset("st mt ft vol no jr sr dr mr mrs ms gen col lt sgt".split())
_CONNECTORS = NAME_CONNECTORS | {"and"}  # "Charles and Ray Eames"
# Capitalised words that open sentences or name no passage of their own.
_STOP = frozenset(
    "a an the he she it they we i you his her its their our this that these those there "
    "in on at of for to from by with as after before during when while where which who "
    "what how why but and or so if then also however although because since".split()
)
_NOT_TAIL = _STOP | _CONNECTORS  # words that never follow a name as part of it


def fold(text: str) -> str:
    """Lowercase, accents and punctuation removed, words joined by single spaces.

    >>> fold("Beyoncé's  \\"Lemonade\\" (album)!")
    'beyonce s lemonade album'
    >>> fold("100%_pure|wool")
    '100 pure wool'
    """
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _NON_WORD.sub(" ", plain.lower()).strip()


def title_key(title: str) -> str:
    """The title as it is mentioned: folded, without a trailing "(disambiguation)".

    >>> title_key("Tinted Windows (band)")
    'tinted windows'
    """
    return fold(_DISAMBIGUATION.sub("", title))


def passage_keys(text: str, limit: int = MAX_ENTITIES) -> list[str]:
    """The keys of the names ``text`` mentions, first met first, without repeats.

    >>> print(*passage_keys("He won at the 1970 Asian Games in Bangkok, Thailand."), sep="|")
    1970 asian games|1970 asian|asian games|1970|asian|games|bangkok thailand|bangkok|thailand
    >>> print(*passage_keys('During the Taconic orogeny, Ms. Kay sang "Levee Breaks".'), sep="|")
    levee breaks|taconic|taconic orogeny|ms kay|ms|kay|ms kay sang|kay sang|levee|breaks
    """
    keys: dict[str, None] = {}
    quoted = (fold(q) for q in _QUOTED.findall(text))  # titles of works: "Levee Breaks"
    named = (key for run, tail in _runs(text) for key in _run_keys(run, tail))
    for key in itertools.chain(quoted, named):
        if len(keys) >= limit:
            break
        if key and len(key.encode()) <= MAX_KEY_BYTES:
            keys.setdefault(key)
    return list(keys)


def _run_keys(run: list[str], tail: str | None) -> list[str]:
    """A run's key and its stretches, then the run with the lowercase word after it."""
    extra = [" ".join([*run, tail]), " ".join([*run[-1:], tail])] if tail else []
    return [*_stretches(run), *extra]


def _runs(text: str) -> list[tuple[list[str], str | None]]:
    """Runs of name words (each run's words, folded; a comma qualifier joined to its run),
    each with the lowercase word right after it, if any ("Taconic orogeny")."""
    runs: list[tuple[list[str], str | None]] = []
    current: list[str] = []
    last_end = 0
    joined = False  # the current run took a ", Qualifier" already
    for match in _WORD.finditer(text):
        word = match.group()
        gap = text[last_end : match.start()]
        name = word[0].isupper() or word[0].isdigit()
        follows = current and (
            not gap.strip()
            or (gap == ". " and (len(current[-1]) == 1 or current[-1].lower() in _ABBREVIATIONS))
            or (gap == ", " and name and not joined and word.lower() not in _STOP)
        )
        if follows and (name or word in _CONNECTORS):
            joined = joined or gap == ", "
            current.append(word)
        else:
            tail = word.lower() if gap == " " and word.lower() not in _NOT_TAIL else None
            _close(current, runs, None if name else tail)
            current, joined = ([word] if name else []), False
        if name and _POSSESSIVE.search(word):  # "Shane Mosley's" and "Tucker's Island"
            _close([*current[:-1], _POSSESSIVE.sub("", word)], runs, None)
        last_end = match.end()
    _close(current, runs, None)
    return runs


def _close(run: list[str], runs: list, tail: str | None) -> None:
    if run and not _named(run[-1]):  # a run never ends on a connector
        tail = None
    while run and not _named(run[-1]):
        run = run[:-1]
    if len(run) > 1 and run[0] != "The" and run[0].lower() in _STOP:  # "In Paris"
        run = run[1:]
    while run and not _named(run[0]):  # "During the Taconic orogeny"
        run = run[1:]
    words = [fold(w) for w in run if fold(w)]
    if words and not (len(run) == 1 and run[0].lower() in _STOP):
        runs.append((words, fold(tail) or None if tail else None))


def _named(word: str) -> bool:
    return word[0].isupper() or word[0].isdigit()


def _stretches(run: list[str]) -> list[str]:
    """The run's key, then its shorter stretches, longest first (all end on name words)."""
    if not run:
        return []
    out = [" ".join(run)]
    n = len(run)
    for size in range(min(n - 1, MAX_WORDS), 0, -1):
        for start in range(n - size + 1):
            part = run[start : start + size]
            if (part[0] in _CONNECTORS and part[0] != "the") or part[-1] in _CONNECTORS:
                continue
            if size == 1 and (part[0] in _STOP or len(part[0]) < 2):
                continue
            out.append(" ".join(part))
    return out


def entity_field(keys: list[str]) -> str:
    """The ``entities`` field of a chunk: its keys between ``|`` delimiters ("" if none).

    >>> entity_field(["tinted windows", "austin"])
    '|tinted windows|austin|'
    """
    return f"|{'|'.join(keys)}|" if keys else ""


def entity_pattern(key: str) -> str:
    """The ``like`` pattern matching a chunk whose ``entities`` hold ``key`` exactly.

    >>> entity_pattern("austin")
    '%|austin|%'
    """
    return f"%|{key}|%"
