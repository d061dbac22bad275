"""Ingestion jobs in process (no Ray): the Ingester with its runner driven by hand, the
packaged MiniLM and the session's milvus-lite server. Counts are exact, a cancel stops
between whole documents, a job whose runner died is taken over and ends exactly as a clean
run, and the library and deletes keep search and listing in step."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from deployments.common.encoders.config import EmbedderConfig, TokenEncoderConfig
from deployments.common.encoders.passages import load_passage_encoder
from deployments.common.store.config import MilvusConfig
from deployments.common.store.library import Library
from deployments.common.store.milvus import MilvusStore
from deployments.errors import NotFoundError, StageUnavailableError
from deployments.ingester import jobs
from deployments.ingester.config import IngesterConfig
from deployments.ingester.core import ingest_documents
from deployments.ingester.deployment import Ingester
from deployments.ingester.runner import JobRunner, LeaseLost
from deployments.types import Document, IngestJob

_names = itertools.count()
LONG = " ".join(f"Paragraph sentence {i} describes one more ingestion detail." for i in range(30))
DOCS = [
    Document("rrf", "Reciprocal rank fusion merges ranked lists by 1/(k + rank).", "RRF"),
    Document("Tucker's Island, Bermuda", LONG, "Long", {"source": "long.md"}),
    Document("Zürich — 東京", "Zürich and Tokyo are cities with trains.", "", {"lang": "de"}),
    Document('say "hi"', "Quotes in document ids are stored as they are."),
    Document("serve", "Ray Serve deployments scale replicas independently.", "Serve"),
]
IDS = [d.doc_id for d in DOCS]
#: A document whose chunk rows (~750 chunks of 64 tokens, ~1.5 MiB) exceed a 1 MiB write.
HUGE = " ".join(
    f"Bulk sentence number {i} adds more text to a very large document." for i in range(3000)
)
JOBS = {"batch_documents": 2, "heartbeat_s": 0.01, "lease_s": 2, "claim_settle_s": 0, "poll_s": 0.1}


class FakeClock:
    """The runners' clock: moves only when a test moves it."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(scope="module")
def encoder():
    return load_passage_encoder(EmbedderConfig(), TokenEncoderConfig())


@pytest.fixture
def make(milvus_uri: str, encoder):
    """Builds Ingesters (no Ray, runner not started), each on collections of its own."""
    made: list[Ingester] = []

    def build(**overrides) -> Ingester:
        milvus = MilvusConfig(uri=milvus_uri, lite=None, collection=f"jobs_{next(_names)}")
        cfg = IngesterConfig(
            chunking={"chunk_size": 64, "chunk_overlap": 8},
            jobs={**JOBS, **overrides.pop("jobs", {})},
            **overrides,
        )
        ingester = Ingester.func_or_class(
            cfg.model_dump(), milvus.model_dump(), {}, {}, encoder=encoder, run_jobs=False
        )
        made.append(ingester)
        return ingester

    yield build
    for ingester in made:
        ingester.store.close()


def _runner(ingester: Ingester, owner: str, clock: FakeClock, ingest=None, state=None):
    return JobRunner(
        state or ingester.state,
        ingest or ingester._ingest_batch,
        ingester.cfg.jobs,
        owner=owner,
        clock=clock,
    )


def _submit(ingester: Ingester, docs: list[Document], replace: bool = False) -> IngestJob:
    return asyncio.run(ingester.submit(docs, replace=replace))


def _get(ingester: Ingester, job_id: str) -> IngestJob:
    return asyncio.run(ingester.job(job_id))


def _run_next(runner: JobRunner, job_id: str) -> IngestJob:
    claimed = runner.claim_next()
    assert claimed is not None and claimed.job_id == job_id
    runner.run(claimed)
    return claimed


def _snapshot(store: MilvusStore, doc_ids: list[str]) -> tuple:
    """Everything stored for ``doc_ids``: chunk ids and texts, token ids, the collections'
    sizes, and the library rows (without their times)."""
    chunks = [(r["chunk_id"], r["text"]) for d in doc_ids for r in store.rows(d)]
    tokens = [r["chunk_id"] for d in doc_ids for r in store.rows(d, tokens=True)]
    listed = Library(store).records(doc_ids).values()
    library = sorted((r.doc_id, r.chunks, r.chars, r.version, r.digest) for r in listed)
    return chunks, tokens, store.count(), store.count(tokens=True), library


