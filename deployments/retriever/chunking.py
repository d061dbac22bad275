"""Document ids and chunking (llama-index's SentenceSplitter, counted in encoder tokens)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

from llama_index.core.node_parser import SentenceSplitter

from deployments.types import Chunk, Document

#: Longest document id accepted (Milvus VARCHAR primary keys are kept short).
MAX_ID_LENGTH = 100


def content_id(text: str) -> str:
    """A document id derived from its text, so the same text always gets the same id.

    >>> content_id("hello") == content_id("hello")
    True
    >>> len(content_id("hello"))
    32
    """
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def chunk_id(doc_id: str, index: int) -> str:
    """The id of the ``index``-th chunk of a document.

    >>> chunk_id("abc", 3)
    'abc#0003'
    """
    return f"{doc_id}#{index:04d}"


class Chunker:
    """Splits documents into sentence-aligned chunks of at most ``chunk_size`` tokens.

    Args:
        chunk_size: Budget per chunk, in tokens of ``tokenize``.
        chunk_overlap: Tokens shared by consecutive chunks.
        tokenize: The encoder's tokenizer (so the budget matches what the encoder sees).
    """

    def __init__(
        self, *, chunk_size: int, chunk_overlap: int, tokenize: Callable[[str], list]
    ) -> None:
        self._splitter = SentenceSplitter(
            chunk_size=chunk_size, chunk_overlap=chunk_overlap, tokenizer=tokenize
        )

    def split(self, doc: Document) -> list[Chunk]:
        """Chunks of one document, in reading order; never empty for non-blank text."""
        pieces = [p.strip() for p in self._splitter.split_text(doc.text)]
        pieces = [p for p in pieces if p] or [doc.text.strip()]
        return [
            Chunk(chunk_id(doc.doc_id, i), doc.doc_id, doc.title, piece, doc.metadata)
            for i, piece in enumerate(pieces)
        ]

    def split_all(self, docs: Sequence[Document]) -> list[Chunk]:
        return [chunk for doc in docs for chunk in self.split(doc)]
