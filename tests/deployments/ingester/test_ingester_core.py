"""ingest_documents with the packaged MiniLM and the session's milvus-lite server: stored
once, skipped after, published whole, and exact after an interrupted run."""

from __future__ import annotations

import dataclasses
import itertools

import pytest

from deployments.common.chunking import Chunker
from deployments.common.encoders.config import EmbedderConfig, TokenEncoderConfig
from deployments.common.encoders.passages import load_passage_encoder
from deployments.common.ids import content_id
from deployments.common.store.config import MilvusConfig
from deployments.common.store.library import Library
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


V1, V2 = "mx000001", "mx000002"


def _doc(text: str, title: str = "", doc_id: str | None = None, version: str = V1) -> Document:
    return Document(doc_id or content_id(text), text, title, version=version)


def _ingest(stage, docs, *, store=None, **kwargs):
    chunker, encoder, own = stage
    return ingest_documents(
        docs,
        chunker=chunker,
        encoder=encoder,
        store=store or own,
        library=Library(own if store is None or isinstance(store, CrashingStore) else store),
        encode_batch=4,
        **kwargs,
    )


def _snapshot(store: MilvusStore, doc_ids: list[str]) -> tuple:
    chunks = [(r["chunk_id"], r["text"]) for d in doc_ids for r in store.rows(d)]
    tokens = [r["chunk_id"] for d in doc_ids for r in store.rows(d, tokens=True)]
    listed = Library(store).records(doc_ids)
    library = sorted((r.doc_id, r.chunks, r.version, r.digest) for r in listed.values())
    return chunks, tokens, store.count(), store.count(tokens=True), library


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

    again = _ingest(stage, [dataclasses.replace(d, version=V2) for d in docs])  # a new call
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


def test_the_library_lists_what_was_stored(stage) -> None:
    _, _, store = stage
    doc = Document("lib", LONG, "Long", {"source": "a.md"}, version=V1)
    result = _ingest(stage, [doc])
    record = Library(store).get("lib")
    assert record is not None
    assert (record.chunks, record.chars, record.version) == (result.chunks, len(LONG), V1)
    assert (record.title, record.metadata) == ("Long", {"source": "a.md"})
    assert all(r["chunk_id"].startswith(f"lib#{V1}#") for r in store.rows("lib"))


def test_replace_swaps_the_version_and_deletes_the_old_one(stage) -> None:
    _, _, store = stage
    old = _doc(LONG, "Long", "report", version=V1)
    _ingest(stage, [old])
    same = _ingest(stage, [_doc(LONG, "Long", "report", version=V2)], replace=True)
    assert (same.stored, same.skipped) == (0, 1)  # unchanged content: nothing to do
    kept = _ingest(stage, [_doc("Short new text.", "Long", "report", version=V2)])
    assert (kept.stored, kept.skipped) == (0, 1)  # without replace, a stored id is kept

    new = _ingest(stage, [_doc("Short new text.", "New", "report", version=V2)], replace=True)
    assert (new.stored, new.replaced, new.chunks) == (1, 1, 1)
    assert [r["chunk_id"] for r in store.rows("report")] == [f"report#{V2}#0000"]
    assert [r["chunk_id"] for r in store.rows("report", tokens=True)] == [f"report#{V2}#0000"]
    assert Library(store).get("report").version == V2

    stale = _ingest(stage, [_doc("Older job.", "Old", "report", version=V1)], replace=True)
    assert (stale.stored, stale.skipped) == (0, 1)  # never goes back to an older version


def test_a_rerun_of_the_same_job_counts_stored_documents_and_clears_old_versions(stage):
    _, _, store = stage
    _ingest(stage, [_doc("First text.", "", "doc", version=V1)])
    replacement = _doc("Second text, longer than the first.", "", "doc", version=V2)
    # An interrupted replacement: published and listed, old version not yet deleted.
    _ingest(stage, [replacement], replace=True)
    store.publish(
        stage[0].split(_doc("First text.", "", "doc", version=V1)),
        stage[1].encode(["First text."]).dense,
    )
    assert len(store.rows("doc")) == 2
    rerun = _ingest(stage, [replacement], replace=True)
    assert (rerun.stored, rerun.skipped, rerun.chunks) == (1, 0, 1)
    assert [r["chunk_id"] for r in store.rows("doc")] == [f"doc#{V2}#0000"]


def test_a_search_shows_one_version_of_a_document(stage) -> None:
    _, encoder, store = stage
    old = _doc("Glaciers retreat in summer heat.", "", "ice", version=V1)
    new = _doc("Glaciers retreat in summer heat, faster each year.", "", "ice", version=V2)
    for doc in (old, new):  # both versions searchable, as mid-replacement
        store.publish(stage[0].split(doc), encoder.encode([doc.text]).dense)
    assert len(store.rows("ice")) == 2
    query = "glaciers retreat"
    (hits,) = store.search([query], encoder.encode([query]).dense, mode="hybrid", limit=5)
    assert [h.chunk_id for h in hits] == [f"ice#{V2}#0000"]


def test_without_strict_a_refused_document_is_named_and_the_rest_stored(stage) -> None:
    _, _, store = stage
    docs = [_doc("fits"), _doc(LONG, "Long", "too big")]
    result = _ingest(stage, docs, publish_max_bytes=2000, strict=False)
    assert (result.stored, list(result.errors)) == (1, ["too big"])
    assert "split it" in result.errors["too big"]
    assert store.published_doc_ids(["too big"]) == set()
