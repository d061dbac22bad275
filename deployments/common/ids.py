"""Document and chunk ids: what a valid id is, and how ids are derived.

A document id is any Unicode text users give their documents (titles, file paths, URLs),
up to :data:`MAX_DOC_ID_BYTES` bytes of UTF-8, without control characters or unpaired
surrogates (which no store can hold). Ids reach Milvus expressions only through
:mod:`deployments.common.store.expr`.
"""

from __future__ import annotations

import hashlib
import json
import time
import unicodedata
from collections.abc import Sequence
from typing import Any, TypeVar

T = TypeVar("T")

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


VERSION_CHARS = 8
_BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def version_stamp(ms: int | None = None) -> str:
    """A document version: the time it was submitted, in milliseconds, as 8 base-36 digits
    (fixed width, so versions sort as strings in time order until 2059; every stamp sorts
    after the digits of a version-less chunk id).

    >>> version_stamp(0), version_stamp(1_796_000_000_000)
    ('00000000', 'mx2k114w')
    >>> version_stamp(1) < version_stamp(36)
    True
    """
    value = int(time.time() * 1000) if ms is None else ms
    digits = []
    for _ in range(VERSION_CHARS):
        value, rest = divmod(value, 36)
        digits.append(_BASE36[rest])
    return "".join(reversed(digits))


def chunk_id(doc_id: str, index: int, version: str = "") -> str:
    """The id of the ``index``-th chunk of one version of a document (zero-padded: sorts in
    reading order). Versions keep a replacement's chunks apart from the ones it replaces
    until the old ones are deleted; ids without a version are from before versions.

    >>> chunk_id("abc", 3, "mxn0o40w")
    'abc#mxn0o40w#0003'
    >>> chunk_id("Tucker's Island, Bermuda", 0)
    "Tucker's Island, Bermuda#0000"
    """
    return f"{doc_id}#{version}#{index:04d}" if version else f"{doc_id}#{index:04d}"


def chunk_version(chunk: str, doc_id: str) -> str:
    """The version part of a chunk id of ``doc_id`` ("" for a version-less id).

    >>> chunk_version("a#b#mxn0o40w#0003", "a#b"), chunk_version("a#0003", "a")
    ('mxn0o40w', '')
    """
    rest = chunk[len(doc_id) + 1 :]
    version, sep, _ = rest.partition("#")
    return version if sep else ""


def versions_before(doc_id: str, version: str) -> str:
    """The smallest chunk id of ``version`` of ``doc_id``: every chunk id of the document
    that sorts below it belongs to an older version (or to none).

    >>> versions_before("d", "mxn0o40w")
    'd#mxn0o40w#'
    >>> "d#0007" < versions_before("d", "mxn0o40w") < "d#mxn0o40w#0000"
    True
    """
    return f"{doc_id}#{version}#"


def keep_latest_versions(items: Sequence[T], key=lambda item: item) -> list[T]:
    """``items`` (hits, in order) without those of a document's older versions: while a
    replacement is being swapped in, a search may see chunks of both versions, and a
    reader must see one. ``key`` gives an item's ``(chunk_id, doc_id)``.

    >>> keep_latest_versions([("d#b#0000", "d"), ("e#0000", "e"), ("d#a#0001", "d")])
    [('d#b#0000', 'd'), ('e#0000', 'e')]
    """
    newest: dict[str, str] = {}
    for item in items:
        chunk, doc = key(item)
        version = chunk_version(chunk, doc)
        if version > newest.get(doc, ""):
            newest[doc] = version
    return [item for item in items if chunk_version(*key(item)) == newest.get(key(item)[1], "")]


def content_digest(text: str, title: str, metadata: dict[str, Any]) -> str:
    """A digest of what a document holds, to tell an unchanged replacement from a new one.

    >>> content_digest("t", "", {}) == content_digest("t", "", {})
    True
    >>> content_digest("t", "", {"a": 1}) == content_digest("t", "", {"a": 2})
    False
    """
    canonical = json.dumps([text, title, metadata], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()[:32]


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