def _clean_snapshot(ingester: Ingester, milvus_uri: str, docs: list[Document], version: str):
    """What one uninterrupted ingestion of ``docs`` at ``version`` stores."""
    cfg = MilvusConfig(uri=milvus_uri, lite=None, collection=f"clean_{next(_names)}")
    store = MilvusStore(cfg, dim=ingester.encoder.dim)
    try:
        ingest_documents(
            [dataclasses.replace(d, version=version) for d in docs],
            chunker=ingester.chunker,
            encoder=ingester.encoder,
            store=store,
            library=Library(store),
        )
        return _snapshot(store, [d.doc_id for d in docs])
    finally:
        store.close()


def _assert_whole(ingester: Ingester, docs: list[Document], version: str) -> None:
    """Each of ``docs`` is listed and stored whole, at ``version``, and nothing else is."""
    ids = [d.doc_id for d in docs]
    records = ingester.library.records(IDS + ids)
    assert sorted(records) == sorted(ids)
    for doc in docs:
        expected = [
            c.chunk_id for c in ingester.chunker.split(dataclasses.replace(doc, version=version))
        ]
        assert [r["chunk_id"] for r in ingester.store.rows(doc.doc_id)] == expected
        assert [r["chunk_id"] for r in ingester.store.rows(doc.doc_id, tokens=True)] == expected
        assert (records[doc.doc_id].chunks, records[doc.doc_id].version) == (len(expected), version)
    total = sum(r.chunks for r in records.values())
    assert ingester.store.count() == total == ingester.store.count(tokens=True)


def test_a_job_is_queued_then_succeeds_with_exact_counts(make) -> None:
    ingester = make()
    job = _submit(ingester, DOCS)
    queued = _get(ingester, job.job_id)
    assert queued.status == "queued" and queued.version == job.version
    assert (queued.total, queued.chars) == (5, sum(len(d.text) for d in DOCS))
    counts = (queued.done, queued.skipped, queued.failed, queued.chunks, queued.next_index)
    assert counts == (0, 0, 0, 0, 0) and queued.progress == 0.0
    assert (queued.started_at, queued.finished_at, queued.attempts) == (None, None, 0)
    assert [j.job_id for j in asyncio.run(ingester.recent_jobs())] == [job.job_id]

    claimed = ingester.runner.claim_next()
    assert claimed is not None and claimed.job_id == job.job_id
    assert (claimed.status, claimed.owner, claimed.attempts) == (
        "running",
        ingester.runner.owner,
        1,
    )
    assert ingester.runner.claim_next() is None  # running under a live lease
    ingester.runner.run(claimed)

    done = _get(ingester, job.job_id)
    assert done.status == "succeeded" and done.message is None
    assert (done.done, done.skipped, done.failed, done.errors) == (5, 0, 0, [])
    assert done.chunks == ingester.store.count() > len(DOCS)  # the long one has several
    assert (done.next_index, done.progress, done.attempts) == (5, 1.0, 1)
    assert done.created_at <= done.started_at <= done.finished_at
    _assert_whole(ingester, DOCS, job.version)
    assert ingester.state.staged(job.job_id) == []
    page = asyncio.run(ingester.documents(limit=10))
    assert [r.doc_id for r in page.documents] == sorted(IDS)
    assert (page.total, page.next_after) == (5, None)

    again = _submit(ingester, DOCS)
    _run_next(ingester.runner, again.job_id)
    second = _get(ingester, again.job_id)
    assert second.status == "succeeded"
    assert (second.done, second.skipped, second.failed, second.chunks) == (0, 5, 0, 0)
    _assert_whole(ingester, DOCS, job.version)  # untouched


