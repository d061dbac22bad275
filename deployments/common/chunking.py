"""How documents become chunks: llama-index's SentenceSplitter, counted in encoder tokens,
then bounded in bytes so every chunk fits the store's VARCHAR fields."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from llama_index.core.node_parser import SentenceSplitter

from deployments.common.ids import chunk_id
from deployments.types import Chunk, Document

#: Largest chunk text, in UTF-8 bytes. A text the splitter cannot break (no spaces, or
#: one huge "word" the tokenizer counts as a single [UNK]) is cut at this size; with a
#: title of up to 4 KiB, a chunk's search text stays far below Milvus' 65,535-byte VARCHAR.
MAX_CHUNK_BYTES = 16_384


def byte_bounded(text: str, max_bytes: int = MAX_CHUNK_BYTES) -> Iterator[str]:
    """``text`` in pieces of at most ``max_bytes`` UTF-8 bytes, cut at whitespace where
    there is some in the second half of a piece, never inside a character.

    >>> [len(p) for p in byte_bounded("a" * 10, max_bytes=4)]
    [4, 4, 2]
    >>> list(byte_bounded("aa bb cc", max_bytes=6))
    ['aa bb', 'cc']
    >>> [p.encode() for p in byte_bounded("ééé", max_bytes=5)]  # 2 bytes per é
    [b'\\xc3\\xa9\\xc3\\xa9', b'\\xc3\\xa9']
    """
    if max_bytes < 4:
        raise ValueError(f"max_bytes must be at least 4 (one character), got {max_bytes}")
    rest = text
    while len(rest.encode("utf-8")) > max_bytes:
        cut = len(rest.encode("utf-8")[:max_bytes].decode("utf-8", "ignore"))
        space = rest.rfind(" ", cut // 2, cut)
        if space > 0:
            cut = space
        piece, rest = rest[:cut].strip(), rest[cut:].lstrip()
        if piece:
            yield piece
    if rest.strip():
        yield rest.strip()


class Chunker:
    """Splits documents into sentence-aligned chunks of at most ``chunk_size`` tokens
    and :data:`MAX_CHUNK_BYTES` bytes.

    Args:
        chunk_size: Budget per chunk, in tokens of ``tokenize``.
        chunk_overlap: Tokens shared by consecutive chunks.
        tokenize: The encoder's tokenizer (so the budget matches what the encoder sees).
        max_bytes: Byte budget per chunk text.
    """

    def __init__(
        self,
        *,
        chunk_size: int,
        chunk_overlap: int,
        tokenize: Callable[[str], list],
        max_bytes: int = MAX_CHUNK_BYTES,
    ) -> None:
        self._splitter = SentenceSplitter(
            chunk_size=chunk_size, chunk_overlap=chunk_overlap, tokenizer=tokenize
        )
        self._max_bytes = max_bytes

    def split(self, doc: Document) -> list[Chunk]:
        """Chunks of one document, in reading order; never empty for non-blank text.

        Deterministic: the same document and settings always give the same chunks and
        ids, which is what makes a re-run of an interrupted ingestion exact.
        """
        pieces = [p.strip() for p in self._splitter.split_text(doc.text)]
        pieces = [p for p in pieces if p] or [doc.text.strip()]
        bounded = [b for p in pieces for b in byte_bounded(p, self._max_bytes)]
        return [
            Chunk(chunk_id(doc.doc_id, i, doc.version), doc.doc_id, doc.title, piece, doc.metadata)
            for i, piece in enumerate(bounded)
        ]

    def split_all(self, docs: Sequence[Document]) -> list[Chunk]:
        return [chunk for doc in docs for chunk in self.split(doc)]
