"""Fake stage handles for the ingress's HTTP tests (no Ray): the ``method.remote(...)``
shape of a Serve handle, answering from a function and recording what they were sent."""

from __future__ import annotations

import dataclasses
import itertools
import math
import time
from collections.abc import Callable
from typing import Any

from deployments.common.ids import content_digest
from deployments.common.store.expr import string_literal
from deployments.errors import NotFoundError
from deployments.ingress.api import create_api
from deployments.ingress.config import IngressConfig
from deployments.ingress.routes import Backends
from deployments.types import (
    JOB_ENDED,
    Answer,
    Delta,
    Document,
    DocumentRecord,
    Hit,
    IngestJob,
    IngestResult,
    Retrieval,
)

HIT = Hit("d1#0000", "d1", "T", "text one", 0.9, {"hybrid": 0.03, "rerank": 0.9})


class FakeMethod:
    """``remote(*args, **kwargs)`` records ``args[:keep]`` in ``calls`` and ``kwargs`` in
    ``kwargs``, and returns a coroutine of ``fn`` on those arguments (not the keywords).

    Args:
        fn: Computes the reply (or raises, as a stage would).
        keep: How many leading arguments reach ``fn`` and ``calls`` (the supervisor's
            methods also get a deadline and a plan, which test_ingress_deadlines covers).
    """

    def __init__(self, fn: Callable[..., Any], keep: int | None = None) -> None:
        self.fn = fn
        self.keep = keep
        self.calls: list[tuple] = []
        self.kwargs: list[dict[str, Any]] = []  # e.g. the supervisor's ``where=``

    def remote(self, *args: Any, **kwargs: Any):
        args = args[: self.keep] if self.keep is not None else args
        self.calls.append(args)
        self.kwargs.append(kwargs)

        async def run():
            return self.fn(*args)

        return run()


def _answer(query: str, top_k: int) -> Answer:
    return Answer(
        "an answer [1]",
        [HIT],
        "extractive",
        "simple",
        {"rewrite": 1.0, "retrieve": 2.0, "rerank": 3.0, "generate": 4.0},
        stages=("rewrite", "retrieve", "rerank", "generate"),
    )


def _retrieval(query: str, top_k: int) -> Retrieval:
    return Retrieval(
        [HIT], "comparative", {"rewrite": 1.0, "total": 5.0}, stages=("retrieve_each",)
    )


class FakeStream:
    """A ``DeploymentResponseGenerator`` stand-in over ``items`` (an exception is raised
    where it stands)."""

    def __init__(self, items: list[Any]) -> None:
        self.items, self.cancelled = list(items), False

    def __aiter__(self):
        return self

    async def __anext__(self):
        if not self.items:
            raise StopAsyncIteration
        item = self.items.pop(0)
        if isinstance(item, BaseException):
            raise item
        return item

    def cancel(self) -> None:
        self.cancelled = True


class FakeSupervisor:
    """``answer`` and ``search`` on (query, top_k); ``fn`` replaces ``answer``'s reply;
    ``options(stream=True).answer_stream.remote(...)`` streams the answer word by word."""

    def __init__(self, fn: Callable[[str, int], Answer] | None = None) -> None:
        self.answer = FakeMethod(fn or _answer, keep=2)
        self.search = FakeMethod(_retrieval, keep=2)
        self.answer_stream = self  # options(stream=True).answer_stream.remote(...)
        self.stream_calls: list[tuple] = []

    def options(self, **kwargs: Any) -> FakeSupervisor:
        assert kwargs == {"stream": True}
        return self

    def remote(self, query: str, top_k: int, *rest: Any, **kwargs: Any) -> FakeStream:
        self.stream_calls.append((query, top_k, *rest))
        answer = self.answer.fn(query, top_k)
        words = answer.answer.split(" ")
        pieces = [Delta(w if i == 0 else " " + w) for i, w in enumerate(words)]
        return FakeStream([*pieces, answer])


@dataclasses.dataclass
class FakePage:
    """The Ingester's page of the library (``documents.remote(limit, after)``)."""

    documents: list[DocumentRecord]
    total: int
    next_after: str | None


