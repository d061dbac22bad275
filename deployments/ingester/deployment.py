"""Ingester deployment: a thin Serve shim over the chunker, the passage encoder and the
store. Ingestion runs here, apart from the replicas that answer queries."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from typing import Any

from ray import serve
from ray.serve.exceptions import RayServeException

from deployments.common.chunking import Chunker
from deployments.common.encoders.config import EmbedderConfig, TokenEncoderConfig
from deployments.common.encoders.passages import PassageEncoder, load_passage_encoder
from deployments.common.store.config import MilvusConfig
from deployments.common.store.library import Library, Page
from deployments.common.store.milvus import MilvusStore
from deployments.common.store.state import StateStore
from deployments.errors import InvalidRequestError, NotFoundError
from deployments.ingester import jobs
from deployments.ingester.config import IngesterConfig
from deployments.ingester.core import Progress, ingest_documents
from deployments.ingester.runner import JobRunner
from deployments.metrics import record_ingested
from deployments.observability.logs import route_stage_logs
from deployments.types import Document, DocumentRecord, IngestJob, IngestResult

logger = logging.getLogger(__name__)


@serve.deployment(name="Ingester", ray_actor_options={"num_cpus": 0.25})
class Ingester:
    """Chunks documents, encodes each chunk once (dense and token vectors), stores each
    document all-or-nothing in the shared store, runs ingestion jobs in the background,
    and keeps the document library.

    Args:
        config: An ``IngesterConfig`` (or its dict form).
        milvus: The store's ``MilvusConfig`` (or its dict form).
        embedder: The dense embedder's settings (the Retriever's, so passages and queries
            share a model).
        tokens: The token encoder's settings (the Reranker's).
        encoder: The passage encoder; loaded from ``embedder`` and ``tokens`` when omitted.
        store: The store; connected from ``milvus`` when omitted.
        run_jobs: Start this replica's job runner (tests drive it themselves).
    """

    def __init__(
        self,
        config: dict[str, Any] | IngesterConfig,
        milvus: dict[str, Any] | MilvusConfig,
        embedder: dict[str, Any] | EmbedderConfig,
        tokens: dict[str, Any] | TokenEncoderConfig,
        *,
        encoder: PassageEncoder | None = None,
        store: MilvusStore | None = None,
        run_jobs: bool = True,
    ) -> None:
        route_stage_logs()  # this replica's deployments.* logs through Serve's logger
        self.cfg = IngesterConfig.model_validate(config)
        threads = {"num_threads": self.cfg.num_threads} if self.cfg.num_threads else {}
        self.encoder = encoder or load_passage_encoder(
            EmbedderConfig.model_validate(embedder).model_copy(update=threads),
            TokenEncoderConfig.model_validate(tokens).model_copy(update=threads),
        )
        self.store = store or MilvusStore(MilvusConfig.model_validate(milvus), dim=self.encoder.dim)
        self.library = Library(self.store)
        self.state = StateStore(self.store)
        self.chunker = Chunker(
            chunk_size=self.cfg.chunking.chunk_size,
            chunk_overlap=self.cfg.chunking.chunk_overlap,
            tokenize=self.encoder.tokenize,
        )
        self.runner = JobRunner(
            self.state, self._ingest_batch, self.cfg.jobs, owner=_replica_name()
        )
        if run_jobs:
            self.runner.start()

    def _store(
        self,
        documents: list[Document],
        replace: bool,
        *,
        strict: bool,
        progress: Progress | None = None,
    ) -> IngestResult:
        result = ingest_documents(
            documents,
            chunker=self.chunker,
            encoder=self.encoder,
            store=self.store,
            library=self.library,
            state=self.state,
            replace=replace,
            strict=strict,
            encode_batch=self.cfg.encode_batch,
            publish_max_bytes=self.cfg.publish_max_bytes,
            progress=progress,
        )
        record_ingested(
            "request" if strict else "job",
            stored=result.stored,
            skipped=result.skipped,
            refused=len(result.errors),
            chunks=result.chunks,
        )
        return result

    def _ingest_batch(
        self, documents: list[Document], replace: bool, progress: Progress
    ) -> IngestResult:
        return self._store(documents, replace, strict=False, progress=progress)

    # -- synchronous ingestion ----------------------------------------------------------
    async def ingest(self, documents: list[Document], replace: bool = False) -> IngestResult:
        """Store the documents while the caller waits (see :func:`.core.ingest_documents`);
        ``replace`` swaps in new versions of stored documents whose content changed."""
        limit = self.cfg.max_documents_per_request
        if len(documents) > limit:
            raise InvalidRequestError(
                f"{len(documents)} documents in one call, more than "
                f"ingester.max_documents_per_request={limit}; send them in several calls, "
                "or as one job (POST /v1/ingest/jobs)",
                param="documents",
            )
        return await asyncio.to_thread(self._store, documents, replace, strict=True)

    # -- jobs ---------------------------------------------------------------------------
    async def submit(self, documents: list[Document], replace: bool = False) -> IngestJob:
        """Queue a job for ``documents``; any replica's runner may run it."""
        limit = self.cfg.jobs.max_documents
        if len(documents) > limit:
            raise InvalidRequestError(
                f"{len(documents)} documents in one job, more than "
                f"ingester.jobs.max_documents={limit}; submit several jobs",
                param="documents",
            )
        job = await asyncio.to_thread(
            jobs.submit,
            self.state,
            documents,
            replace=replace,
            max_active=self.cfg.jobs.max_active,
        )
        self.runner.wake()
        return job

    async def job(self, job_id: str) -> IngestJob:
        return await asyncio.to_thread(jobs.get, self.state, job_id)

    async def cancel(self, job_id: str) -> IngestJob:
        return await asyncio.to_thread(jobs.cancel, self.state, job_id)

    async def recent_jobs(self, limit: int = 50) -> list[IngestJob]:
        return await asyncio.to_thread(jobs.recent, self.state, limit)

    # -- the library --------------------------------------------------------------------
    async def documents(self, limit: int = 50, after: str | None = None) -> Page:
        return await asyncio.to_thread(self.library.page, limit=limit, after=after)

    async def document(self, doc_id: str) -> DocumentRecord:
        record = await asyncio.to_thread(self.library.get, doc_id)
        if record is None:
            raise _no_document(doc_id)
        return record

    async def delete(self, doc_id: str) -> DocumentRecord:
        """Delete every chunk of the document, then its library row."""
        return await asyncio.to_thread(self._delete, doc_id)

    def _delete(self, doc_id: str) -> DocumentRecord:
        record = self.library.get(doc_id)
        if record is None:
            if not self.store.published_doc_ids([doc_id]):
                raise _no_document(doc_id)
            record = DocumentRecord(doc_id, "", 0, 0, "", "", 0.0)  # chunks of a lost row
        self.store.delete_document(doc_id)
        self.library.remove(doc_id)
        self.state.bump_corpus()
        return record

    def check_health(self) -> None:
        """Healthy once constructed (a Milvus outage gives 503s, not restarts)."""

    def __del__(self) -> None:
        runner = getattr(self, "runner", None)
        if runner is not None:
            runner.stop(timeout_s=0)


def _no_document(doc_id: str) -> NotFoundError:
    return NotFoundError(
        f"no stored document {doc_id!r}: list them with GET /v1/documents", param="doc_id"
    )


def _replica_name() -> str:
    """This replica's id in Serve (a host and process id outside it)."""
    try:
        return serve.get_replica_context().replica_id.unique_id
    except RayServeException:  # not in a Serve replica (tests, tools)
        return f"{socket.gethostname()}-{os.getpid()}"


def build_ingester_deployment(
    cfg: IngesterConfig,
    milvus: MilvusConfig,
    embedder: EmbedderConfig,
    tokens: TokenEncoderConfig,
) -> serve.Application:
    """The ingester bound to its config, the store, and the two encoders' settings."""
    return Ingester.bind(
        cfg.model_dump(), milvus.model_dump(), embedder.model_dump(), tokens.model_dump()
    )
