"""ingest_documents with the packaged MiniLM and the session's milvus-lite server: stored
once, skipped after, published whole, and exact after an interrupted run."""

from __future__ import annotations

import itertools

import pytest

from deployments.common.chunking import Chunker
from deployments.common.encoders.config import EmbedderConfig, TokenEncoderConfig
from deployments.common.encoders.passages import load_passage_encoder
from deployments.common.ids import content_id
from deployments.common.store.config import MilvusConfig
from deployments.common.store.milvus import MilvusStore
from deployments.errors import InvalidRequestError
from deployments.ingester.core import ingest_documents
from deployments.types import Document

_names = itertools.count()
LONG = " ".join(f"Paragraph sentence {i} describes one more ingestion detail." for i in range(40))


class Crash(Exception):
    """Stands in for the replica dying."""


class CrashingStore:
    """A store that dies at its ``after``-th write call (token or chunk write)."""

    def __init__(self, store: MilvusStore, after: int) -> None:
        self._store, self._left = store, after
        self.dim = store.dim

    def __getattr__(self, name: str):
        return getattr(self._store, name)

    def _write(self, method: str, *args):
        self._left -= 1
        if self._left < 0:
            raise Crash(f"killed before {method}")
        return getattr(self._store, method)(*args)

    def write_tokens(self, *args):
        return self._write("write_tokens", *args)

    def publish(self, *args):
        return self._write("publish", *args)


@pytest.fixture(scope="module")
def encoder():
    return load_passage_encoder(EmbedderConfig(), TokenEncoderConfig())


@pytest.fixture
def stage(milvus_uri: str, encoder):
    cfg = MilvusConfig(uri=milvus_uri, lite=None, collection=f"ingest_{next(_names)}")
    store = MilvusStore(cfg, dim=encoder.dim)
    chunker = Chunker(chunk_size=64, chunk_overlap=8, tokenize=encoder.tokenize)
    yield chunker, encoder, store
    store.close()


def _doc(text: str, title: str = "", doc_id: str | None = None) -> Document:
    return Document(doc_id or content_id(text), text, title)


def _ingest(stage, docs, *, store=None, **kwargs):
    chunker, encoder, own = stage
    return ingest_documents(
        docs, chunker=chunker, encoder=encoder, store=store or own, encode_batch=4, **kwargs
    )


def _snapshot(store: MilvusStore, doc_ids: list[str]) -> tuple:
    chunks = [(r["chunk_id"], r["text"]) for d in doc_ids for r in store.rows(d)]
    tokens = [r["chunk_id"] for d in doc_ids for r in store.rows(d, tokens=True)]
    return chunks, tokens, store.count(), store.count(tokens=True)


def test_stores_then_skips_the_same_documents(stage) -> None:
    _, encoder, store = stage
    docs = [
        _doc("Reciprocal rank fusion merges ranked lists by summing 1/(k + rank).", "RRF"),
        _doc("Ray Serve deployments scale replicas independently of each other.", "Serve"),
    ]
    first = _ingest(stage, docs)
    assert (first.stored, first.skipped, first.chunks) == (2, 0, 2)
    assert first.ids == [d.doc_id for d in docs]
    assert store.count() == 2 == store.count(tokens=True)
    query = "How are ranked lists merged?"
    (hits,) = store.search([query], encoder.encode([query]).dense, mode="dense", limit=1)
    assert hits[0].doc_id == docs[0].doc_id
    assert set(store.fetch_tokens([hits[0].chunk_id])) == {hits[0].chunk_id}

    again = _ingest(stage, docs)
    assert (again.stored, again.skipped, again.chunks) == (0, 2, 0)
    assert again.skipped_ids == [d.doc_id for d in docs]
    assert store.count() == 2


def test_duplicates_within_one_call_are_stored_once(stage) -> None:
    _, _, store = stage
    doc, other = _doc("Milvus Lite runs as a server here."), _doc("BM25 scores by rarity.")
    result = _ingest(stage, [doc, other, doc])
    assert (result.stored, result.skipped, result.chunks) == (2, 1, 2)
    assert result.skipped_ids == [doc.doc_id]
    assert store.count() == 2


def test_many_chunks_across_documents_are_encoded_in_shared_batches(stage) -> None:
    _, _, store = stage
    docs = [_doc(LONG, "Long"), _doc("short one"), _doc("short two")]
    calls = []
    result = _ingest(stage, docs, progress=lambda done, total: calls.append((done, total)))
    assert result.chunks > 3 and store.count() == result.chunks
    total = result.chunks
    assert calls[-1] == (total, total) and len(calls) == -(-total // 4)


@pytest.mark.parametrize("crash_after", [0, 1, 2, 3])
def test_an_interrupted_run_then_a_rerun_equals_a_clean_run(stage, milvus_uri, crash_after):
    _, encoder, store = stage
    docs = [_doc(LONG, "Long", "Tucker's Island, Bermuda"), _doc("A second, short document.")]
    ids = [d.doc_id for d in docs]

    with pytest.raises(Crash):
        _ingest(stage, docs, store=CrashingStore(store, crash_after))
    # Whatever was written, no document is half-visible: all its chunks or none.
    for doc_id in store.published_doc_ids(ids):
        assert len(store.rows(doc_id)) == len(stage[0].split(docs[ids.index(doc_id)]))

    rerun = _ingest(stage, docs)
    assert rerun.stored + rerun.skipped == 2

    clean_cfg = MilvusConfig(uri=milvus_uri, lite=None, collection=f"clean_{next(_names)}")
    clean = MilvusStore(clean_cfg, dim=encoder.dim)
    try:
        _ingest(stage, docs, store=clean)
        assert _snapshot(store, ids) == _snapshot(clean, ids)
    finally:
        clean.close()


def test_a_document_too_large_for_one_write_is_refused_before_writing(stage) -> None:
    _, _, store = stage
    docs = [_doc("fits"), _doc(LONG, "Long", "too big")]
    with pytest.raises(InvalidRequestError, match="'too big' makes .* split it") as info:
        _ingest(stage, docs, publish_max_bytes=2000)
    assert info.value.param == "documents"
    assert store.count() == 0 == store.count(tokens=True)
