"""Library against the session's milvus-lite server: rows written, read, removed, and
listed in id order a page at a time (ids with quotes and non-ASCII characters too)."""

from __future__ import annotations

import itertools

import pytest

from deployments.common.store.config import MilvusConfig
from deployments.common.store.library import Library
from deployments.common.store.milvus import MilvusStore
from deployments.types import DocumentRecord

_names = itertools.count()
IDS = [
    "Tucker's Island, Bermuda",
    'say "hi"',
    "C:\\docs\\a.md",
    "Zürich — 東京 🚀",
    "zebra",
    "Zurich",
    "a",
    "a b",
    "é",
]


def _record(doc_id: str, version: str = "mx000001", chunks: int = 2) -> DocumentRecord:
    return DocumentRecord(
        doc_id=doc_id,
        title=f"Title of {doc_id}",
        chunks=chunks,
        chars=10 * chunks,
        version=version,
        digest="d" * 32,
        ingested_at=1_700_000_000.25,
        metadata={"source": doc_id, "tags": ["x", "ü"]},
    )


@pytest.fixture
def library(milvus_uri: str):
    cfg = MilvusConfig(uri=milvus_uri, lite=None, collection=f"library_{next(_names)}")
    store = MilvusStore(cfg, dim=None)
    yield Library(store)
    store.close()


def test_put_records_get_and_remove(library) -> None:
    assert library.records(IDS) == {} and library.get("zebra") is None
    assert library.count() == 0
    library.put([_record(i) for i in IDS])
    assert library.records(IDS) == {i: _record(i) for i in IDS}
    assert library.records(["zebra", "missing"]) == {"zebra": _record("zebra")}
    assert library.get('say "hi"') == _record('say "hi"')

    library.put([_record("zebra", version="mx000002", chunks=5)])  # overwrites
    assert library.get("zebra") == _record("zebra", version="mx000002", chunks=5)
    assert library.count() == len(IDS)

    library.remove("Zürich — 東京 🚀")
    library.remove("never stored")
    assert library.get("Zürich — 東京 🚀") is None
    assert set(library.records(IDS)) == set(IDS) - {"Zürich — 東京 🚀"}
    assert library.count() == len(IDS) - 1
    library.put([])  # nothing to write


def test_pages_list_every_document_once_in_id_order(library) -> None:
    library.put([_record(i) for i in IDS])
    seen, after, pages = [], None, 0
    while True:
        page = library.page(limit=4, after=after)
        pages += 1
        assert page.total == len(IDS)
        assert len(page.documents) <= 4
        seen.extend(page.documents)
        after = page.next_after
        if after is None:
            break
        assert after == page.documents[-1].doc_id
    assert [r.doc_id for r in seen] == sorted(IDS)
    assert seen == [_record(i) for i in sorted(IDS)]
    assert pages == 3  # 4 + 4 + 1

    exact = library.page(limit=len(IDS))
    assert len(exact.documents) == len(IDS) and exact.next_after is None
    tail = library.page(limit=10, after=sorted(IDS)[-2])
    assert [r.doc_id for r in tail.documents] == [sorted(IDS)[-1]]
    assert tail.next_after is None
    past = library.page(limit=10, after=sorted(IDS)[-1])
    assert (past.documents, past.total, past.next_after) == ([], len(IDS), None)
    between = library.page(limit=1, after="Zurich!")  # an id that is not stored
    assert [r.doc_id for r in between.documents] == [i for i in sorted(IDS) if i > "Zurich!"][:1]


def test_an_empty_library_has_one_empty_page(library) -> None:
    page = library.page(limit=10)
    assert (page.documents, page.total, page.next_after) == ([], 0, None)
