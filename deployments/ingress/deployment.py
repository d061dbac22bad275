"""Ingress deployment: the FastAPI app behind ``serve.ingress``."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI
from ray import serve
from ray.serve.handle import DeploymentHandle

from deployments.ingress.errors import install_error_handlers
from deployments.ingress.routes import Backends, documents, health, queries, set_backends

api = FastAPI(
    title="RAG on Ray Serve",
    version="0.1.0",
    description="Retrieval-augmented generation served as one Ray Serve deployment graph.",
)
install_error_handlers(api)
for router in (queries, documents, health):
    api.include_router(router)


def _readiness() -> tuple[bool, dict[str, str]]:
    """(every deployment of this app is HEALTHY, status per deployment)."""
    app_name = serve.get_replica_context().app_name
    app = serve.status().applications.get(app_name)
    if app is None:
        return False, {}
    details = {name: str(d.status.value) for name, d in app.deployments.items()}
    ready = str(app.status.value) == "RUNNING" and all(s == "HEALTHY" for s in details.values())
    return ready, details


@serve.deployment(name="Ingress", ray_actor_options={"num_cpus": 0.1})
@serve.ingress(api)
class Ingress:
    """Validates HTTP requests and forwards them: queries to the supervisor, documents to
    the retriever."""

    def __init__(self, supervisor: DeploymentHandle, retriever: DeploymentHandle) -> None:
        set_backends(Backends(supervisor, retriever, lambda: asyncio.to_thread(_readiness)))
