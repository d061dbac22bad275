"""Per request: who is calling (API key), may they call this route (scope), and may
they call it now (the shared per-key quota).

The checks run as FastAPI router dependencies (:func:`require`), so the routes carry no
security code; the caller lands on ``request.state.caller``. Order and replies:

* no key, or an unknown or revoked one: 401 ``authentication_error`` with
  ``WWW-Authenticate: Bearer``;
* a key without the route's scope: 403 ``permission_denied`` naming the scope;
* a key over its budget: 429 ``rate_limited`` with ``Retry-After`` (the seconds until
  its buckets allow the request, as the Quota deployment computes them).

**Quotas fail open.** If the Quota deployment cannot answer within
``security.quota_timeout_s`` (dead, restarting, overloaded), the request is let through
and a warning is logged (at most every 30 s). Quotas are fairness between trusted
callers, not security: authentication and scopes are checked here, on local state, and
keep failing closed. Failing closed would turn one 0.02-CPU helper into a single point
of failure of the whole API, for the sake of a budget Serve restores within seconds
(a restarted Quota starts every key full anyway).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.params import Depends as DependsParam
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from ray.exceptions import RayError
from ray.serve.exceptions import RayServeException

from deployments.errors import AuthenticationError, PermissionDeniedError, RateLimitedError
from deployments.ingress.security.config import RateLimits, SecurityConfig
from deployments.ingress.security.keys import SCOPES, Caller, KeyStore, Scope

logger = logging.getLogger(__name__)

OPEN_CALLER = Caller(None, frozenset(SCOPES), RateLimits())
"""Every request's caller when keys are off: all scopes, no quota."""
QUOTA_FAILURES = (RayError, RayServeException, TimeoutError)
"""What a call to an unreachable or overloaded Quota deployment raises."""
_WARN_EVERY_S = 30.0

_bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <API key>")
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="The API key.")


def _how() -> str:
    return "send it as `Authorization: Bearer <key>` or `X-API-Key: <key>`"


