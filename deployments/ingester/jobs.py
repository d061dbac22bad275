"""Ingestion jobs over the state store: submit, read, cancel, and the records they keep.

A job is its staged documents plus one row whose status and lease (owner, heartbeat)
the runner (:mod:`deployments.ingester.runner`) keeps current. Everything here is a
plain function of a :class:`StateStore`, so any Ingester replica can answer for any job.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Sequence
from typing import Any

from deployments.common.ids import version_stamp
from deployments.common.store.state import StateStore
from deployments.errors import NotFoundError, OverloadedError
from deployments.types import JOB_ENDED, Document, IngestJob

#: Per-document errors a job keeps (the count in ``failed`` is always exact).
MAX_ERRORS = 50
MAX_ERROR_CHARS = 500
_FIELDS = {f.name for f in dataclasses.fields(IngestJob)}


def to_value(job: IngestJob) -> dict[str, Any]:
    """The job as the JSON its row keeps."""
    return dataclasses.asdict(job)


def from_value(value: dict[str, Any]) -> IngestJob:
    """The job a row's JSON describes (unknown keys, from a newer version, ignored)."""
    return IngestJob(**{k: v for k, v in value.items() if k in _FIELDS})


def save(state: StateStore, job: IngestJob) -> None:
    job.updated_at = time.time()
    state.put_job(job.job_id, job.status, job.heartbeat, to_value(job))


def submit(
    state: StateStore, docs: Sequence[Document], *, replace: bool, max_active: int
) -> IngestJob:
    """Stage ``docs`` and queue a job for them; every document gets the job's version.

    Raises:
        OverloadedError: ``max_active`` jobs are queued or running already.
    """
    active = len(state.jobs(["queued", "running"]))
    if active >= max_active:
        raise OverloadedError(
            f"{active} ingestion jobs are queued or running, the most this graph takes "
            f"(ingester.jobs.max_active={max_active}); retry when one has finished",
            retry_after_s=30.0,
        )
    version = version_stamp()
    now = time.time()
    job = IngestJob(
        job_id=uuid.uuid4().hex,
        status="queued",
        version=version,
        replace=replace,
        total=len(docs),
        chars=sum(len(d.text) for d in docs),
        created_at=now,
    )
    state.stage(job.job_id, [dataclasses.replace(d, version=version) for d in docs])
    save(state, job)  # after its inputs: a queued job always has them
    return job


def get(state: StateStore, job_id: str) -> IngestJob:
    """The job, shown ``cancelled`` as soon as a cancel was asked for.

    Raises:
        NotFoundError: No job has that id (or it was pruned).
    """
    value = state.job(job_id)
    if value is None:
        raise NotFoundError(
            f"no ingestion job {job_id!r}: check the job_id POST /v1/ingest/jobs returned "
            "(finished jobs are kept for ingester.jobs.retention_s)",
            param="job_id",
        )
    job = from_value(value)
    if job.status not in JOB_ENDED and state.cancel_requested(job_id):
        job.status = "cancelled"
    return job


def cancel(state: StateStore, job_id: str) -> IngestJob:
    """Ask the job to stop: its runner stops at the next batch of chunks; documents
    already stored stay (each is whole). A job that has ended is returned unchanged."""
    job = get(state, job_id)
    if job.status in JOB_ENDED:
        return job
    state.request_cancel(job_id)
    job.status = "cancelled"
    return job


def recent(state: StateStore, limit: int) -> list[IngestJob]:
    """The ``limit`` most recently created jobs, newest first."""
    jobs = sorted((from_value(v) for v in state.jobs()), key=lambda j: j.created_at, reverse=True)
    return jobs[:limit]


def record_errors(job: IngestJob, errors: dict[str, str]) -> None:
    """Add per-document errors (at most :data:`MAX_ERRORS` kept, each shortened)."""
    job.failed += len(errors)
    for doc_id, message in errors.items():
        if len(job.errors) >= MAX_ERRORS:
            break
        job.errors.append({"doc_id": doc_id, "message": message[:MAX_ERROR_CHARS]})


def claimable(job: IngestJob, *, now: float, lease_s: float) -> bool:
    """Queued, or running under a lease its owner stopped renewing (it died)."""
    if job.status == "queued":
        return True
    return job.status == "running" and now - job.heartbeat > lease_s
