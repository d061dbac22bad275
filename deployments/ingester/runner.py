"""Runs ingestion jobs in a background thread of each Ingester replica.

Every replica polls the state store for a job that is queued, or running under a lease
its owner stopped renewing (the replica died), claims it and works through its staged
documents ``batch_documents`` at a time, from the first document not yet counted. After
each batch the counts and ``next_index`` are saved together, so a replica taking the job
over counts every document once; documents of the interrupted batch that the dead
replica had already stored carry the job's version and are recognised as stored (see
:func:`deployments.ingester.core.ingest_documents`), so none is stored twice.

Claims are not transactions (Milvus has no compare-and-set): a claim is re-read after
a pause, and a runner that finds another owner (before each batch, before saving a
batch's counts, and at each heartbeat) stops without writing the job's row. Two runners
that still overlap write the same chunk ids and versions, so the result is the same; only
work is wasted. A cancel is seen before each batch and at each heartbeat.

The thread lowers its own CPU priority (``SCHED_IDLE``, or a niceness) so that, on a
machine shared with the query path, bulk ingestion takes the cycles queries leave idle.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable

from deployments.common.store.state import StateStore
from deployments.errors import StageUnavailableError
from deployments.ingester import jobs
from deployments.ingester.config import JobsConfig
from deployments.ingester.core import Progress
from deployments.types import Document, IngestJob, IngestResult

logger = logging.getLogger(__name__)

Ingest = Callable[[list[Document], bool, Progress], IngestResult]
"""Stores documents (``replace`` flag, progress callback), going on past refused ones."""


class JobCancelled(Exception):
    """A cancel was asked for while the job ran."""


class LeaseLost(Exception):
    """Another replica owns the job now."""


class JobRunner:
    """The job loop of one replica.

    Args:
        state: Where jobs live.
        ingest: Stores one batch of documents.
        config: Lease, polling and batching settings.
        owner: This replica's id (recorded in the jobs it runs).
        clock: Wall clock (tests pass a fake).
    """

    def __init__(
        self,
        state: StateStore,
        ingest: Ingest,
        config: JobsConfig,
        *,
        owner: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.state = state
        self.ingest = ingest
        self.cfg = config
        self.owner = owner
        self.clock = clock
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pruned_at = 0.0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="ingest-jobs", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Look for work now (a job was just submitted)."""
        self._wake.set()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    # -- the loop -----------------------------------------------------------------------
    def _loop(self) -> None:
        _lower_priority(self.cfg.nice, self.cfg.sched_idle)
        while not self._stop.is_set():
            try:
                job = self.claim_next()
                if job is not None:
                    self.run(job)
                    continue
                self._prune()
            except Exception:  # noqa: BLE001 - the loop must outlive any one failure
                logger.exception("ingestion job loop: retrying in %.0fs", self.cfg.poll_s)
            self._wake.wait(self.cfg.poll_s)
            self._wake.clear()

    def claim_next(self) -> IngestJob | None:
        """Claim the oldest claimable job, or return None."""
        now = self.clock()
        found = [jobs.from_value(v) for v in self.state.jobs(["queued", "running"])]
        for listed in sorted(found, key=lambda j: j.created_at):
            if not jobs.claimable(listed, now=now, lease_s=self.cfg.lease_s):
                continue
            value = self.state.job(listed.job_id)  # the list may be seconds old
            job = jobs.from_value(value) if value is not None else None
            if job is None or not jobs.claimable(job, now=now, lease_s=self.cfg.lease_s):
                continue
            taken_over = job.status == "running"
            job.status, job.owner, job.heartbeat = "running", self.owner, now
            job.started_at = job.started_at or now
            job.attempts += 1
            jobs.save(self.state, job)
            time.sleep(self.cfg.claim_settle_s)
            mine = self.state.job(job.job_id)
            if mine is None or mine.get("owner") != self.owner:
                continue
            if taken_over:
                logger.warning(
                    "took over ingestion job %s at document %d of %d (its runner stopped)",
                    job.job_id,
                    job.next_index,
                    job.total,
                )
            return job
        return None

    def run(self, job: IngestJob) -> None:
        """Work through the job from ``next_index``; end it, unless another replica took
        it over."""
        if self.state.cancel_requested(job.job_id):
            self._end(job, "cancelled")
            return
        docs = self.state.staged(job.job_id)
        if len(docs) != job.total:
            job.message = (
                f"the job's staged documents are incomplete ({len(docs)} of {job.total}); "
                "submit the documents again"
            )
            self._end(job, "failed")
            return
        try:
            while job.next_index < job.total:
                self._run_batch(job, docs)
        except JobCancelled:
            self._end(job, "cancelled")
            return
        except LeaseLost:
            logger.warning("ingestion job %s: another replica owns it now", job.job_id)
            return
        except Exception as exc:  # noqa: BLE001 - recorded in the job, which the user reads
            logger.exception("ingestion job %s failed", job.job_id)
            job.message = f"{type(exc).__name__}: {exc}"
            self._end(job, "failed")
            return
        self._end(job, "failed" if job.failed else "succeeded")

    def _run_batch(self, job: IngestJob, docs: list[Document]) -> None:
        start = job.next_index
        batch = docs[start : start + self.cfg.batch_documents]
        done_chars = sum(len(d.text) for d in docs[:start])
        batch_chars = sum(len(d.text) for d in batch)
        beat = _Heartbeat(self, job, done_chars, batch_chars)
        deadline = self.clock() + self.cfg.store_outage_s
        while True:
            try:
                # Cancelled or taken over? (A batch shorter than heartbeat_s never beats.)
                # Inside the try: while Milvus is away this read fails like the ingest.
                beat(0, 1, force=True)
                result = self.ingest(batch, job.replace, beat)
                break
            except StageUnavailableError as exc:  # Milvus away: wait for it, within reason
                if self.clock() > deadline:
                    raise
                logger.warning("ingestion job %s: %s; retrying", job.job_id, exc.message)
                time.sleep(self.cfg.poll_s)
        job.done += result.stored
        job.skipped += result.skipped
        job.chunks += result.chunks
        jobs.record_errors(job, result.errors)
        job.next_index = start + len(batch)
        job.progress = (done_chars + batch_chars) / max(job.chars, 1)
        job.heartbeat = self.clock()
        self._check(job, cancel=False)  # never overwrite the row of the job's new owner
        jobs.save(self.state, job)

    def _check(self, job: IngestJob, *, cancel: bool = True) -> None:
        """Raise JobCancelled when a cancel was asked for (if ``cancel``), LeaseLost when
        another runner owns the job now (or it has ended)."""
        if cancel and self.state.cancel_requested(job.job_id):
            raise JobCancelled(job.job_id)
        current = self.state.job(job.job_id)
        if current is None or current.get("owner") != self.owner or current["status"] != "running":
            raise LeaseLost(job.job_id)

    def _end(self, job: IngestJob, status: str) -> None:
        job.status = status  # type: ignore[assignment]
        job.finished_at = job.heartbeat = self.clock()
        if status == "succeeded":
            job.progress = 1.0
        jobs.save(self.state, job)
        self.state.drop_inputs(job.job_id)
        logger.info(
            "ingestion job %s %s: %d stored, %d skipped, %d failed, %d chunks",
            job.job_id,
            status,
            job.done,
            job.skipped,
            job.failed,
            job.chunks,
        )

    def _prune(self) -> None:
        """Forget ended jobs older than the retention (at most every 10 minutes)."""
        now = self.clock()
        if now - self._pruned_at < 600:
            return
        self._pruned_at = now
        for value in self.state.jobs(["succeeded", "failed", "cancelled"]):
            job = jobs.from_value(value)
            if now - (job.finished_at or job.updated_at) > self.cfg.retention_s:
                self.state.forget_job(job.job_id)


