"""Supervisor deployment: runs the LangGraph agent over the other stages' handles."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Literal

from ray import serve
from ray.serve.handle import DeploymentHandle

from deployments.errors import StageUnavailableError
from deployments.generator.client import GeneratorClient
from deployments.generator.config import GeneratorConfig
from deployments.supervisor.config import SupervisorConfig
from deployments.supervisor.graph import create_rag_graph
from deployments.types import Answer, Rewrite


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
    """Answers one query by running the LangGraph agent over the stage handles."""

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
        graph = create_rag_graph(
            rewriter=_Remote(rewriter),
            retriever=_Remote(retriever),
            reranker=_Remote(reranker) if self.cfg.rerank else None,
            generator=GeneratorClient(
                generator, GeneratorConfig.model_validate(generator_config), generator_kind
            ),
            fusion_k=self.cfg.fusion_k,
        )
        self._agent = graph.compile()

    async def answer(self, query: str, top_k: int) -> Answer:
        start = time.perf_counter()
        try:
            state = await asyncio.wait_for(
                self._agent.ainvoke({"query": query, "top_k": top_k, "timings_ms": {}}),
                self.cfg.request_timeout_s,
            )
        except TimeoutError as exc:
            raise StageUnavailableError(
                f"the query took longer than supervisor.request_timeout_s="
                f"{self.cfg.request_timeout_s}s"
            ) from exc
        timings = dict(state["timings_ms"])
        timings["total"] = round((time.perf_counter() - start) * 1000.0, 3)
        rewrite: Rewrite = state["rewrite"]
        return Answer(
            answer=state["generation"].answer,
            citations=[h.without_tokens() for h in state["hits"]],
            generator=state["generation"].generator,
            route=rewrite.route,
            timings_ms=timings,
            sub_queries=rewrite.sub_queries,
        )

    def check_health(self) -> None:
        return None
