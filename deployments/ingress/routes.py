"""One router per resource; each validates, forwards to a stage, and shapes the reply.

Routes reach the stages through :class:`Backends`, which the app factory
(:func:`deployments.ingress.api.create_api`) puts in ``app.state`` and FastAPI injects
per request; nothing here is a module global.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse

from deployments.common.ids import content_id
from deployments.ingress.errors import error_response
from deployments.ingress.schemas import (
    Citation,
    DocumentsRequest,
    DocumentsResponse,
    QueryRequest,
    QueryResponse,
    SearchRequest,
    SearchResponse,
    Usage,
)
from deployments.types import Answer, Document, Hit, IngestResult, Retrieval


@dataclass
class Backends:
    """What the routes forward to: handles of the Supervisor and the Ingester (or fakes
    with the same ``method.remote(...)`` shape) and the readiness probe."""

    supervisor: Any
    ingester: Any
    readiness: Callable[[], Awaitable[tuple[bool, dict[str, str]]]]


def backends(request: Request) -> Backends:
    """The injected dependency: the backends of the app serving this request."""
    return request.app.state.backends


BackendsDep = Annotated[Backends, Depends(backends)]

queries = APIRouter(tags=["query"])
documents = APIRouter(tags=["documents"])
health = APIRouter(tags=["health"])


def _request_id(header: str | None) -> str:
    if header and 0 < len(header) <= 128 and header.isprintable():
        return header
    return uuid.uuid4().hex


@queries.post("/v1/query", response_model=QueryResponse)
async def query(
    body: QueryRequest,
    to: BackendsDep,
    x_request_id: Annotated[str | None, Header()] = None,
) -> QueryResponse | JSONResponse:
    request_id = _request_id(x_request_id)
    try:
        result: Answer = await to.supervisor.answer.remote(body.query, body.top_k)
    except Exception as exc:  # noqa: BLE001 - every stage failure becomes the error body
        return error_response(exc)
    return QueryResponse(
        answer=result.answer,
        citations=_citations(result.citations),
        generator=result.generator,
        route=result.route,
        stages=list(result.stages),
        timings_ms=result.timings_ms,
        request_id=request_id,
        cached=result.cached,
        usage=Usage(**result.usage) if result.usage else None,
    )


@queries.post("/v1/search", response_model=SearchResponse)
async def search(
    body: SearchRequest,
    to: BackendsDep,
    x_request_id: Annotated[str | None, Header()] = None,
) -> SearchResponse | JSONResponse:
    """The retrieval half of a query (rewrite, hybrid search, rerank): passages, no answer."""
    request_id = _request_id(x_request_id)
    try:
        result: Retrieval = await to.supervisor.search.remote(body.query, body.top_k)
    except Exception as exc:  # noqa: BLE001 - every stage failure becomes the error body
        return error_response(exc)
    return SearchResponse(
        citations=_citations(result.hits),
        route=result.route,
        stages=list(result.stages),
        timings_ms=result.timings_ms,
        request_id=request_id,
    )


def _citations(hits: list[Hit]) -> list[Citation]:
    return [
        Citation(
            doc_id=h.doc_id,
            chunk_id=h.chunk_id,
            title=h.title,
            text=h.text,
            score=h.score,
            scores=h.scores,
        )
        for h in hits
    ]


@documents.post("/v1/documents", response_model=DocumentsResponse)
async def add_documents(
    body: DocumentsRequest, to: BackendsDep
) -> DocumentsResponse | JSONResponse:
    docs = [
        Document(
            doc_id=d.id if d.id is not None else content_id(d.text),
            text=d.text,
            title=d.title or "",
            metadata=d.metadata or {},
        )
        for d in body.documents
    ]
    try:
        result: IngestResult = await to.ingester.ingest.remote(docs)
    except Exception as exc:  # noqa: BLE001
        return error_response(exc)
    return DocumentsResponse(
        stored=result.stored, skipped=result.skipped, chunks=result.chunks, ids=result.ids
    )


@health.get("/healthz")
async def healthz(to: BackendsDep) -> JSONResponse:
    ready, details = await to.readiness()
    return JSONResponse(
        status_code=200 if ready else 503,
        content={"status": "ok" if ready else "starting", "deployments": details},
    )
