"""Document and chunk ids: what a valid id is, and how ids are derived.

A document id is any Unicode text users give their documents (titles, file paths, URLs),
up to :data:`MAX_DOC_ID_BYTES` bytes of UTF-8, without control characters or unpaired
surrogates (which no store can hold). Ids reach Milvus expressions only through
:mod:`deployments.common.store.expr`.
"""

from __future__ import annotations

import hashlib
import unicodedata

#: Longest document id, in UTF-8 bytes (the store's VARCHAR limits count bytes).
MAX_DOC_ID_BYTES = 512
#: Longest chunk id: a document id, "#" and the chunk's number.
MAX_CHUNK_ID_BYTES = MAX_DOC_ID_BYTES + 16


def content_id(text: str) -> str:
    """A document id derived from its text, so the same text always gets the same id.

    >>> content_id("hello") == content_id("hello")
    True
    >>> len(content_id("hello"))
    32
    """
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def chunk_id(doc_id: str, index: int) -> str:
    """The id of the ``index``-th chunk of a document (zero-padded: sorts in reading order).

    >>> chunk_id("abc", 3)
    'abc#0003'
    >>> chunk_id("Tucker's Island, Bermuda", 0)
    "Tucker's Island, Bermuda#0000"
    """
    return f"{doc_id}#{index:04d}"


def id_problem(value: str) -> str | None:
    """Why ``value`` cannot be a document id, or None when it can.

    >>> id_problem("Zürich / 東京 — Tucker's Island") is None
    True
    >>> id_problem("   ")
    'must contain a character other than whitespace'
    >>> id_problem("line\\nbreak")
    "must not contain control characters (found '\\\\n' at 4)"
    >>> id_problem("x" * 600)
    'must be at most 512 bytes of UTF-8 (got 600)'
    """
    if not value.strip():
        return "must contain a character other than whitespace"
    for i, ch in enumerate(value):
        category = unicodedata.category(ch)
        if category == "Cc":
            return f"must not contain control characters (found {ch!r} at {i})"
        if category == "Cs":
            return f"must not contain unpaired surrogates (found {ch!r} at {i})"
    size = len(value.encode("utf-8"))
    if size > MAX_DOC_ID_BYTES:
        return f"must be at most {MAX_DOC_ID_BYTES} bytes of UTF-8 (got {size})"
    return None
