"""Ingress deployment: the FastAPI app, built when the replica starts, around its handles."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI
from ray import serve
from ray.serve.handle import DeploymentHandle

from deployments.ingress.api import create_api
from deployments.ingress.config import IngressConfig
from deployments.ingress.routes import Backends
from deployments.observability.logs import route_stage_logs


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
        config: An :class:`IngressConfig` (or its dict form).
        supervisor: Handle of the Supervisor.
        ingester: Handle of the Ingester.
        milvus: Handle of the local profile's Milvus deployment, or None. Unused by the
            routes; binding it here makes it part of the application.
        quotas: Handle of the Quota deployment (per-key rate limits shared by every
            Ingress replica), or None. Called only when API keys are on.

    Raises:
        ConfigError: ``config.security.api_keys`` names a missing or malformed keys file
            (raised when Serve builds the app, so the replica fails to start).
    """

    def __init__(
        self,
        config: dict | IngressConfig,
        supervisor: DeploymentHandle,
        ingester: DeploymentHandle,
        milvus: DeploymentHandle | None = None,
        quotas: DeploymentHandle | None = None,
    ) -> None:
        route_stage_logs()
        self._config = IngressConfig.model_validate(config)
        self._backends = Backends(
            supervisor, ingester, lambda: asyncio.to_thread(_readiness), quotas=quotas
        )

    def __serve_build_asgi_app__(self) -> FastAPI:
        """Serve's hook for an app built at replica start: the routes get this replica's
        handles by injection."""
        return create_api(self._backends, self._config, behind_serve=True)


def build_ingress_deployment(
    cfg: IngressConfig,
    *,
    supervisor: serve.Application,
    ingester: serve.Application,
    milvus: serve.Application | None = None,
    quotas: serve.Application | None = None,
) -> serve.Application:
    """The ingress bound to the stages it forwards to (and Milvus, when the graph runs it;
    and the Quota deployment, which it calls when API keys are on)."""
    return Ingress.bind(cfg.model_dump(), supervisor, ingester, milvus, quotas)
