"""Supervisor deployment: runs the LangGraph agent over the other stages' handles."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any, Literal

from ray import serve
from ray.serve.handle import DeploymentHandle

from deployments.cache import CountingCache
from deployments.errors import StageUnavailableError
from deployments.generator.client import GeneratorClient
from deployments.generator.config import GeneratorConfig
from deployments.metrics import cache_lookup_recorder
from deployments.supervisor.config import SupervisorConfig
from deployments.supervisor.graph import create_rag_graph
from deployments.types import Answer, Retrieval, Rewrite


class _Remote:
    """Exposes ``await client.m(*args)`` for ``handle.m.remote(*args)``, per stage protocol."""

    def __init__(self, handle: DeploymentHandle) -> None:
        self._handle = handle

    def __getattr__(self, method: str):
        remote = getattr(self._handle, method).remote

        async def call(*args: Any) -> Any:
            return await remote(*args)

        return call


@serve.deployment(name="Supervisor", ray_actor_options={"num_cpus": 0.1})
class Supervisor:
    """Answers one query by running the LangGraph agent over the stage handles.

    Whole answers are cached per exact ``(query, top_k)`` (``supervisor.answer_cache``).
    """

    def __init__(
        self,
        config: dict[str, Any],
        generator_config: dict[str, Any],
        generator_kind: Literal["vllm", "extractive"],
        rewriter: DeploymentHandle,
        retriever: DeploymentHandle,
        reranker: DeploymentHandle,
        generator: DeploymentHandle,
    ) -> None:
        self.cfg = SupervisorConfig.model_validate(config)
        stages = {
            "rewriter": _Remote(rewriter),
            "retriever": _Remote(retriever),
            "reranker": _Remote(reranker) if self.cfg.rerank else None,
            "fusion_k": self.cfg.fusion_k,
            "rerank_depth": self.cfg.rerank_depth,
        }
        client = GeneratorClient(
            generator, GeneratorConfig.model_validate(generator_config), generator_kind
        )
        self._agent = create_rag_graph(**stages, generator=client).compile()
        self._retrieval = create_rag_graph(**stages, generator=None).compile()
        self.answers: CountingCache[Answer] = CountingCache(
            self.cfg.answer_cache, on_lookup=cache_lookup_recorder("answer")
        )

    async def answer(self, query: str, top_k: int) -> Answer:
        start = time.perf_counter()
        cached = self.answers.get((query, top_k))
        if cached is not None:
            return dataclasses.replace(cached, cached=True, timings_ms={"total": _ms(start)})
        state = await self._run(self._agent, query, top_k)
        rewrite: Rewrite = state["rewrite"]
        answer = Answer(
            answer=state["generation"].answer,
            citations=[h.without_tokens() for h in state["hits"]],
            generator=state["generation"].generator,
            route=rewrite.route,
            timings_ms={**state["timings_ms"], "total": _ms(start)},
            sub_queries=rewrite.sub_queries,
        )
        self.answers.put((query, top_k), answer)
        return answer

    async def search(self, query: str, top_k: int) -> Retrieval:
        """The retrieval half only: rewrite, search and rerank, no generation, no cache."""
        start = time.perf_counter()
        state = await self._run(self._retrieval, query, top_k)
        rewrite: Rewrite = state["rewrite"]
        return Retrieval(
            hits=[h.without_tokens() for h in state["hits"]],
            route=rewrite.route,
            timings_ms={**state["timings_ms"], "total": _ms(start)},
            sub_queries=rewrite.sub_queries,
        )

    async def _run(self, agent, query: str, top_k: int) -> dict[str, Any]:
        try:
            return await asyncio.wait_for(
                agent.ainvoke({"query": query, "top_k": top_k, "timings_ms": {}}),
                self.cfg.request_timeout_s,
            )
        except TimeoutError as exc:
            raise StageUnavailableError(
                f"the query took longer than supervisor.request_timeout_s="
                f"{self.cfg.request_timeout_s}s"
            ) from exc

    def check_health(self) -> None:
        return None


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000.0, 3)
