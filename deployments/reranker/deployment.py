"""Ray Serve shim of the ColBERT reranker: batches queries, fetches token vectors, calls
:mod:`.core`."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pydantic
from ray import serve
from ray.serve import Application

from deployments.batching import batched
from deployments.common.encoders.tokens import TokenEncoder, token_encoder_from
from deployments.common.store.config import MilvusConfig
from deployments.common.store.milvus import MilvusStore
from deployments.errors import ConfigError, InvalidRequestError, RagError
from deployments.observability.logs import route_stage_logs
from deployments.reranker import core
from deployments.reranker.config import RerankerConfig
from deployments.types import Candidate, Reranked

logger = logging.getLogger(__name__)


@serve.deployment(name="Reranker", ray_actor_options={"num_cpus": 0.5})
class Reranker:
    """Reranks candidates by MaxSim over their stored passage token vectors.

    Callers send chunk ids and first-stage scores only; the token vectors (tens of KB
    per chunk) come straight from the store, fetched for a whole batch in one call.

    Args:
        config: A :class:`RerankerConfig` or its ``model_dump()``.
        milvus: The store's ``MilvusConfig`` (or its dict form).
        encoder: The token encoder; loaded from ``config`` when omitted.
        store: The store; connected from ``milvus`` when omitted.

    Raises:
        ConfigError: ``config`` is invalid or the model cannot be loaded.
    """

    def __init__(
        self,
        config: dict[str, Any] | RerankerConfig,
        milvus: dict[str, Any] | MilvusConfig,
        *,
        encoder: TokenEncoder | None = None,
        store: MilvusStore | None = None,
    ) -> None:
        route_stage_logs()  # this replica's deployments.* logs through Serve's logger
        self._config = _validated(config)
        cfg = self._config
        self._encoder = encoder or token_encoder_from(cfg)
        self._store = store or MilvusStore(MilvusConfig.model_validate(milvus), dim=None)
        self._rerank_batch = batched(
            self._rerank_batch_body,
            max_batch_size=cfg.max_batch_size,
            batch_wait_timeout_s=cfg.batch_wait_timeout_s,
        )
        logger.info("Reranker ready: %s (%d-d tokens)", self._encoder.name, self._encoder.dim)

    async def rerank(self, query: str, candidates: list[Candidate], top_k: int) -> list[Reranked]:
        """The ``top_k`` best candidates by MaxSim (fused with the first-stage order).

        Concurrent calls are batched: their queries are encoded in one forward pass and
        their candidates' token vectors fetched in one store call.
        """
        if top_k < 1:
            raise InvalidRequestError(f"top_k must be >= 1, got {top_k!r}", param="top_k")
        if not candidates:
            return []
        result = await self._rerank_batch(query, candidates, top_k)
        if isinstance(result, Exception):
            raise result
        return result

    async def _rerank_batch_body(
        self, queries: list[str], candidates: list[list[Candidate]], top_ks: list[int]
    ) -> list[list[Reranked] | Exception]:
        """What ``self._rerank_batch`` runs for a batch of calls."""
        return await asyncio.to_thread(self.rerank_many, queries, candidates, top_ks)

    def rerank_many(
        self, queries: list[str], candidates: list[list[Candidate]], top_ks: list[int]
    ) -> list[list[Reranked] | Exception]:
        """Rerank several requests with ONE query forward pass and ONE token fetch.

        A request whose candidates cannot be scored gets its error back in its slot, so it
        does not fail the other requests of the batch.
        """
        blobs = self._store.fetch_tokens([c.chunk_id for cands in candidates for c in cands])
        query_vecs = self._encoder.encode_queries(list(queries))
        results: list[list[Reranked] | Exception] = []
        for vecs, cands, top_k in zip(query_vecs, candidates, top_ks, strict=True):
            try:
                results.append(
                    core.rerank(
                        vecs,
                        cands,
                        blobs,
                        top_k,
                        first_stage_weight=self._config.first_stage_weight,
                        fusion_k=self._config.fusion_k,
                    )
                )
            except RagError as exc:  # missing or unreadable token vectors
                results.append(exc)
        return results

    def check_health(self) -> None:
        """The model runs in-process: a replica that answers is healthy; a failed load
        already raised in ``__init__``, and a Milvus outage gives 503s, not restarts."""


def get_deployment_options(cfg: RerankerConfig) -> dict[str, Any]:
    """Deployment options that follow from the config.

    ``max_ongoing_requests`` must reach ``max_batch_size`` for a batch to fill (Serve's
    default is 5); twice that lets the next batch gather while one runs.
    """
    return {"max_ongoing_requests": 2 * cfg.max_batch_size}


def build_reranker_deployment(cfg: RerankerConfig, milvus: MilvusConfig) -> Application:
    """The bound ``Reranker`` deployment (a serve config may override its options)."""
    return Reranker.options(**get_deployment_options(cfg)).bind(
        cfg.model_dump(), milvus.model_dump()
    )


def _validated(config: dict[str, Any] | RerankerConfig) -> RerankerConfig:
    if isinstance(config, RerankerConfig):
        return config
    try:
        return RerankerConfig.model_validate(config)
    except pydantic.ValidationError as exc:  # raw pydantic errors do not survive Ray
        raise ConfigError(f"invalid reranker config: {exc}", param="reranker") from exc
