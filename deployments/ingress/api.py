"""The FastAPI app of the ingress, built per replica around its backends."""

from __future__ import annotations

from fastapi import FastAPI

from deployments.ingress.errors import install_error_handlers
from deployments.ingress.routes import Backends, documents, health, queries


def create_api(backends: Backends) -> FastAPI:
    """The HTTP API over ``backends`` (handles in Serve, fakes in tests).

    >>> async def ready(): return True, {}
    >>> sorted(r.path for r in create_api(Backends(None, None, ready)).routes
    ...        if r.path.startswith("/v1"))
    ['/v1/documents', '/v1/query', '/v1/search']
    """
    api = FastAPI(
        title="RAG on Ray Serve",
        version="0.1.0",
        description="Retrieval-augmented generation served as one Ray Serve deployment graph.",
    )
    install_error_handlers(api)
    for router in (queries, documents, health):
        api.include_router(router)
    api.state.backends = backends
    return api
