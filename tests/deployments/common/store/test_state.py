"""StateStore against the session's milvus-lite server: the corpus stamp, job rows,
staged inputs cut in pieces, cancel requests, and what ending or forgetting a job drops."""

from __future__ import annotations

import itertools

import pytest

from deployments.common.store import schema
from deployments.common.store.config import MilvusConfig
from deployments.common.store.milvus import MilvusStore
from deployments.common.store.state import StateStore
from deployments.types import Document

_names = itertools.count()
#: Non-ASCII text of 200,000 characters (~250,000 UTF-8 bytes): several pieces, some cut
#: next to multi-byte characters.
BIG = ('Zürich — 東京 🚀 naïve "quoted" \\ back\nline\t' * 5000)[:200_000]


@pytest.fixture
def state(milvus_uri: str):
    cfg = MilvusConfig(uri=milvus_uri, lite=None, collection=f"state_{next(_names)}")
    store = MilvusStore(cfg, dim=None)
    yield StateStore(store)
    store.close()


def _keys(state: StateStore, job_id: str) -> list[str]:
    """Every row key of the job (its row, inputs and cancel request), sorted."""
    rows = state._rows(f'job_id == "{job_id}"', ["key"], "test read")
    return sorted(r["key"] for r in rows)


def test_the_corpus_stamp_is_empty_then_changes_on_every_bump(state) -> None:
    assert state.corpus_stamp() == ""
    first = state.bump_corpus()
    assert first and state.corpus_stamp() == first
    second = state.bump_corpus()
    assert second != first and state.corpus_stamp() == second


def test_a_job_row_round_trips_and_filters_by_status(state) -> None:
    value = {"job_id": "j1", "total": 3, "errors": [{"doc_id": "Zürich", "message": "x"}]}
    state.put_job("j1", "queued", 0.0, value)
    state.put_job("j2", "running", 12.5, {"job_id": "j2"})
    state.put_job("j3", "succeeded", 20.0, {"job_id": "j3"})
    assert state.job("j1") == {**value, "status": "queued", "heartbeat": 0.0}
    assert state.job("missing") is None

    state.put_job("j1", "running", 30.0, {**value, "total": 4})  # an update, not a new row
    assert state.job("j1") == {**value, "total": 4, "status": "running", "heartbeat": 30.0}
    assert sorted(j["job_id"] for j in state.jobs()) == ["j1", "j2", "j3"]
    assert sorted(j["job_id"] for j in state.jobs(["queued", "running"])) == ["j1", "j2"]
    assert [j["job_id"] for j in state.jobs(["succeeded"])] == ["j3"]
    assert state.jobs(["failed"]) == []
    state.bump_corpus()  # the corpus row is not a job
    assert len(state.jobs()) == 3


def test_staged_documents_come_back_identical_and_in_order(state) -> None:
    docs = [
        Document("small", "short text", "T", {"k": [1, 2]}, "mx000001"),
        Document('Tucker\'s Island, "Bermuda"', BIG, "Größe", {"source": "ü.md"}, "mx000001"),
        Document("after", "", "", {}, "mx000001"),
        *(Document(f"d{i}", f"text {i}", version="mx000001") for i in range(12)),
    ]
    big_bytes = len(BIG.encode())
    assert big_bytes > 4 * schema.PAYLOAD_BYTES
    state.stage("job", docs)
    assert state.staged("job") == docs
    inputs = [k for k in _keys(state, "job") if k.startswith("input/job/0000001/")]
    assert len(inputs) >= -(-big_bytes // schema.PAYLOAD_BYTES)  # cut in pieces
    assert state.staged("other") == []


def test_a_cancel_request_is_seen_and_dropped_with_the_inputs(state) -> None:
    state.put_job("j", "running", 1.0, {"job_id": "j"})
    state.stage("j", [Document("a", "text a"), Document("b", BIG[:70_000])])
    state.stage("k", [Document("c", "text c")])
    assert not state.cancel_requested("j")
    state.request_cancel("j")
    state.request_cancel("j")  # asked twice: still one request
    assert state.cancel_requested("j") and not state.cancel_requested("k")
    assert len([k for k in _keys(state, "j") if k.startswith("cancel/")]) == 1

    state.drop_inputs("j")
    assert state.staged("j") == [] and not state.cancel_requested("j")
    assert state.job("j") == {"job_id": "j", "status": "running", "heartbeat": 1.0}
    assert _keys(state, "j") == ["j"]
    assert [d.doc_id for d in state.staged("k")] == ["c"]  # another job's inputs stay


def test_forget_job_removes_its_row_inputs_and_cancel_request(state) -> None:
    for job_id in ("gone", "kept"):
        state.put_job(job_id, "succeeded", 1.0, {"job_id": job_id})
        state.stage(job_id, [Document("a", "text a")])
        state.request_cancel(job_id)
    state.bump_corpus()
    stamp = state.corpus_stamp()
    state.forget_job("gone")
    assert state.job("gone") is None and _keys(state, "gone") == []
    assert state.staged("gone") == [] and not state.cancel_requested("gone")
    assert state.job("kept") is not None and state.cancel_requested("kept")
    assert len(state.staged("kept")) == 1
    assert state.corpus_stamp() == stamp


def test_after_milvus_released_it_the_state_collection_is_loaded_again(state) -> None:
    """A restarted Milvus has every collection released; the state's reads (every job
    poll, every cached answer's stamp) must load it again, not fail until a restart."""
    stamp = state.bump_corpus()
    state.store.client.release_collection(state.name)
    assert state.corpus_stamp() == stamp