class Guard:
    """The edge's security state of one Ingress replica: the keys and the Quota handle.

    Args:
        config: The security policy.
        quotas: Handle of the Quota deployment (or a fake with ``admit.remote`` and
            ``charge.remote``); None enforces no rate limit.
        keys: The keys (default: read from ``config.api_keys``; None there: open API).

    Raises:
        ConfigError: ``config.api_keys`` names a missing or malformed keys file.
    """

    def __init__(
        self, config: SecurityConfig, quotas: Any = None, keys: KeyStore | None = None
    ) -> None:
        self.config = config
        self.quotas = quotas
        if keys is None and config.api_keys is not None:
            keys = KeyStore(config.api_keys, config.default_limits, config.reload_interval_s)
        self.keys = keys
        self._last_warning = -math.inf
        self._unwarned = 0
        if keys is None:
            logger.warning(
                "API KEYS ARE OFF: anyone who can reach this port may query AND ingest, with "
                "no rate limit (ingress.security.api_keys is null). Fine on your own machine; "
                "anywhere else create a key with `python -m graph.keys create --file "
                "keys.yaml --id NAME --scopes query` and set ingress.security.api_keys to "
                "that file's path in serve_config.yaml's args."
            )
        else:
            logger.info("API keys on: %d active key(s) from %s", len(keys), keys.path)
            if not len(keys):
                logger.warning("%s holds no active key: every /v1 request is refused", keys.path)
            if quotas is None:
                logger.warning("no Quota deployment bound: per-key rate limits are not enforced")

    @property
    def open(self) -> bool:
        """No keys: every request is let in as :data:`OPEN_CALLER`."""
        return self.keys is None

    def authenticate(self, key: str | None, headers: Mapping[str, str]) -> Caller:
        """The caller holding ``key`` (from either header), or raise 401."""
        if self.keys is None:
            return OPEN_CALLER
        if not key:
            scheme = (headers.get("authorization") or "").strip().split(" ", 1)[0]
            if scheme and scheme.lower() != "bearer":
                raise AuthenticationError(
                    f"Authorization scheme {scheme[:20]!r} is not supported; {_how()}",
                    param="Authorization",
                )
            raise AuthenticationError(
                f"missing API key: {_how()}; ask the operator for one "
                "(`python -m graph.keys create`)",
                param="Authorization",
            )
        caller = self.keys.lookup(key)
        if caller is None:
            raise AuthenticationError(
                "unknown or revoked API key; check it was copied whole, or ask the operator "
                "for a new one",
                param="Authorization",
            )
        return caller

    @staticmethod
    def authorize(caller: Caller, scope: Scope) -> None:
        """Raise 403 unless ``caller`` holds ``scope`` (or ``admin``)."""
        if not caller.allows(scope):
            raise PermissionDeniedError(
                f"API key {caller.key_id!r} lacks the {scope!r} scope this route needs (it "
                f"has {sorted(caller.scopes)}); use a key created with --scopes {scope}",
                param="scope",
            )

    async def admit(self, caller: Caller) -> None:
        """Spend one request of ``caller``'s budget, or raise 429 with Retry-After."""
        limits = caller.limits
        if self.quotas is None or caller.key_id is None or limits.unlimited:
            return
        try:
            call = self.quotas.admit.remote(
                caller.key_id, limits.requests_per_min, limits.tokens_per_min
            )
            wait_s = await asyncio.wait_for(call, self.config.quota_timeout_s)
        except QUOTA_FAILURES as exc:
            self._quota_unreachable("admit", exc)
            return
        if wait_s > 0:
            raise RateLimitedError(
                f"API key {caller.key_id!r} is over its rate limit (requests_per_min="
                f"{_num(limits.requests_per_min)}, tokens_per_min="
                f"{_num(limits.tokens_per_min)}); retry in {wait_s:.1f} s",
                param=None,
                retry_after_s=wait_s,
            )

    async def charge(self, caller: Caller, tokens: int) -> None:
        """Charge ``tokens`` generated for ``caller`` (after the answer; fails open)."""
        limits = caller.limits
        if self.quotas is None or caller.key_id is None or limits.tokens_per_min is None:
            return
        if tokens <= 0:
            return
        try:
            call = self.quotas.charge.remote(
                caller.key_id, tokens, limits.requests_per_min, limits.tokens_per_min
            )
            await asyncio.wait_for(call, self.config.quota_timeout_s)
        except QUOTA_FAILURES as exc:
            self._quota_unreachable("charge", exc)

    def _quota_unreachable(self, what: str, exc: BaseException) -> None:
        now = time.monotonic()
        if now - self._last_warning < _WARN_EVERY_S:
            self._unwarned += 1
            return
        logger.warning(
            "Quota deployment unreachable (%s: %r); letting requests through without a rate "
            "limit (quotas fail open; %d more since the last warning)",
            what,
            exc,
            self._unwarned,
        )
        self._last_warning, self._unwarned = now, 0


def _num(value: float | None) -> str:
    return "unlimited" if value is None else f"{value:g}"


def require(guard: Guard, scope: Scope) -> DependsParam:
    """The router dependency of routes that need ``scope``: authenticate, authorize,
    admit, and put the caller on ``request.state.caller``."""
    if guard.open:

        async def open_api(request: Request) -> Caller:
            request.state.caller = OPEN_CALLER
            return OPEN_CALLER

        return Depends(open_api)

    async def check(
        request: Request,
        bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
        api_key: Annotated[str | None, Depends(_api_key)],
    ) -> Caller:
        key = bearer.credentials.strip() if bearer else (api_key or "").strip()
        caller = guard.authenticate(key or None, request.headers)
        request.state.caller = caller
        guard.authorize(caller, scope)
        await guard.admit(caller)
        return caller

    return Depends(check)


async def charge_tokens(request: Request, tokens: int | None) -> None:
    """Charge the ``tokens`` an answer generated to the request's API key (no-op when
    keys are off, the key has no token budget, or ``tokens`` is None)."""
    guard: Guard | None = getattr(request.app.state, "guard", None)
    caller: Caller | None = getattr(request.state, "caller", None)
    if guard is None or caller is None or not tokens:
        return
    await guard.charge(caller, tokens)
