"""ingest_documents with the packaged MiniLM, a real Milvus Lite file and a fake reranker."""

from __future__ import annotations

import asyncio

import pytest

from deployments.retriever.chunking import Chunker, content_id
from deployments.retriever.config import EmbedderConfig, MilvusConfig
from deployments.retriever.core import ingest_documents
from deployments.retriever.embedder import Embedder
from deployments.retriever.store import MilvusStore
from deployments.types import Document


class FakePassageEncoder:
    """Stands in for ``reranker.encode_passages``: one short string per text."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.calls: list[list[str]] = []

    async def __call__(self, texts: list[str]) -> list[str]:
        self.calls.append(list(texts))
        if self.fail:
            raise RuntimeError("reranker replica died")
        return [f"tok:{t[:12]}" for t in texts]


@pytest.fixture(scope="module")
def stage(tmp_path_factory: pytest.TempPathFactory):
    embedder = Embedder(EmbedderConfig())
    uri = str(tmp_path_factory.mktemp("milvus") / "ingest.db")
    store = MilvusStore(MilvusConfig(uri=uri, collection="ingest"), dim=embedder.dim)
    chunker = Chunker(chunk_size=64, chunk_overlap=8, tokenize=embedder.tokenize)
    yield chunker, embedder, store
    store.close()


def _doc(text: str, title: str = "") -> Document:
    return Document(content_id(text), text, title)


def _ingest(stage, docs, encoder):
    chunker, embedder, store = stage
    return asyncio.run(
        ingest_documents(
            docs, chunker=chunker, embedder=embedder, store=store, encode_passages=encoder
        )
    )


def test_ingest_stores_then_skips_the_same_documents(stage) -> None:
    _, embedder, store = stage
    docs = [
        _doc("Reciprocal rank fusion merges ranked lists by summing 1/(k + rank).", "RRF"),
        _doc("Ray Serve deployments scale replicas independently of each other.", "Serve"),
    ]
    before = store.count()
    encoder = FakePassageEncoder()

    first = _ingest(stage, docs, encoder)

    assert (first.stored, first.skipped) == (2, 0)
    assert first.chunks == 2
    assert first.ids == [d.doc_id for d in docs]
    assert store.count() == before + 2
    assert encoder.calls == [[f"{d.title}\n{d.text}" for d in docs]]
    (hits,) = store.search(
        ["How are ranked lists merged?"],
        embedder.embed(["How are ranked lists merged?"]),
        mode="dense",
        limit=1,
        with_tokens=True,
    )
    assert hits[0].doc_id == docs[0].doc_id
    assert hits[0].token_blob == "tok:RRF\nReciproc"

    again = _ingest(stage, docs, encoder)

    assert (again.stored, again.skipped, again.chunks) == (0, 2, 0)
    assert again.skipped_ids == [d.doc_id for d in docs]
    assert len(encoder.calls) == 1  # nothing new to encode
    assert store.count() == before + 2


def test_duplicates_within_one_call_are_stored_once(stage) -> None:
    _, _, store = stage
    doc = _doc("Milvus Lite keeps a whole collection in one local file.")
    other = _doc("BM25 scores a document by term frequency and rarity.")
    before = store.count()

    result = _ingest(stage, [doc, other, doc], FakePassageEncoder())

    assert (result.stored, result.skipped, result.chunks) == (2, 1, 2)
    assert result.skipped_ids == [doc.doc_id]
    assert result.ids == [doc.doc_id, other.doc_id, doc.doc_id]
    assert store.count() == before + 2


def test_long_document_is_stored_as_several_chunks(stage) -> None:
    _, _, store = stage
    text = " ".join(
        f"Paragraph sentence {i} describes one more ingestion detail." for i in range(12)
    )
    before = store.count()
    result = _ingest(stage, [_doc(text, "Long")], FakePassageEncoder())
    assert result.stored == 1
    assert result.chunks > 1
    assert store.count() == before + result.chunks


def test_failing_passage_encoder_stores_nothing(stage) -> None:
    _, _, store = stage
    docs = [_doc("A failed call must leave no partial rows behind."), _doc("Nor this one.")]
    before = store.count()
    encoder = FakePassageEncoder(fail=True)

    with pytest.raises(RuntimeError, match="reranker replica died"):
        _ingest(stage, docs, encoder)

    assert len(encoder.calls) == 1
    assert store.count() == before
    assert store.existing_doc_ids([d.doc_id for d in docs]) == set()

    retried = _ingest(stage, docs, FakePassageEncoder())  # a retry then stores them
    assert (retried.stored, retried.skipped) == (2, 0)
    assert store.count() == before + 2