def test_a_replace_job_swaps_in_changed_documents_only(make) -> None:
    ingester = make()
    first = _submit(ingester, DOCS[:3])
    _run_next(ingester.runner, first.job_id)
    changed = [
        dataclasses.replace(DOCS[0], text="Reciprocal rank fusion, now described differently."),
        DOCS[1],  # unchanged: skipped
        dataclasses.replace(DOCS[2], title="A new title"),
    ]
    second = _submit(ingester, changed, replace=True)
    assert second.version > first.version
    _run_next(ingester.runner, second.job_id)

    done = _get(ingester, second.job_id)
    assert (done.status, done.done, done.skipped, done.failed) == ("succeeded", 2, 1, 0)
    assert done.chunks == 2
    records = ingester.library.records(IDS)
    versions = {d: records[d].version for d in IDS[:3]}
    assert versions == {IDS[0]: second.version, IDS[1]: first.version, IDS[2]: second.version}
    for doc in (changed[0], changed[2]):
        rows = ingester.store.rows(doc.doc_id)
        assert [r["chunk_id"] for r in rows] == [f"{doc.doc_id}#{second.version}#0000"]
        tokens = ingester.store.rows(doc.doc_id, tokens=True)
        assert [r["chunk_id"] for r in tokens] == [f"{doc.doc_id}#{second.version}#0000"]
    assert ingester.store.rows(IDS[0])[0]["text"] == changed[0].text
    assert ingester.store.rows(IDS[2])[0]["title"] == "A new title"
    assert ingester.store.count() == records[IDS[1]].chunks + 2


def test_a_document_too_large_for_one_write_fails_the_job_and_the_rest_is_stored(make) -> None:
    ingester = make(publish_max_bytes=1024**2)
    docs = [DOCS[0], Document("huge", HUGE, "Huge"), DOCS[3]]
    job = _submit(ingester, docs)
    _run_next(ingester.runner, job.job_id)

    done = _get(ingester, job.job_id)
    assert (done.status, done.done, done.skipped, done.failed) == ("failed", 2, 0, 1)
    assert done.message is None  # the job ran; one document was refused
    assert [e["doc_id"] for e in done.errors] == ["huge"]
    assert "more than one atomic write takes" in done.errors[0]["message"]
    assert done.chunks == ingester.store.count() == 2
    assert ingester.store.rows("huge") == [] == ingester.store.rows("huge", tokens=True)
    _assert_whole(ingester, [DOCS[0], DOCS[3]], job.version)
    assert ingester.state.staged(job.job_id) == []


def test_a_cancelled_queued_job_ends_cancelled_and_stores_nothing(make) -> None:
    ingester = make()
    job = _submit(ingester, DOCS[:2])
    assert asyncio.run(ingester.cancel(job.job_id)).status == "cancelled"
    assert _get(ingester, job.job_id).status == "cancelled"
    assert ingester.state.job(job.job_id)["status"] == "queued"  # until a runner sees it

    _run_next(ingester.runner, job.job_id)
    row = ingester.state.job(job.job_id)
    assert row["status"] == "cancelled" and row["finished_at"] is not None
    assert (row["done"], row["chunks"]) == (0, 0)
    assert ingester.store.count() == 0 == ingester.store.count(tokens=True)
    assert ingester.library.count() == 0
    assert ingester.state.staged(job.job_id) == []
    assert not ingester.state.cancel_requested(job.job_id)  # dropped with the inputs
    assert ingester.runner.claim_next() is None

    with pytest.raises(NotFoundError) as info:
        asyncio.run(ingester.cancel("no-such-job"))
    assert info.value.param == "job_id"


def test_cancelling_an_ended_job_leaves_it_as_it_was(make) -> None:
    ingester = make()
    job = _submit(ingester, DOCS[:1])
    _run_next(ingester.runner, job.job_id)
    assert asyncio.run(ingester.cancel(job.job_id)).status == "succeeded"
    assert _get(ingester, job.job_id).status == "succeeded"
    assert not ingester.state.cancel_requested(job.job_id)


def test_a_cancel_between_batches_keeps_the_batches_already_stored(make) -> None:
    ingester = make()
    batches: list[list[str]] = []

    def ingest(docs, replace, progress):
        result = ingester._ingest_batch(docs, replace, progress)
        batches.append([d.doc_id for d in docs])
        if len(batches) == 1:  # the user cancels while the first batch is stored
            jobs.cancel(ingester.state, job.job_id)
        return result

    job = _submit(ingester, DOCS)
    runner = _runner(ingester, "runner", FakeClock(), ingest)  # its clock stands still
    _run_next(runner, job.job_id)

    assert batches == [IDS[:2]]
    done = _get(ingester, job.job_id)
    assert (done.status, done.done, done.next_index, done.failed) == ("cancelled", 2, 2, 0)
    assert done.chunks == ingester.store.count()
    _assert_whole(ingester, DOCS[:2], job.version)
    assert ingester.state.staged(job.job_id) == []


