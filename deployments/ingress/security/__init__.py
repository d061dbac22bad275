"""The edge's security: API keys with scopes, per-key quotas, body size limit, CORS.

- ``config``: :class:`SecurityConfig` (``ingress.security``);
- ``keys``: the keys file (hashes only) and the per-request lookup;
- ``guard``: authentication, scopes and quotas as router dependencies;
- ``body``: the 413 body-size middleware.

:func:`install_security` wires them into the app; ``create_api`` calls it.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

from deployments.ingress.security.body import BodyLimitMiddleware
from deployments.ingress.security.config import CorsConfig, RateLimits, SecurityConfig
from deployments.ingress.security.guard import Guard, charge_tokens, require
from deployments.ingress.security.keys import Caller, Scope

__all__ = [
    "Caller",
    "CorsConfig",
    "Guard",
    "RateLimits",
    "Scope",
    "SecurityConfig",
    "charge_tokens",
    "install_security",
    "require",
]


def install_security(api: FastAPI, config: SecurityConfig, quotas: Any = None) -> Guard:
    """Add the body limit and (if configured) CORS to ``api``, and its :class:`Guard`
    (``api.state.guard``), whose :func:`require` dependencies the routers take.

    Raises:
        ConfigError: ``config.api_keys`` names a missing or malformed keys file.
    """
    guard = api.state.guard = Guard(config, quotas)
    api.add_middleware(BodyLimitMiddleware, max_body_bytes=config.max_body_bytes)
    cors = config.cors
    if cors.allow_origins:  # added last: outside the body limit, so a 413 carries CORS too
        api.add_middleware(
            CORSMiddleware,
            allow_origins=cors.allow_origins,
            allow_methods=cors.allow_methods,
            allow_headers=cors.allow_headers,
            expose_headers=cors.expose_headers,
            allow_credentials=cors.allow_credentials,
            max_age=cors.max_age_s,
        )
    return guard