class _Heartbeat:
    """The progress callback of one batch: renews the lease, saves progress, and stops
    the batch when the job was cancelled or taken over (at most every ``heartbeat_s``)."""

    def __init__(self, runner: JobRunner, job: IngestJob, done_chars: int, batch_chars: int):
        self.runner, self.job = runner, job
        self.done_chars, self.batch_chars = done_chars, batch_chars
        self.last = runner.clock()

    def __call__(self, encoded: int, total: int, *, force: bool = False) -> None:
        runner, job = self.runner, self.job
        now = runner.clock()
        if not force and now - self.last < runner.cfg.heartbeat_s:
            return
        self.last = now
        runner._check(job)
        fraction = encoded / total if total else 0.0
        job.progress = (self.done_chars + fraction * self.batch_chars) / max(job.chars, 1)
        job.heartbeat = now
        jobs.save(runner.state, job)


def _lower_priority(nice: int, idle: bool) -> None:
    """Lower this thread's CPU priority (Linux: both are per thread): SCHED_IDLE runs it
    only on cycles no other thread wants; else niceness ``nice``."""
    tid = threading.get_native_id()
    try:
        if idle:
            os.sched_setscheduler(tid, os.SCHED_IDLE, os.sched_param(0))
        elif nice > 0:
            os.setpriority(os.PRIO_PROCESS, tid, nice)
    except (AttributeError, OSError) as exc:  # not Linux, or not permitted
        logger.info("ingestion jobs run at normal priority (%s)", exc)
