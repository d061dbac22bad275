"""Routes of the document library and of ingestion jobs; each forwards to the Ingester.

- ``POST /v1/documents`` stores documents while the caller waits (small batches);
  ``POST /v1/ingest/jobs`` queues any amount and answers ``202`` at once, with a job
  to poll (``GET /v1/ingest/jobs/{job_id}``) or cancel (``DELETE``).
- ``GET /v1/documents`` pages through what is stored; ``GET``/``PUT``/``DELETE
  /v1/documents/{id}`` read, replace and delete one document (every chunk of it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, status
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import AfterValidator
from starlette.exceptions import HTTPException
from starlette.routing import Match
from starlette.types import Receive, Scope, Send

from deployments.common.ids import MAX_DOC_ID_BYTES, content_id, id_problem
from deployments.errors import InvalidRequestError
from deployments.ingress.context import request_id
from deployments.ingress.errors import error_response
from deployments.ingress.forward import forward
from deployments.ingress.library.schemas import (
    MAX_PAGE,
    DeletedResponse,
    DocumentPage,
    IngestJobRequest,
    IngestJobResponse,
    JobListResponse,
    ReplaceRequest,
    ReplaceResponse,
    StoredDocument,
)
from deployments.ingress.routes import BackendsDep, RequestId, Timeout
from deployments.ingress.schemas import (
    ID_PATTERN,
    DocumentIn,
    DocumentsRequest,
    DocumentsResponse,
)
from deployments.types import Document


class SharedPathRoute(APIRoute):
    """A route whose 405 names every method its path is served with: the library's paths
    are split over routers of different scopes (``GET /v1/documents`` needs ``query``,
    ``POST`` ``ingest``), and Starlette's ``Allow`` would name the first route's only."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.methods and scope["method"] not in self.methods and "app" in scope:
            allowed: set[str] = set()
            for route in scope["app"].router.routes:
                methods = getattr(route, "methods", None)
                if methods and route.matches(scope)[0] is not Match.NONE:
                    allowed |= methods
            raise HTTPException(status_code=405, headers={"Allow": ", ".join(sorted(allowed))})
        await super().handle(scope, receive, send)


library = APIRouter(tags=["documents"], route_class=SharedPathRoute)  # reads: query scope
documents = APIRouter(tags=["documents"], route_class=SharedPathRoute)  # writes: ingest
jobs = APIRouter(tags=["ingestion jobs"], route_class=SharedPathRoute)  # the ingest scope


def _document_id(value: str) -> str:
    """``value`` if it can be a document id (none other is stored, and one with a control
    character cannot even be looked up: no store expression can hold it)."""
    if (problem := id_problem(value)) is not None:
        raise ValueError(f"a document id {problem}")
    return value


_ID_SCHEMA = {"pattern": ID_PATTERN, "maxLength": MAX_DOC_ID_BYTES}
DocId = Annotated[
    str,
    Path(
        description="The document's id, URL-encoded (ids may hold '/', spaces, any Unicode); "
        f"at most {MAX_DOC_ID_BYTES} bytes of UTF-8, without control characters.",
        min_length=1,
        json_schema_extra=_ID_SCHEMA,
    ),
    AfterValidator(_document_id),
]
JobId = Annotated[
    str,
    Path(
        description="The id POST /v1/ingest/jobs returned.",
        min_length=1,
        max_length=64,
        pattern=r"^[0-9A-Za-z_-]+$",
    ),
]
After = Annotated[
    str | None,
    Query(
        description="The `next_after` of the previous page (a document id).",
        json_schema_extra=_ID_SCHEMA,
    ),
    AfterValidator(lambda v: v if v is None else _document_id(v)),
]


def to_document(d: DocumentIn) -> Document:
    """The stage's document of a request's (its id: given, or a hash of the text)."""
    return Document(
        doc_id=d.id if d.id is not None else content_id(d.text),
        text=d.text,
        title=d.title or "",
        metadata=d.metadata or {},
    )


async def _ingester(request: Request, call: Callable[[], Any], reply: Callable[[Any], Any]):
    """``reply(result)`` of ``call()`` (an Ingester method's ``.remote(...)``), forwarded
    under the request's deadline; any failure, ``call``'s own checks included, becomes the
    error body."""
    try:
        result = await forward(
            request, "ingest", lambda _d, _p: call(), stage="Ingester", admit=False
        )
    except Exception as exc:  # noqa: BLE001 - every stage failure becomes the error body
        return error_response(exc, request_id=request_id(request))
    return reply(result)


