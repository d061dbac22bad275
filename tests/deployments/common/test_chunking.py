"""Chunking, counted with the packaged MiniLM's own tokenizer, and bounded in bytes."""

from __future__ import annotations

import re

import pytest
from transformers import AutoTokenizer

from deployments.common.chunking import MAX_CHUNK_BYTES, Chunker, byte_bounded
from deployments.common.encoders.checkpoint import packaged_model_dir
from deployments.common.ids import chunk_id
from deployments.types import Document

WORDS = (
    "alpha beta gamma delta epsilon zeta eta theta iota kappa "
    "lambda mu nu xi omicron pi rho sigma tau upsilon"
).split()
LONG_TEXT = " ".join(f"Sentence {i} is about the {w} topic." for i, w in enumerate(WORDS))


@pytest.fixture(scope="module")
def tokenize():
    return AutoTokenizer.from_pretrained(packaged_model_dir()).tokenize


def test_chunks_respect_token_budget_and_keep_all_text(tokenize) -> None:
    chunker = Chunker(chunk_size=40, chunk_overlap=0, tokenize=tokenize)
    doc = Document("doc1", LONG_TEXT, "Greek letters", {"source": "x.md"})

    chunks = chunker.split(doc)

    assert len(chunks) > 1
    assert all(len(tokenize(c.text)) <= 40 for c in chunks)
    assert " ".join(c.text for c in chunks) == LONG_TEXT
    assert [c.chunk_id for c in chunks] == [chunk_id("doc1", i) for i in range(len(chunks))]
    assert {(c.doc_id, c.title) for c in chunks} == {("doc1", "Greek letters")}
    assert all(c.metadata == {"source": "x.md"} for c in chunks)


def test_overlap_repeats_text_across_consecutive_chunks(tokenize) -> None:
    chunker = Chunker(chunk_size=40, chunk_overlap=12, tokenize=tokenize)
    chunks = chunker.split(Document("doc1", LONG_TEXT))

    assert all(len(tokenize(c.text)) <= 40 for c in chunks)
    last_sentences = [re.findall(r"Sentence \d+ ", c.text)[-1] for c in chunks[:-1]]
    assert all(s in nxt.text for s, nxt in zip(last_sentences, chunks[1:], strict=True))
    for i, _ in enumerate(WORDS):  # nothing lost
        assert any(f"Sentence {i} " in c.text for c in chunks)


def test_budget_is_in_word_pieces_not_words(tokenize) -> None:
    word = "Pneumonoultramicroscopicsilicovolcanoconiosis"
    assert len(tokenize(word)) > 10
    text = " ".join([word] * 10)  # 10 words, far more than 32 word pieces

    chunks = Chunker(chunk_size=32, chunk_overlap=0, tokenize=tokenize).split(Document("d", text))

    assert len(chunks) > 1
    assert all(len(tokenize(c.text)) <= 32 for c in chunks)
    assert sum(c.text.count(word) for c in chunks) == 10


def test_short_document_is_one_stripped_chunk(tokenize) -> None:
    chunker = Chunker(chunk_size=200, chunk_overlap=30, tokenize=tokenize)
    (chunk,) = chunker.split(Document("short", "  One short sentence.\n", "T"))
    assert chunk.chunk_id == "short#0000"
    assert chunk.text == "One short sentence."
    assert chunk.search_text == "T\nOne short sentence."


def test_split_all_keeps_document_order(tokenize) -> None:
    chunker = Chunker(chunk_size=40, chunk_overlap=0, tokenize=tokenize)
    docs = [Document("b", "Bees buzz."), Document("a", LONG_TEXT), Document("c", "Cats nap.")]
    chunks = chunker.split_all(docs)
    doc_order = list(dict.fromkeys(c.doc_id for c in chunks))
    assert doc_order == ["b", "a", "c"]
    assert len(chunks) == 2 + len(chunker.split(docs[1]))


def test_text_without_spaces_is_cut_to_the_byte_budget(tokenize) -> None:
    text = "x" * 70_000  # one "word": the tokenizer counts it as a single [UNK]
    chunks = Chunker(chunk_size=200, chunk_overlap=30, tokenize=tokenize).split(Document("d", text))
    assert len(chunks) == 5
    assert all(len(c.text.encode()) <= MAX_CHUNK_BYTES for c in chunks)
    assert "".join(c.text for c in chunks) == text


def test_multibyte_text_is_cut_between_characters(tokenize) -> None:
    text = "東京" * 10_000  # 60,000 bytes of UTF-8, no spaces
    chunks = Chunker(chunk_size=200, chunk_overlap=0, tokenize=tokenize, max_bytes=1000).split(
        Document("d", text)
    )
    assert all(len(c.text.encode()) <= 1000 for c in chunks)
    assert "".join(c.text for c in chunks) == text


def test_byte_bounded_prefers_whitespace() -> None:
    pieces = list(byte_bounded("alpha beta gamma delta", max_bytes=12))
    assert pieces == ["alpha beta", "gamma delta"]
    with pytest.raises(ValueError, match="at least 4"):
        list(byte_bounded("x", max_bytes=2))
