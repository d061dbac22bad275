"""Query text as every stage sees it: one normalisation, and which characters survive it.

The rewriter searches with :func:`normalize`'s output; the ingress refuses a query of
which nothing would survive (:data:`SEARCHABLE`, also the spec's ``pattern``), so the two
agree on what a searchable query is.
"""

from __future__ import annotations

import unicodedata

_PUNCTUATION = str.maketrans(
    {
        **dict.fromkeys("\u2018\u2019\u201a\u201b\u2032\u00b4", "'"),
        **dict.fromkeys("\u201c\u201d\u201e\u201f\u2033\u00ab\u00bb", '"'),
        **dict.fromkeys("\u2010\u2011\u2012\u2013\u2212\u2043", "-"),
        **dict.fromkeys("\u2014\u2015", " - "),  # em dash / bar separate words, not join them
    }
)
_DROPPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co"})  # control, format, surrogate, private


def normalize(query: str) -> str:
    r"""Canonical form of a query; case is kept (Milvus BM25 lower-cases on its own).

    Applies Unicode NFKC, maps typographic quotes and dashes to ASCII, drops control and
    format characters (zero-width spaces, BOMs, NULs), turns any whitespace into single
    spaces and strips the ends.

    Example:
        >>> normalize("  What\u2019s \u201cRRF\u201d\u2014in\tshort?\u200b\x00 ")
        'What\'s "RRF" - in short?'
        >>> normalize("\uff32\uff21\uff27  pipeline\u00a0\u2013 latency")  # full-width, NBSP
        'RAG pipeline - latency'
    """
    text = unicodedata.normalize("NFKC", query).translate(_PUNCTUATION)
    text = "".join(
        " " if ch.isspace() else "" if unicodedata.category(ch) in _DROPPED_CATEGORIES else ch
        for ch in text
    )
    return " ".join(text.split())


# Code point ranges that normalize() removes or turns into spaces: whitespace and the
# dropped categories (Unicode of Python 3.11; tests/deployments/common/test_text.py
# recomputes them from unicodedata).
UNSEARCHABLE_RANGES: tuple[tuple[int, int], ...] = (
    (0x0000, 0x0020), (0x007F, 0x00A0), (0x00AD, 0x00AD), (0x0600, 0x0605),
    (0x061C, 0x061C), (0x06DD, 0x06DD), (0x070F, 0x070F), (0x0890, 0x0891),
    (0x08E2, 0x08E2), (0x1680, 0x1680), (0x180E, 0x180E), (0x2000, 0x200F),
    (0x2028, 0x202F), (0x205F, 0x2064), (0x2066, 0x206F), (0x3000, 0x3000),
    (0xD800, 0xF8FF), (0xFEFF, 0xFEFF), (0xFFF9, 0xFFFB), (0x110BD, 0x110BD),
    (0x110CD, 0x110CD), (0x13430, 0x13438), (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A),
    (0xE0001, 0xE0001), (0xE0020, 0xE007F), (0xF0000, 0xFFFFD), (0x100000, 0x10FFFD),
)  # fmt: skip


def _escape(cp: int) -> str:
    # Beyond the BMP the character itself: JSON Schema validators differ on \U escapes,
    # while a Python regex over a str compares code points either way.
    return f"\\u{cp:04x}" if cp <= 0xFFFF else chr(cp)


def _pattern_ranges() -> list[tuple[int, int]]:
    # Surrogates never reach a check (a JSON string with a lone one is refused first), and
    # an escaped one makes the pattern invalid ECMA regex: leave them out of the class.
    out = []
    for a, b in UNSEARCHABLE_RANGES:
        if a < 0xD800 <= b:
            out.append((a, 0xD7FF))
        if a <= 0xDFFF < b:
            out.append((0xE000, b))
        elif not 0xD800 <= a <= 0xDFFF and not a < 0xD800 <= b:
            out.append((a, b))
    return out


SEARCHABLE = (
    "[^"
    + "".join(_escape(a) if a == b else f"{_escape(a)}-{_escape(b)}" for a, b in _pattern_ranges())
    + "]"
)
"""Regex (a search; Python ``re`` syntax) of one character that survives
:func:`normalize`: a query matching it has something to search for."""


def searchable(text: str) -> bool:
    """Whether anything of ``text`` survives :func:`normalize`.

    >>> searchable("\\u008f\\u200b "), searchable("tides?")
    (False, True)
    """
    return bool(normalize(text))