def test_a_cancel_seen_by_the_heartbeat_stops_inside_a_batch(make) -> None:
    ingester = make()
    clock = FakeClock()
    batches: list[list[str]] = []

    def ingest(docs, replace, progress):
        batches.append([d.doc_id for d in docs])
        if len(batches) == 2:  # cancelled while this batch's first chunks are encoded

            def beat(encoded, total):
                jobs.cancel(ingester.state, job.job_id)
                clock.advance(2 * ingester.cfg.jobs.heartbeat_s)
                progress(encoded, total)

            return ingester._ingest_batch(docs, replace, beat)
        return ingester._ingest_batch(docs, replace, progress)

    job = _submit(ingester, DOCS)
    _run_next(_runner(ingester, "runner", clock, ingest), job.job_id)

    assert batches == [IDS[:2], IDS[2:4]]
    done = _get(ingester, job.job_id)
    assert (done.status, done.done, done.next_index) == ("cancelled", 2, 2)
    assert ingester.store.published_doc_ids(IDS[2:]) == set()
    assert sorted(ingester.library.records(IDS)) == sorted(IDS[:2])
    assert ingester.store.count() == done.chunks


def test_a_cancel_inside_a_batch_leaves_no_token_rows_behind(make) -> None:
    ingester = make()
    clock = FakeClock()

    def ingest(docs, replace, progress):
        def beat(encoded, total):
            jobs.cancel(ingester.state, job.job_id)
            clock.advance(2 * ingester.cfg.jobs.heartbeat_s)
            progress(encoded, total)

        return ingester._ingest_batch(docs, replace, beat)

    job = _submit(ingester, DOCS[:2])
    _run_next(_runner(ingester, "runner", clock, ingest), job.job_id)
    assert _get(ingester, job.job_id).status == "cancelled"
    assert ingester.store.count(tokens=True) == ingester.store.count() == 0


def test_a_job_whose_runner_died_is_taken_over_and_ends_as_a_clean_run(make, milvus_uri):
    ingester = make()
    clock = FakeClock()
    a, b = _runner(ingester, "runner-a", clock), _runner(ingester, "runner-b", clock)
    job = _submit(ingester, DOCS)

    mine = a.claim_next()
    assert mine is not None and mine.owner == "runner-a"
    staged = ingester.state.staged(job.job_id)
    assert [d.doc_id for d in staged] == IDS and {d.version for d in staged} == {job.version}
    a._run_batch(mine, staged)  # the first batch, counted
    ingester._ingest_batch(staged[2:3], False, lambda *_: None)  # half the second: uncounted
    # ... and runner A dies here: no more heartbeats.

    assert b.claim_next() is None  # the lease still holds
    clock.advance(ingester.cfg.jobs.lease_s + 0.5)
    taken = b.claim_next()
    assert taken is not None and taken.job_id == job.job_id
    assert (taken.owner, taken.attempts, taken.next_index, taken.done) == ("runner-b", 2, 2, 2)
    b.run(taken)

    done = _get(ingester, job.job_id)
    assert (done.status, done.done, done.skipped, done.failed) == ("succeeded", 5, 0, 0)
    assert (done.owner, done.attempts, done.next_index) == ("runner-b", 2, 5)
    assert done.chunks == ingester.store.count()
    assert _snapshot(ingester.store, IDS) == _clean_snapshot(
        ingester, milvus_uri, DOCS, job.version
    )

    # Runner A was only paused: it finds the job is not its own and leaves it alone.
    with pytest.raises(LeaseLost):
        a._run_batch(mine, staged)
    assert _get(ingester, job.job_id) == done


class Rendezvous:
    """The state store as two runners claiming at the same moment see it: while armed,
    both have read the queued job before either claims it, and both claims are written
    before either is checked."""

    def __init__(self, state) -> None:
        self._state = state
        self._barrier = threading.Barrier(2, timeout=30)
        self.armed = True

    def __getattr__(self, name: str):
        return getattr(self._state, name)

    def job(self, job_id: str):
        found = self._state.job(job_id)
        if self.armed:
            self._barrier.wait()
        return found

    def put_job(self, *args) -> None:
        self._state.put_job(*args)
        if self.armed:
            self._barrier.wait()


