"""Document ids and chunking, counted with the packaged MiniLM's own tokenizer."""

from __future__ import annotations

import re

import pytest
from transformers import AutoTokenizer

from deployments.retriever.chunking import Chunker, chunk_id, content_id
from deployments.retriever.embedder import packaged_minilm_path
from deployments.types import Document

WORDS = (
    "alpha beta gamma delta epsilon zeta eta theta iota kappa "
    "lambda mu nu xi omicron pi rho sigma tau upsilon"
).split()
LONG_TEXT = " ".join(f"Sentence {i} is about the {w} topic." for i, w in enumerate(WORDS))


@pytest.fixture(scope="module")
def tokenize():
    return AutoTokenizer.from_pretrained(packaged_minilm_path()).tokenize


def test_content_id_is_stable_and_distinct() -> None:
    assert content_id("Milvus stores vectors.") == content_id("Milvus stores vectors.")
    assert content_id("Milvus stores vectors.") != content_id("Milvus stores vectors")
    assert content_id("a b") != content_id("a  b")
    assert re.fullmatch(r"[0-9a-f]{32}", content_id("héllo ✓"))


def test_chunk_ids_are_zero_padded_and_sort_in_reading_order() -> None:
    assert chunk_id("doc", 0) == "doc#0000"
    assert chunk_id("doc", 12) == "doc#0012"
    ids = [chunk_id("doc", i) for i in range(12)]
    assert sorted(ids) == ids


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
