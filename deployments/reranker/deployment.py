"""Ray Serve shim of the ColBERT reranker: batches queries, calls :mod:`.core`."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pydantic
from ray import serve
from ray.serve import Application

from deployments.devices import resolve_device
from deployments.errors import ConfigError, InvalidRequestError, RagError
from deployments.reranker import core
from deployments.reranker.config import RerankerConfig
from deployments.reranker.encoder import TokenEncoder, load_token_encoder
from deployments.types import Hit

logger = logging.getLogger(__name__)


@serve.deployment(name="Reranker", ray_actor_options={"num_cpus": 0.5})
class Reranker:
    """Reranks retrieved hits by MaxSim over stored passage token vectors.

    Args:
        config: A :class:`RerankerConfig` or its ``model_dump()``.
        encoder: The token encoder; loaded from ``config`` when omitted.

    Raises:
        ConfigError: ``config`` is invalid or the model cannot be loaded.
    """

    def __init__(
        self, config: dict[str, Any] | RerankerConfig, encoder: TokenEncoder | None = None
    ) -> None:
        self._config = _validated(config)
        cfg = self._config
        self._encoder = (
            encoder
            if encoder is not None
            else load_token_encoder(
                cfg.model,
                query_maxlen=cfg.query_maxlen,
                doc_maxlen=cfg.doc_maxlen,
                device=resolve_device(cfg.device),
                num_threads=cfg.num_threads,
            )
        )
        # One @serve.batch queue per instance, sized from the config. A class-level
        # @serve.batch method shares one queue between every instance in the process,
        # bound to the event loop that first used it, and in Ray 2.60 resizing it with
        # set_max_batch_size() after that first use needs a replica context.
        self._rerank_batch = serve.batch(
            max_batch_size=cfg.max_batch_size, batch_wait_timeout_s=cfg.batch_wait_timeout_s
        )(self._rerank_batch_body)
        logger.info("Reranker ready: %s (%d-d tokens)", self._encoder.name, self._encoder.dim)

    async def rerank(self, query: str, hits: list[Hit], top_k: int) -> list[Hit]:
        """Return the ``top_k`` best hits by MaxSim, best first, scores replaced.

        Concurrent calls are batched: their queries are encoded in one forward pass.
        """
        if top_k < 1:
            raise InvalidRequestError(f"top_k must be >= 1, got {top_k!r}", param="top_k")
        if not hits:
            return []
        result = await self._rerank_batch(query, hits, top_k)
        if isinstance(result, Exception):
            raise result
        return result

    async def _rerank_batch_body(
        self, queries: list[str], hits: list[list[Hit]], top_ks: list[int]
    ) -> list[list[Hit] | Exception]:
        """What ``self._rerank_batch`` (the per-instance @serve.batch wrapper) runs."""
        return await asyncio.to_thread(self.rerank_many, queries, hits, top_ks)

    def rerank_many(
        self, queries: list[str], hits: list[list[Hit]], top_ks: list[int]
    ) -> list[list[Hit] | Exception]:
        """Rerank several requests with ONE query forward pass (the batch body, no Ray).

        A request whose hits cannot be scored gets its error back in its slot, so it
        does not fail the other requests of the batch.
        """
        query_vecs = self._encoder.encode_queries(list(queries))
        results: list[list[Hit] | Exception] = []
        for vecs, request_hits, top_k in zip(query_vecs, hits, top_ks, strict=True):
            try:
                results.append(
                    core.rerank(
                        vecs,
                        request_hits,
                        top_k,
                        first_stage_weight=self._config.first_stage_weight,
                        fusion_k=self._config.fusion_k,
                    )
                )
            except (RagError, ValueError) as exc:  # bad or missing token blobs
                results.append(exc)
        return results

    async def encode_passages(self, texts: list[str]) -> list[str]:
        """Codec blobs of passage token vectors, for the ingestion pipeline to store."""
        return await asyncio.to_thread(core.passage_blobs, self._encoder, list(texts))

    def check_health(self) -> None:
        """Serve's periodic health check.

        The model runs in-process and has no external backend, so a replica that
        answers is healthy; a failed load already raised in ``__init__``.
        """


def get_deployment_options(cfg: RerankerConfig) -> dict[str, Any]:
    """Deployment options that follow from the config.

    ``max_ongoing_requests`` must reach ``max_batch_size`` for a batch to fill (Serve's
    default is 5); twice that lets the next batch gather while one runs.
    """
    return {"max_ongoing_requests": 2 * cfg.max_batch_size}


def build_reranker_deployment(cfg: RerankerConfig) -> Application:
    """The bound ``Reranker`` deployment (a serve config may override its options)."""
    return Reranker.options(**get_deployment_options(cfg)).bind(cfg.model_dump())


def _validated(config: dict[str, Any] | RerankerConfig) -> RerankerConfig:
    if isinstance(config, RerankerConfig):
        return config
    try:
        return RerankerConfig.model_validate(config)
    except pydantic.ValidationError as exc:  # raw pydantic errors do not survive Ray
        raise ConfigError(f"invalid reranker config: {exc}", param="reranker") from exc