def test_of_two_runners_claiming_one_job_at_once_one_proceeds(make, milvus_uri) -> None:
    ingester = make(jobs={"claim_settle_s": 0.01})
    clock = FakeClock()
    state = Rendezvous(ingester.state)
    runners = [_runner(ingester, f"runner-{i}", clock, state=state) for i in range(2)]
    job = _submit(ingester, DOCS[:3])

    with ThreadPoolExecutor(2) as pool:
        claims = list(pool.map(lambda r: r.claim_next(), runners))
    state.armed = False
    winners = [(r, c) for r, c in zip(runners, claims, strict=True) if c is not None]
    assert len(winners) == 1
    runner, claimed = winners[0]
    assert ingester.state.job(job.job_id)["owner"] == runner.owner == claimed.owner
    assert all(r.claim_next() is None for r in runners)
    runner.run(claimed)

    done = _get(ingester, job.job_id)
    assert (done.status, done.done, done.attempts) == ("succeeded", 3, 1)
    assert _snapshot(ingester.store, IDS[:3]) == _clean_snapshot(
        ingester, milvus_uri, DOCS[:3], job.version
    )


def test_when_both_runners_proceed_the_one_overtaken_stops_and_the_store_is_exact(
    make, milvus_uri
) -> None:
    ingester = make()
    clock = FakeClock()
    job = _submit(ingester, DOCS)
    listing = ingester.state.jobs(["queued", "running"])  # B reads before A's claim lands
    before = ingester.state.job(job.job_id)

    class Stale:
        """Runner B's reads of the job list and of the job before its claim."""

        stale = True

        def __getattr__(self, name: str):
            return getattr(ingester.state, name)

        def jobs(self, statuses=None):
            return listing

        def job(self, job_id: str):
            if self.stale:
                self.stale = False
                return before
            return ingester.state.job(job_id)

    a = _runner(ingester, "runner-a", clock)
    b = _runner(ingester, "runner-b", clock, state=Stale())
    mine = a.claim_next()
    staged = ingester.state.staged(job.job_id)
    a._run_batch(mine, staged)
    theirs = b.claim_next()  # claims the job as it was listed: queued, nothing done
    assert theirs is not None and (theirs.owner, theirs.next_index) == ("runner-b", 0)

    with pytest.raises(LeaseLost):  # A's next batch sees B owns the job
        a._run_batch(mine, staged)
    b.run(theirs)

    done = _get(ingester, job.job_id)
    assert (done.status, done.owner, done.done, done.skipped) == ("succeeded", "runner-b", 5, 0)
    assert done.chunks == ingester.store.count()
    assert _snapshot(ingester.store, IDS) == _clean_snapshot(
        ingester, milvus_uri, DOCS, job.version
    )


def test_a_job_list_read_before_the_job_ended_does_not_reopen_it(make) -> None:
    ingester = make()
    job = _submit(ingester, DOCS[:1])
    listing = ingester.state.jobs(["queued", "running"])  # on a cluster: seconds old
    _run_next(ingester.runner, job.job_id)

    class StaleList:
        def __getattr__(self, name: str):
            return getattr(ingester.state, name)

        def jobs(self, statuses=None):
            return listing

    assert _runner(ingester, "runner-b", FakeClock(), state=StaleList()).claim_next() is None
    done = _get(ingester, job.job_id)
    assert (done.status, done.done, done.attempts) == ("succeeded", 1, 1)


class Outage:
    """Milvus goes away once the runner has read a job's documents: its next ``calls``
    job reads and batch writes fail, each after 5 s of the fake clock."""

    def __init__(self, ingester: Ingester, clock: FakeClock, calls: int) -> None:
        self._ingester, self._clock = ingester, clock
        self.calls, self._pending = 0, calls

    def staged(self, job_id: str):
        docs = self._ingester.state.staged(job_id)
        self.calls, self._pending = self._pending, 0
        return docs

    def fail(self) -> None:
        if self.calls > 0:
            self.calls -= 1
            self._clock.advance(5)
            raise StageUnavailableError("Milvus at test failed the call (down); retry shortly")

    def __getattr__(self, name: str):
        return getattr(self._ingester.state, name)

    def job(self, job_id: str):
        self.fail()
        return self._ingester.state.job(job_id)

    def cancel_requested(self, job_id: str) -> bool:
        self.fail()
        return self._ingester.state.cancel_requested(job_id)

    def ingest(self, docs, replace, progress):
        self.fail()
        return self._ingester._ingest_batch(docs, replace, progress)


