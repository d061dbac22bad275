r"""The one place values become Milvus expression text.

Milvus filter expressions take string literals in double quotes with C-style escapes.
What both Milvus (Go) and Milvus Lite (Python) accept is the common subset: any
Unicode character written as itself, and the escapes ``\"``, ``\\``, ``\n``, ``\r`` and
``\t``. JSON's ``\uXXXX`` escapes are rejected by Milvus Lite, and ``MilvusClient.get``
wraps ids in quotes without escaping them, so nothing in this project builds expression
text any other way (expression templates, ``filter_params``, are not supported by Milvus
Lite 3.2).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def string_literal(value: str) -> str:
    r"""``value`` as a Milvus string literal.

    Raises:
        ValueError: ``value`` is not a string, or holds a control character other than
            newline, carriage return and tab, or an unpaired surrogate (neither can be
            written in an expression both Milvus and Milvus Lite read back the same).

    Example:
        >>> print(string_literal("Tucker's Island, Bermuda"))
        "Tucker's Island, Bermuda"
        >>> print(string_literal('say "hi"\\ \n Zürich'))
        "say \"hi\"\\ \n Zürich"
    """
    if not isinstance(value, str):
        raise ValueError(f"a Milvus string literal needs a str, got {type(value).__name__}")
    out = []
    for ch in value:
        escaped = _ESCAPES.get(ch)
        if escaped is not None:
            out.append(escaped)
        elif unicodedata.category(ch) in ("Cc", "Cs"):
            raise ValueError(f"cannot write {ch!r} in a Milvus expression (in {value[:80]!r})")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def field_in(field: str, values: Iterable[str]) -> str:
    """The expression ``field in ["a", "b", ...]`` (an empty list matches nothing).

    Example:
        >>> print(field_in("doc_id", ["a", 'b"c']))
        doc_id in ["a", "b\\"c"]
    """
    if not _FIELD.match(field):
        raise ValueError(f"{field!r} is not a field name")
    return f"{field} in [{', '.join(string_literal(v) for v in values)}]"


def field_equals(field: str, value: str) -> str:
    """The expression ``field == "value"``.

    Example:
        >>> print(field_equals("doc_id", "C:\\\\docs\\\\a.md"))
        doc_id == "C:\\\\docs\\\\a.md"
    """
    if not _FIELD.match(field):
        raise ValueError(f"{field!r} is not a field name")
    return f"{field} == {string_literal(value)}"
