"""The FastAPI app of the ingress, built per replica around its backends."""

from __future__ import annotations

from fastapi import FastAPI

from deployments.ingress.admission import Admission
from deployments.ingress.chat.routes import chat
from deployments.ingress.config import IngressConfig
from deployments.ingress.context import RequestIdMiddleware
from deployments.ingress.errors import install_error_handlers
from deployments.ingress.library.routes import documents, jobs, library
from deployments.ingress.openapi import install_openapi
from deployments.ingress.page import install_page
from deployments.ingress.routes import Backends, health, queries
from deployments.ingress.security import install_security, require


def create_api(
    backends: Backends, config: IngressConfig | None = None, *, behind_serve: bool = False
) -> FastAPI:
    """The HTTP API over ``backends`` (handles in Serve, fakes in tests), as ``config``
    (default: :class:`IngressConfig` defaults) sets the edge's policies. ``behind_serve``:
    Serve's proxy echoes ``X-Request-Id`` itself, so the app does not.

    >>> async def ready(): return True, {}
    >>> sorted({r.path for r in create_api(Backends(None, None, ready)).routes
    ...         if r.path.startswith("/v1")})  # doctest: +NORMALIZE_WHITESPACE
    ['/v1/chat/completions', '/v1/documents', '/v1/documents/{doc_id:path}',
     '/v1/ingest/jobs', '/v1/ingest/jobs/{job_id}', '/v1/models', '/v1/query', '/v1/search']
    """
    api = FastAPI(
        title="RAG on Ray Serve",
        version="0.1.0",
        description="Retrieval-augmented generation served as one Ray Serve deployment graph.",
    )
    install_error_handlers(api)
    security = (config or IngressConfig()).security
    guard = install_security(api, security, backends.quotas)  # keys, body limit, CORS
    api.add_middleware(RequestIdMiddleware, echo=not behind_serve)
    api.include_router(queries, dependencies=[require(guard, "query")])
    api.include_router(chat, dependencies=[require(guard, "query")])
    api.include_router(library, dependencies=[require(guard, "query")])
    api.include_router(documents, dependencies=[require(guard, "ingest")])
    api.include_router(jobs, dependencies=[require(guard, "ingest")])
    api.include_router(health)  # open, like /docs and /openapi.json: probes carry no key
    install_page(api)  # the chat page at /, open: it asks for a key when keys are on
    api.state.backends = backends
    api.state.config = config or IngressConfig()
    api.state.admission = Admission(api.state.config.admission)
    config = api.state.config
    install_openapi(
        api, max_deadline_s=config.admission.max_deadline_s, model_id=config.chat.model_id
    )
    return api
