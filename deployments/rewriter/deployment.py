"""Ray Serve shim of the query rewriter: validates its config once, then calls pure code."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from pydantic import ValidationError
from ray import serve
from ray.serve import Application

from deployments.errors import ConfigError
from deployments.observability.logs import route_stage_logs
from deployments.rewriter.config import RewriterConfig
from deployments.rewriter.conversation import standalone_question
from deployments.rewriter.core import rewrite
from deployments.types import Rewrite, Turn

logger = logging.getLogger(__name__)


@serve.deployment(name="QueryRewriter", ray_actor_options={"num_cpus": 0.1})
class QueryRewriter:
    """Rewrites and routes queries; stateless and CPU-light, so it needs no batching.

    Args:
        config: A :class:`RewriterConfig` or its ``model_dump()`` (what the builder binds).

    Raises:
        ConfigError: ``config`` does not validate (a picklable error, unlike pydantic's).
    """

    def __init__(self, config: dict | RewriterConfig) -> None:
        route_stage_logs()  # this replica's deployments.* logs through Serve's logger
        if isinstance(config, RewriterConfig):
            self._cfg = config
        else:
            try:
                self._cfg = RewriterConfig.model_validate(config)
            except ValidationError as exc:
                raise ConfigError(f"invalid rewriter config: {exc}", param="rewriter") from None
        logger.info(
            "QueryRewriter ready: %d abbreviations, expand=%s, max_sub_queries=%d",
            len(self._cfg.abbreviations),
            self._cfg.expand_abbreviations,
            self._cfg.max_sub_queries,
        )

    async def rewrite(self, query: str, history: Sequence[Turn] = ()) -> Rewrite:
        """Rewrite one query (see :func:`deployments.rewriter.core.rewrite`); in a
        conversation, the last message made standalone from the earlier turns first (see
        :func:`deployments.rewriter.conversation.standalone_question`)."""
        if history:
            query = standalone_question(history, query)
        return rewrite(query, self._cfg)

    def check_health(self) -> None:
        """Pure code with no backend: healthy as long as a query still rewrites."""
        rewrite("health check", self._cfg)


def build_rewriter_deployment(cfg: RewriterConfig) -> Application:
    """Bind the rewriter deployment to a validated config.

    Example:
        >>> app = build_rewriter_deployment(RewriterConfig())
        >>> type(app).__name__
        'Application'
    """
    return QueryRewriter.bind(cfg.model_dump())
