"""Supervisor deployment: runs the LangGraph agent over the other stages' clients."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any, Literal

from ray import serve

from deployments.cache import CountingCache
from deployments.common.generation import GenerationSettings
from deployments.errors import ConfigError, DeadlineExceededError
from deployments.metrics import cache_lookup_recorder
from deployments.supervisor.clients import as_client
from deployments.supervisor.config import SupervisorConfig
from deployments.supervisor.generation import GeneratorClient
from deployments.supervisor.graph import create_rag_graph
from deployments.types import FULL_PLAN, Answer, Generation, Plan, Retrieval, Rewrite


@serve.deployment(name="Supervisor", ray_actor_options={"num_cpus": 0.1})
class Supervisor:
    """Answers one query by running the LangGraph agent over the stage clients.

    Whole answers are cached per exact ``(query, top_k)`` (``supervisor.answer_cache``).
    A query runs until its ``deadline`` (wall-clock seconds, as ``time.time()``; the
    ingress sets it) or ``supervisor.request_timeout_s``, whichever comes first; then its
    stage calls are cancelled. ``plan`` is the work it may spend (the ingress picks a
    cheaper one under load); full answers are cached, degraded ones are not.

    Args:
        config: A :class:`SupervisorConfig` (or its dict form).
        generation: What each LLM request asks for (:class:`GenerationSettings`).
        generator_kind: Which Generator deployment runs: ``vllm`` or ``extractive``.
        rewriter, retriever, reranker, generator: Deployment handles, or in-process stage
            objects with the same async methods. ``generator`` None serves ``search`` only.
    """

    def __init__(
        self,
        config: dict[str, Any] | SupervisorConfig,
        generation: dict[str, Any] | GenerationSettings,
        generator_kind: Literal["vllm", "extractive"],
        *,
        rewriter: Any,
        retriever: Any,
        reranker: Any,
        generator: Any = None,
    ) -> None:
        self.cfg = SupervisorConfig.model_validate(config)
        stages = {
            "rewriter": as_client(rewriter),
            "retriever": as_client(retriever),
            "reranker": as_client(reranker) if self.cfg.rerank else None,
            "fusion_k": self.cfg.fusion_k,
            "rerank_depth": self.cfg.rerank_depth,
        }
        self._agent = None
        if generator is not None:
            client = GeneratorClient(
                generator, GenerationSettings.model_validate(generation), generator_kind
            )
            self._agent = create_rag_graph(**stages, generator=client).compile()
        self._retrieval = create_rag_graph(**stages, generator=None).compile()
        self.answers: CountingCache[Answer] = CountingCache(
            self.cfg.answer_cache, on_lookup=cache_lookup_recorder("answer")
        )

    async def answer(
        self, query: str, top_k: int, deadline: float | None = None, plan: Plan = FULL_PLAN
    ) -> Answer:
        if self._agent is None:
            raise ConfigError("this supervisor was built without a generator", param="generator")
        start = time.perf_counter()
        cached = self.answers.get((query, top_k))
        if cached is not None:
            return dataclasses.replace(cached, cached=True, timings_ms={"total": _ms(start)})
        state = await self._run(self._agent, query, top_k, deadline, plan)
        rewrite: Rewrite = state["rewrite"]
        generation = state["generation"]
        answer = Answer(
            answer=generation.answer,
            citations=state["hits"],
            generator=generation.generator,
            route=rewrite.route,
            timings_ms={**state["timings_ms"], "total": _ms(start)},
            sub_queries=rewrite.sub_queries,
            stages=tuple(state["stages"]),
            usage=_usage(generation),
            degraded=plan.degraded,
        )
        if not plan.degraded:
            self.answers.put((query, top_k), answer)
        return answer

    async def search(
        self, query: str, top_k: int, deadline: float | None = None, plan: Plan = FULL_PLAN
    ) -> Retrieval:
        """The retrieval half only: rewrite, search and rerank, no generation, no cache."""
        start = time.perf_counter()
        state = await self._run(self._retrieval, query, top_k, deadline, plan)
        rewrite: Rewrite = state["rewrite"]
        return Retrieval(
            hits=state["hits"],
            route=rewrite.route,
            timings_ms={**state["timings_ms"], "total": _ms(start)},
            sub_queries=rewrite.sub_queries,
            stages=tuple(state["stages"]),
            degraded=plan.degraded,
        )

    async def _run(
        self, agent, query: str, top_k: int, deadline: float | None, plan: Plan
    ) -> dict[str, Any]:
        budget = self.cfg.request_timeout_s
        if deadline is not None:
            budget = min(budget, deadline - time.time())
        if budget <= 0:
            raise DeadlineExceededError(
                "the request's deadline passed before the supervisor started it; send a "
                "longer X-Request-Timeout or retry when the graph is less busy"
            )
        state = {"query": query, "top_k": top_k, "plan": plan, "timings_ms": {}, "stages": []}
        try:
            # On timeout wait_for cancels the agent, which cancels its stage calls.
            return await asyncio.wait_for(agent.ainvoke(state), budget)
        except TimeoutError as exc:
            raise DeadlineExceededError(
                f"the query ran out of time after {budget:.1f}s (its deadline, or "
                f"supervisor.request_timeout_s={self.cfg.request_timeout_s}s); its stage "
                "calls were cancelled"
            ) from exc

    def check_health(self) -> None:
        return None


def build_supervisor_deployment(
    cfg: SupervisorConfig,
    generation: GenerationSettings,
    generator_kind: Literal["vllm", "extractive"],
    *,
    rewriter: serve.Application,
    retriever: serve.Application,
    reranker: serve.Application,
    generator: serve.Application,
) -> serve.Application:
    """The supervisor bound to its config and the four stages it drives."""
    return Supervisor.bind(
        cfg.model_dump(),
        generation.generation().model_dump(),
        generator_kind,
        rewriter=rewriter,
        retriever=retriever,
        reranker=reranker,
        generator=generator,
    )


def _usage(generation: Generation) -> dict[str, int | None] | None:
    if generation.prompt_tokens is None and generation.completion_tokens is None:
        return None
    return {
        "prompt_tokens": generation.prompt_tokens,
        "completion_tokens": generation.completion_tokens,
    }


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000.0, 3)
