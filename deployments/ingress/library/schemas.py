"""Bodies of the library and job routes (strict, like every request of the contract)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, Field

from deployments.ingress.openapi import _metadata_property
from deployments.ingress.schemas import (
    MAX_JOB_TEXT_CHARS,
    ON_EXISTING,
    DocumentIn,
    OnExisting,
    _Strict,
)
from deployments.types import DocumentRecord, IngestJob

MAX_JOB_DOCUMENTS = 100_000
MAX_PAGE = 1000


class JobDocumentIn(DocumentIn):
    """A document of an ingestion job: as in ``POST /v1/documents``, with room for long
    texts (a book, a 300-page PDF's text)."""

    max_text_chars: ClassVar[int] = MAX_JOB_TEXT_CHARS


JobDocumentIn.model_fields["text"].json_schema_extra = {
    "maxLength": MAX_JOB_TEXT_CHARS,
    "pattern": DocumentIn.model_fields["text"].json_schema_extra["pattern"],
}
JobDocumentIn.model_fields[
    "text"
].description = f"The document's text (longer than {MAX_JOB_TEXT_CHARS:,} characters: 413)."
JobDocumentIn.model_rebuild(force=True)


def _metadata_as_documented(model: type[DocumentIn]) -> None:
    """Document ``model``'s ``metadata`` as the OpenAPI document does ``DocumentIn``'s
    (:func:`deployments.ingress.openapi.truthful` rewrites that component only): JSON the
    store holds, which its ``MetadataValue`` components spell out (so the reference
    resolves in the OpenAPI document, not in ``model.model_json_schema()``)."""
    field = model.model_fields["metadata"]
    field.json_schema_extra = _metadata_property(field.description or "")
    model.model_rebuild(force=True)


_metadata_as_documented(JobDocumentIn)


class IngestJobRequest(_Strict):
    documents: list[JobDocumentIn] = Field(
        min_length=1,
        max_length=MAX_JOB_DOCUMENTS,
        description="The documents to store; the whole body is bounded by the request size "
        "limit (ingress.security.max_body_bytes, 413 beyond it).",
    )
    on_existing: OnExisting = Field(default="skip", description=ON_EXISTING)


class JobDocuments(BaseModel):
    total: int
    done: int = Field(description="Stored (or replaced) by this job.")
    skipped: int = Field(description="Stored already (or unchanged), left as they were.")
    failed: int = Field(description="Refused; see `errors`.")


class JobError(BaseModel):
    doc_id: str
    message: str


class IngestJobResponse(BaseModel):
    job_id: str
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    documents: JobDocuments
    chunks: int = Field(description="Chunks stored by this job so far.")
    progress: float = Field(description="Share of the job's text processed, 0 to 1.")
    errors: list[JobError] = Field(description="Per-document errors (the first 50).")
    message: str | None = Field(default=None, description="Why the job failed as a whole.")
    on_existing: OnExisting
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    updated_at: datetime | None = None
    attempts: int = Field(description="Runs started; above 1 when a replica took it over.")

    @classmethod
    def of(cls, job: IngestJob) -> IngestJobResponse:
        return cls(
            job_id=job.job_id,
            status=job.status,
            documents=JobDocuments(
                total=job.total, done=job.done, skipped=job.skipped, failed=job.failed
            ),
            chunks=job.chunks,
            progress=round(min(max(job.progress, 0.0), 1.0), 4),
            errors=[JobError(**e) for e in job.errors],
            message=job.message,
            on_existing="replace" if job.replace else "skip",
            created_at=_time(job.created_at),
            started_at=_time(job.started_at),
            finished_at=_time(job.finished_at),
            updated_at=_time(job.updated_at),
            attempts=job.attempts,
        )


class JobListResponse(BaseModel):
    jobs: list[IngestJobResponse]


class StoredDocument(BaseModel):
    id: str
    title: str
    chunks: int
    chars: int
    version: str = Field(description="Changes when the document is replaced.")
    metadata: dict[str, Any]
    ingested_at: datetime

    @classmethod
    def of(cls, record: DocumentRecord) -> StoredDocument:
        return cls(
            id=record.doc_id,
            title=record.title,
            chunks=record.chunks,
            chars=record.chars,
            version=record.version,
            metadata=record.metadata,
            ingested_at=_time(record.ingested_at),
        )


class DocumentPage(BaseModel):
    documents: list[StoredDocument]
    total: int = Field(description="Documents in the library.")
    next_after: str | None = Field(
        description="Pass as `after` for the next page; null on the last page."
    )


class ReplaceRequest(DocumentIn):
    """The new content of one document (``PUT /v1/documents/{id}``): a document of
    ``POST /v1/documents`` whose ``id``, if given, is the one in the path."""


_replace_id = ReplaceRequest.model_fields["id"]
_replace_id.json_schema_extra = {
    **DocumentIn.model_fields["id"].json_schema_extra,
    "readOnly": True,  # the path names the document; a request need not send it
}
_replace_id.description = (
    "Omit it: the path names the document. If sent, it must be the path's id (else 400)."
)
_metadata_as_documented(ReplaceRequest)


class ReplaceResponse(BaseModel):
    id: str
    status: Literal["stored", "replaced", "unchanged"]
    chunks: int


class DeletedResponse(BaseModel):
    id: str
    deleted: bool = True
    chunks: int = Field(description="Chunks the document had.")


def _time(seconds: float | None) -> datetime | None:
    return datetime.fromtimestamp(seconds, tz=UTC) if seconds else None