@documents.post("/v1/documents", response_model=DocumentsResponse)
async def add_documents(
    body: DocumentsRequest,
    request: Request,
    to: BackendsDep,
    _timeout: Timeout = None,
    _request_id: RequestId = None,
) -> DocumentsResponse | JSONResponse:
    """Store documents while you wait, each all or nothing (a document already stored is
    skipped, or replaced with ``on_existing: replace``). Larger loads: ingestion jobs."""
    docs = [to_document(d) for d in body.documents]
    replace = body.on_existing == "replace"
    return await _ingester(
        request,
        lambda: to.ingester.ingest.remote(docs, replace),
        lambda result: DocumentsResponse(
            stored=result.stored,
            skipped=result.skipped,
            chunks=result.chunks,
            ids=result.ids,
            replaced=result.replaced,
        ),
    )


@library.get("/v1/documents", response_model=DocumentPage)
async def list_documents(
    request: Request,
    to: BackendsDep,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Documents per page.")] = 50,
    after: After = None,
) -> DocumentPage | JSONResponse:
    """The stored documents in id order, a page at a time."""
    return await _ingester(
        request,
        lambda: to.ingester.documents.remote(limit, after),
        lambda page: DocumentPage(
            documents=[StoredDocument.of(r) for r in page.documents],
            total=page.total,
            next_after=page.next_after,
        ),
    )


@library.get("/v1/documents/{doc_id:path}", response_model=StoredDocument)
async def get_document(
    doc_id: DocId, request: Request, to: BackendsDep
) -> StoredDocument | JSONResponse:
    return await _ingester(request, lambda: to.ingester.document.remote(doc_id), StoredDocument.of)


@documents.put("/v1/documents/{doc_id:path}", response_model=ReplaceResponse)
async def replace_document(
    doc_id: DocId,
    body: ReplaceRequest,
    request: Request,
    to: BackendsDep,
    _timeout: Timeout = None,
) -> ReplaceResponse | JSONResponse:
    """Store this content as the document ``doc_id``: its new version replaces the old
    one whole (a query sees one or the other); the same content again changes nothing."""

    def store():
        if body.id is not None and body.id != doc_id:
            raise InvalidRequestError(
                f"the body's id {body.id!r} is not the path's {doc_id!r}; omit it",
                param="id",
            )
        doc = to_document(body.model_copy(update={"id": doc_id}))
        return to.ingester.ingest.remote([doc], True)

    def reply(result) -> ReplaceResponse:
        outcome = "unchanged" if result.skipped else "replaced" if result.replaced else "stored"
        return ReplaceResponse(id=doc_id, status=outcome, chunks=result.chunks)

    return await _ingester(request, store, reply)


@documents.delete("/v1/documents/{doc_id:path}", response_model=DeletedResponse)
async def delete_document(
    doc_id: DocId, request: Request, to: BackendsDep
) -> DeletedResponse | JSONResponse:
    """Delete the document: every chunk of it, then its library entry."""
    return await _ingester(
        request,
        lambda: to.ingester.delete.remote(doc_id),
        lambda record: DeletedResponse(id=doc_id, chunks=record.chunks),
    )


@jobs.post(
    "/v1/ingest/jobs", response_model=IngestJobResponse, status_code=status.HTTP_202_ACCEPTED
)
async def submit_job(
    body: IngestJobRequest, request: Request, to: BackendsDep, _request_id: RequestId = None
) -> IngestJobResponse | JSONResponse:
    """Queue the documents for ingestion and answer at once; poll the job for progress."""
    docs = [to_document(d) for d in body.documents]
    replace = body.on_existing == "replace"
    return await _ingester(
        request,
        lambda: to.ingester.submit.remote(docs, replace),
        lambda job: JSONResponse(
            IngestJobResponse.of(job).model_dump(mode="json"),
            status_code=status.HTTP_202_ACCEPTED,
            headers={"Location": f"/v1/ingest/jobs/{job.job_id}"},
        ),
    )


@jobs.get("/v1/ingest/jobs", response_model=JobListResponse)
async def list_jobs(
    request: Request,
    to: BackendsDep,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Most recent jobs.")] = 50,
) -> JobListResponse | JSONResponse:
    return await _ingester(
        request,
        lambda: to.ingester.recent_jobs.remote(limit),
        lambda found: JobListResponse(jobs=[IngestJobResponse.of(j) for j in found]),
    )


@jobs.get("/v1/ingest/jobs/{job_id}", response_model=IngestJobResponse)
async def get_job(job_id: JobId, request: Request, to: BackendsDep):
    return await _ingester(request, lambda: to.ingester.job.remote(job_id), IngestJobResponse.of)


@jobs.delete("/v1/ingest/jobs/{job_id}", response_model=IngestJobResponse)
async def cancel_job(job_id: JobId, request: Request, to: BackendsDep):
    """Cancel the job: it stops at its next batch; documents already stored stay."""
    return await _ingester(request, lambda: to.ingester.cancel.remote(job_id), IngestJobResponse.of)