class FakeIngester:
    """An in-memory Ingester with the real one's contract: ``ingest`` stores, skips or
    (``replace``) replaces documents; ``submit`` queues a job that :meth:`run_jobs` runs;
    the library and job methods read what is stored, and an unknown id raises
    :class:`NotFoundError` naming ``doc_id`` or ``job_id``. Like the real one, which looks
    ids up in Milvus expressions, an id no expression can hold raises ``ValueError`` (a
    500: the ingress must refuse such ids itself). ``fn(docs, replace)``, if given,
    replaces ``ingest``'s reply (and then nothing is stored)."""

    CHUNK_CHARS = 1000  # one chunk per started thousand characters

    def __init__(self, fn: Callable[[list, bool], IngestResult] | None = None) -> None:
        self.stored: dict[str, tuple[DocumentRecord, str]] = {}  # id -> (record, text)
        self.queued: dict[str, list[Document]] = {}  # job id -> documents not yet run
        self.jobs: dict[str, IngestJob] = {}
        self._seq = itertools.count(1)
        self.ingest = FakeMethod(fn or self._ingest)
        self.submit = FakeMethod(self._submit)
        self.job = FakeMethod(self._job)
        self.cancel = FakeMethod(self._cancel)
        self.recent_jobs = FakeMethod(self._recent_jobs)
        self.documents = FakeMethod(self._documents)
        self.document = FakeMethod(self._document)
        self.delete = FakeMethod(self._delete)

    # -- documents ----------------------------------------------------------------------
    def _ingest(self, docs: list[Document], replace: bool = False) -> IngestResult:
        stored, replaced, chunks, skipped = 0, 0, 0, []
        for doc in docs:
            old = self.stored.get(doc.doc_id)
            digest = content_digest(doc.text, doc.title, doc.metadata)
            if old is not None and (not replace or old[0].digest == digest):
                skipped.append(doc.doc_id)
                continue
            record = DocumentRecord(
                doc_id=doc.doc_id,
                title=doc.title,
                chunks=max(1, math.ceil(len(doc.text) / self.CHUNK_CHARS)),
                chars=len(doc.text),
                version=f"{next(self._seq):08d}",
                digest=digest,
                ingested_at=time.time(),
                metadata=dict(doc.metadata),
            )
            self.stored[doc.doc_id] = (record, doc.text)
            stored, chunks, replaced = stored + 1, chunks + record.chunks, replaced + bool(old)
        ids = [d.doc_id for d in docs]
        return IngestResult(stored, len(skipped), chunks, ids, skipped, replaced=replaced)

    def _documents(self, limit: int = 50, after: str | None = None) -> FakePage:
        if after is not None:
            string_literal(after)
        ids = sorted(i for i in self.stored if after is None or i > after)
        page = [self.stored[i][0] for i in ids[:limit]]
        return FakePage(page, len(self.stored), page[-1].doc_id if len(ids) > limit else None)

    def _document(self, doc_id: str) -> DocumentRecord:
        string_literal(doc_id)
        if doc_id not in self.stored:
            raise NotFoundError(
                f"no stored document {doc_id!r}: list them with GET /v1/documents",
                param="doc_id",
            )
        return self.stored[doc_id][0]

    def _delete(self, doc_id: str) -> DocumentRecord:
        record = self._document(doc_id)
        del self.stored[doc_id]
        return record

    # -- jobs ---------------------------------------------------------------------------
    def _submit(self, docs: list[Document], replace: bool = False) -> IngestJob:
        now = time.time()
        job = IngestJob(
            job_id=f"{next(self._seq):032x}",
            status="queued",
            version=f"{next(self._seq):08d}",
            replace=replace,
            total=len(docs),
            chars=sum(len(d.text) for d in docs),
            created_at=now,
            updated_at=now,
        )
        self.jobs[job.job_id], self.queued[job.job_id] = job, list(docs)
        return dataclasses.replace(job)

    def run_jobs(self) -> None:
        """Run every queued job to its end, as the Ingester's runner would."""
        for job_id, docs in list(self.queued.items()):
            job = self.jobs[job_id]
            job.status, job.started_at, job.attempts = "running", time.time(), job.attempts + 1
            result = self._ingest(docs, job.replace)
            job.done, job.skipped, job.chunks = result.stored, result.skipped, result.chunks
            job.next_index, job.progress = len(docs), 1.0
            job.status, job.finished_at = "succeeded", time.time()
            job.updated_at = job.finished_at
            del self.queued[job_id]

    def _job(self, job_id: str) -> IngestJob:
        string_literal(job_id)
        if job_id not in self.jobs:
            raise NotFoundError(
                f"no ingestion job {job_id!r}: check the job_id POST /v1/ingest/jobs returned",
                param="job_id",
            )
        return dataclasses.replace(self.jobs[job_id])

    def _cancel(self, job_id: str) -> IngestJob:
        self._job(job_id)  # an unknown id raises
        job = self.jobs[job_id]
        if job.status not in JOB_ENDED:  # an ended job is returned unchanged
            self.queued.pop(job_id, None)
            job.status, job.finished_at = "cancelled", time.time()
            job.updated_at = job.finished_at
        return dataclasses.replace(job)

    def _recent_jobs(self, limit: int = 50) -> list[IngestJob]:
        newest = sorted(self.jobs.values(), key=lambda j: (j.created_at, j.job_id), reverse=True)
        return [dataclasses.replace(j) for j in newest[:limit]]


async def ready() -> tuple[bool, dict[str, str]]:
    return True, {"Ingress": "HEALTHY"}


def fake_api(
    supervisor: Any = None,
    ingester: Any = None,
    readiness: Callable = ready,
    config: IngressConfig | None = None,
):
    """The ingress app over fakes (a fresh :class:`FakeSupervisor` and
    :class:`FakeIngester` unless given)."""
    backends = Backends(supervisor or FakeSupervisor(), ingester or FakeIngester(), readiness)
    return create_api(backends, config)
