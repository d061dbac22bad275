"""One router per resource; each validates, forwards to a stage, and shapes the reply.

Routes reach the stages through :class:`Backends`, which the app factory
(:func:`deployments.ingress.api.create_api`) puts in ``app.state`` and FastAPI injects
per request; nothing here is a module global.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse

from deployments.ingress.context import request_id
from deployments.ingress.errors import error_response
from deployments.ingress.forward import DEADLINE_HEADER, forward
from deployments.ingress.schemas import (
    Citation,
    QueryRequest,
    QueryResponse,
    SearchRequest,
    SearchResponse,
    Usage,
)
from deployments.ingress.security import charge_tokens
from deployments.metrics import record_generated_tokens
from deployments.types import Answer, Hit, Retrieval


@dataclass
class Backends:
    """What the routes forward to: handles of the Supervisor and the Ingester (or fakes
    with the same ``method.remote(...)`` shape) and the readiness probe."""

    supervisor: Any
    ingester: Any
    readiness: Callable[[], Awaitable[tuple[bool, dict[str, str]]]]
    quotas: Any = None  # the Quota deployment (per-key rate limits); None: not enforced


def backends(request: Request) -> Backends:
    """The injected dependency: the backends of the app serving this request."""
    return request.app.state.backends


BackendsDep = Annotated[Backends, Depends(backends)]

queries = APIRouter(tags=["query"])
health = APIRouter(tags=["health"])


# Documented in the spec; read by deployments.ingress.forward.
Timeout = Annotated[
    str | None,
    Header(
        alias=DEADLINE_HEADER,
        description="Deadline of this request in seconds (default and maximum: the "
        "ingress config's admission.default_deadline_s / max_deadline_s). Work still "
        "running when it passes is cancelled.",
    ),
]
RequestId = Annotated[
    str | None,
    Header(alias="X-Request-Id", description="Your id for this request, echoed back."),
]


@queries.post("/v1/query", response_model=QueryResponse)
async def query(
    body: QueryRequest,
    request: Request,
    to: BackendsDep,
    _timeout: Timeout = None,
    _request_id: RequestId = None,
) -> QueryResponse | JSONResponse:
    rid = request_id(request)
    try:
        result: Answer = await forward(
            request,
            "query",
            lambda deadline, plan: to.supervisor.answer.remote(
                body.query, body.top_k, deadline, plan, where=body.where, agents=body.agents
            ),
        )
    except Exception as exc:  # noqa: BLE001 - every stage failure becomes the error body
        return error_response(exc, request_id=rid)
    await account_tokens(request, "query", result)
    return QueryResponse(
        answer=result.answer,
        citations=_citations(result.citations),
        generator=result.generator,
        route=result.route,
        stages=list(result.stages),
        timings_ms=result.timings_ms,
        request_id=rid,
        cached=result.cached,
        usage=Usage(**result.usage) if result.usage else None,
        degraded=list(result.degraded),
        trace=result.trace,
    )


@queries.post("/v1/search", response_model=SearchResponse)
async def search(
    body: SearchRequest,
    request: Request,
    to: BackendsDep,
    _timeout: Timeout = None,
    _request_id: RequestId = None,
) -> SearchResponse | JSONResponse:
    """The retrieval half of a query (rewrite, hybrid search, rerank): passages, no answer."""
    rid = request_id(request)
    try:
        result: Retrieval = await forward(
            request,
            "search",
            lambda deadline, plan: to.supervisor.search.remote(
                body.query, body.top_k, deadline, plan, where=body.where, agents=body.agents
            ),
        )
    except Exception as exc:  # noqa: BLE001 - every stage failure becomes the error body
        return error_response(exc, request_id=rid)
    return SearchResponse(
        citations=_citations(result.hits),
        route=result.route,
        stages=list(result.stages),
        timings_ms=result.timings_ms,
        request_id=rid,
        degraded=list(result.degraded),
        trace=result.trace,
    )


async def account_tokens(request: Request, route: str, answer: Answer) -> None:
    """The tokens ``answer`` generated: counted in ``rag_generated_tokens`` for ``route``
    and charged to the request's API key (its tokens/min quota)."""
    tokens = (answer.usage or {}).get("completion_tokens")
    if tokens:
        record_generated_tokens(route, tokens)
    await charge_tokens(request, tokens)


def _citations(hits: list[Hit]) -> list[Citation]:
    return [Citation.of(h) for h in hits]


@health.get("/healthz")
async def healthz(to: BackendsDep) -> JSONResponse:
    ready, details = await to.readiness()
    return JSONResponse(
        status_code=200 if ready else 503,
        content={"status": "ok" if ready else "starting", "deployments": details},
    )