@pytest.mark.parametrize(("calls", "status"), [(2, "succeeded"), (4, "failed")])
def test_a_milvus_outage_is_waited_out_for_store_outage_s(make, calls, status) -> None:
    ingester = make(jobs={"store_outage_s": 12})
    clock = FakeClock()
    outage = Outage(ingester, clock, calls)
    job = _submit(ingester, DOCS[:1])
    _run_next(_runner(ingester, "runner", clock, outage.ingest, state=outage), job.job_id)

    done = _get(ingester, job.job_id)
    assert done.status == status
    if status == "succeeded":
        assert done.done == 1 and done.message is None
        _assert_whole(ingester, DOCS[:1], job.version)
    else:  # 15 s of outage against 12 allowed
        assert done.done == 0 and "StageUnavailableError" in done.message
        assert ingester.store.count() == 0


def test_ended_jobs_are_forgotten_after_the_retention(make) -> None:
    ingester = make(jobs={"retention_s": 60})
    clock = FakeClock()
    runner = _runner(ingester, "runner", clock)
    old, new = (_submit(ingester, []) for _ in range(2))
    _run_next(runner, old.job_id)
    clock.advance(61)
    _run_next(runner, new.job_id)
    running = _submit(ingester, DOCS[:1])
    runner._pruned_at = clock.now - 600  # its last pass was 10 minutes ago
    runner._prune()
    assert [j.job_id for j in jobs.recent(ingester.state, 10)] == [running.job_id, new.job_id]
    with pytest.raises(NotFoundError):
        _get(ingester, old.job_id)


def test_delete_removes_a_document_everywhere_and_changes_the_corpus_stamp(make) -> None:
    ingester = make()
    asyncio.run(ingester.ingest(DOCS[:3]))
    stamp = ingester.state.corpus_stamp()
    assert stamp != ""
    listed = ingester.library.get(IDS[1])

    record = asyncio.run(ingester.delete(IDS[1]))
    assert record == listed and record.chunks > 1
    assert ingester.store.rows(IDS[1]) == [] == ingester.store.rows(IDS[1], tokens=True)
    assert ingester.library.get(IDS[1]) is None
    assert ingester.state.corpus_stamp() != stamp
    _assert_whole(ingester, [DOCS[0], DOCS[2]], listed.version)

    for unknown in (IDS[1], "never stored"):
        with pytest.raises(NotFoundError, match="GET /v1/documents") as info:
            asyncio.run(ingester.delete(unknown))
        assert info.value.param == "doc_id"
        with pytest.raises(NotFoundError):
            asyncio.run(ingester.document(unknown))

    ingester.library.remove(IDS[2])  # chunks whose library row was lost are deleted too
    assert asyncio.run(ingester.delete(IDS[2])).doc_id == IDS[2]
    assert ingester.store.rows(IDS[2]) == [] == ingester.store.rows(IDS[2], tokens=True)
    assert asyncio.run(ingester.document(IDS[0])).doc_id == IDS[0]


def test_documents_are_listed_a_page_at_a_time(make) -> None:
    ingester = make()
    asyncio.run(ingester.ingest(DOCS))
    seen, after = [], None
    while True:
        page = asyncio.run(ingester.documents(limit=2, after=after))
        assert page.total == 5 and len(page.documents) <= 2
        seen += [r.doc_id for r in page.documents]
        if page.next_after is None:
            break
        after = page.next_after
    assert seen == sorted(IDS)


def test_synchronous_ingestion_with_replace_swaps_the_version(make) -> None:
    ingester = make()
    doc = DOCS[1]
    first = asyncio.run(ingester.ingest([doc]))
    old = ingester.library.get(doc.doc_id)
    assert (first.stored, first.chunks) == (1, old.chunks)

    new = dataclasses.replace(doc, text="A much shorter replacement text.")
    kept = asyncio.run(ingester.ingest([new]))
    assert (kept.stored, kept.skipped) == (0, 1)
    swapped = asyncio.run(ingester.ingest([new], replace=True))
    assert (swapped.stored, swapped.replaced, swapped.chunks) == (1, 1, 1)
    record = ingester.library.get(doc.doc_id)
    assert record.version > old.version and record.chunks == 1
    expected = [f"{doc.doc_id}#{record.version}#0000"]
    assert [r["chunk_id"] for r in ingester.store.rows(doc.doc_id)] == expected
    assert [r["chunk_id"] for r in ingester.store.rows(doc.doc_id, tokens=True)] == expected
    assert ingester.store.rows(doc.doc_id)[0]["text"] == new.text
