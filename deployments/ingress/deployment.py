"""Ingress deployment: the FastAPI app, built when the replica starts, around its handles."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI
from ray import serve
from ray.serve.handle import DeploymentHandle

from deployments.ingress.api import create_api
from deployments.ingress.routes import Backends


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
@serve.ingress()
class Ingress:
    """Validates HTTP requests and forwards them: queries to the Supervisor, documents to
    the Ingester.

    Args:
        supervisor: Handle of the Supervisor.
        ingester: Handle of the Ingester.
        milvus: Handle of the local profile's Milvus deployment, or None. Unused by the
            routes; binding it here makes it part of the application.
    """

    def __init__(
        self,
        supervisor: DeploymentHandle,
        ingester: DeploymentHandle,
        milvus: DeploymentHandle | None = None,
    ) -> None:
        self._backends = Backends(supervisor, ingester, lambda: asyncio.to_thread(_readiness))

    def __serve_build_asgi_app__(self) -> FastAPI:
        """Serve's hook for an app built at replica start: the routes get this replica's
        handles by injection."""
        return create_api(self._backends)


def build_ingress_deployment(
    *,
    supervisor: serve.Application,
    ingester: serve.Application,
    milvus: serve.Application | None = None,
) -> serve.Application:
    """The ingress bound to the stages it forwards to (and Milvus, when the graph runs it)."""
    return Ingress.bind(supervisor, ingester, milvus)
