"""Ray Serve shim of the quota book: one replica every Ingress replica calls."""

from __future__ import annotations

import logging

from pydantic import ValidationError
from ray import serve
from ray.serve import Application

from deployments.errors import ConfigError
from deployments.observability.logs import route_stage_logs
from deployments.quota.config import DEPLOYMENT_NAME, QuotaConfig
from deployments.quota.core import Limits, QuotaBook

logger = logging.getLogger(__name__)


@serve.deployment(
    name=DEPLOYMENT_NAME,
    num_replicas=1,
    max_ongoing_requests=1000,
    ray_actor_options={"num_cpus": 0.02},
)
class Quota:
    """The shared per-key buckets (see :mod:`deployments.quota.core`).

    One replica, so every Ingress replica spends from the same budget; its methods are
    ``async`` and never await, so each call runs whole on the replica's event loop (no
    lock needed). The state is memory only: a restarted Quota starts every key full,
    which at worst lets a key spend one extra minute's budget.

    Args:
        config: A :class:`QuotaConfig` or its ``model_dump()``.
        book: The buckets (tests pass one on a fake clock).
    """

    def __init__(self, config: dict | QuotaConfig | None = None, book: QuotaBook | None = None):
        route_stage_logs()  # this replica's deployments.* logs through Serve's logger
        try:
            self._cfg = QuotaConfig.model_validate(config or {})
        except ValidationError as exc:
            raise ConfigError(f"invalid quota config: {exc}", param="quota") from None
        self._book = (
            book if book is not None else QuotaBook(max_tracked_keys=self._cfg.max_tracked_keys)
        )
        logger.info("Quota ready: tracking up to %d keys", self._cfg.max_tracked_keys)

    async def admit(
        self,
        key_id: str,
        requests_per_min: float | None = None,
        tokens_per_min: float | None = None,
    ) -> float:
        """0.0 if ``key_id`` may send one more request now (it is counted), else the
        seconds until it may (the request count and the token budget in one call)."""
        return self._book.admit(key_id, Limits(requests_per_min, tokens_per_min))

    async def charge(
        self,
        key_id: str,
        tokens: int,
        requests_per_min: float | None = None,
        tokens_per_min: float | None = None,
    ) -> float:
        """Charge ``tokens`` generated for ``key_id`` (its limits as in :meth:`admit`);
        returns its token bucket's level, negative while it owes."""
        return self._book.charge(key_id, tokens, Limits(requests_per_min, tokens_per_min))


def build_quota_deployment(cfg: QuotaConfig | None = None) -> Application:
    """Bind the Quota deployment.

    >>> type(build_quota_deployment()).__name__
    'Application'
    """
    return Quota.bind((cfg or QuotaConfig()).model_dump())
