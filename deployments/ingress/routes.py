"""One router per resource; each validates, forwards to a handle, and shapes the reply."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Header
from fastapi.responses import JSONResponse

from deployments.ingress.errors import error_response
from deployments.ingress.schemas import (
    Citation,
    DocumentsRequest,
    DocumentsResponse,
    QueryRequest,
    QueryResponse,
    SearchRequest,
    SearchResponse,
)
from deployments.retriever.chunking import content_id
from deployments.types import Answer, Document, Hit, IngestResult, Retrieval


@dataclass
class Backends:
    """What the routes forward to; set once per replica by the Ingress deployment."""

    supervisor: object
    retriever: object
    readiness: Callable[[], Awaitable[tuple[bool, dict[str, str]]]]


_backends: Backends | None = None


def set_backends(backends: Backends) -> None:
    global _backends
    _backends = backends


def backends() -> Backends:
    if _backends is None:
        raise RuntimeError("ingress routes used before the Ingress deployment set its backends")
    return _backends


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
        timings_ms=result.timings_ms,
        request_id=request_id,
        cached=result.cached,
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
        timings_ms=result.timings_ms,
        request_id=request_id,
    )


def _citations(hits: list[Hit]) -> list[Citation]:
    return [
        Citation(doc_id=h.doc_id, chunk_id=h.chunk_id, text=h.text, score=h.score) for h in hits
    ]


@documents.post("/v1/documents", response_model=DocumentsResponse)
async def add_documents(
    body: DocumentsRequest, to: BackendsDep
) -> DocumentsResponse | JSONResponse:
    docs = [
        Document(
            doc_id=d.id or content_id(d.text),
            text=d.text,
            title=d.title or "",
            metadata=d.metadata or {},
        )
        for d in body.documents
    ]
    try:
        result: IngestResult = await to.retriever.ingest.remote(docs)
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
