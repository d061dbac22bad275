"""Supervisor deployment: runs the LangGraph agent over the other stages' clients."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any, Literal

from ray import serve

from deployments.cache import CountingCache
from deployments.common.generation import GenerationSettings
from deployments.common.streams import bounded
from deployments.errors import ConfigError, DeadlineExceededError
from deployments.metrics import cache_lookup_recorder
from deployments.observability.logs import route_stage_logs
from deployments.supervisor.clients import as_client
from deployments.supervisor.config import SupervisorConfig
from deployments.supervisor.generation import GeneratorClient
from deployments.supervisor.graph import create_rag_graph
from deployments.types import (
    DEFAULT_SAMPLING,
    FULL_PLAN,
    Answer,
    Delta,
    Generation,
    Plan,
    Retrieval,
    Rewrite,
    Sampling,
    Turn,
)


@serve.deployment(name="Supervisor", ray_actor_options={"num_cpus": 0.1})
class Supervisor:
    """Answers one query by running the LangGraph agent over the stage clients.

    Whole answers are cached per exact ``(history, query, top_k, sampling)``
    (``supervisor.answer_cache``); :meth:`answer_stream` streams the answer's pieces as the
    generator writes them, then the whole :class:`Answer` (not cached: a stream is for a
    user waiting on the first words, and a cached answer is whole at once).
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
        route_stage_logs()
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
        self,
        query: str,
        top_k: int,
        deadline: float | None = None,
        plan: Plan = FULL_PLAN,
        history: Sequence[Turn] = (),
        sampling: Sampling = DEFAULT_SAMPLING,
    ) -> Answer:
        """Answer ``query`` (in a conversation: the last user message after ``history``)."""
        self._require_generator()
        start = time.perf_counter()
        key = (tuple(history), query, top_k, sampling)
        cached = self.answers.get(key)
        if cached is not None:
            return dataclasses.replace(cached, cached=True, timings_ms={"total": _ms(start)})
        state = await self._run(
            self._agent, self._state(query, top_k, plan, history, sampling), deadline
        )
        answer = _answer(state, plan, start)
        if not plan.degraded:
            self.answers.put(key, answer)
        return answer

    async def answer_stream(
        self,
        query: str,
        top_k: int,
        deadline: float | None = None,
        plan: Plan = FULL_PLAN,
        history: Sequence[Turn] = (),
        sampling: Sampling = DEFAULT_SAMPLING,
    ) -> AsyncIterator[Delta | Answer]:
        """:meth:`answer`, streamed (call with ``handle.options(stream=True)``): the
        answer's :class:`Delta` pieces as the generator writes them, then the
        :class:`Answer` (whose ``answer`` is the pieces joined). Stopping the stream
        cancels the generation."""
        self._require_generator()
        start = time.perf_counter()
        state = self._state(query, top_k, plan, history, sampling, stream=True)
        final: dict[str, Any] = state
        budget = self._budget(deadline)
        stream = self._agent.astream(state, stream_mode=["custom", "values"])
        async for mode, chunk in bounded(stream, budget, lambda: self._timed_out(budget)):
            if mode == "custom":
                yield chunk
            else:
                final = chunk
        yield _answer(final, plan, start)

    async def search(
        self, query: str, top_k: int, deadline: float | None = None, plan: Plan = FULL_PLAN
    ) -> Retrieval:
        """The retrieval half only: rewrite, search and rerank, no generation, no cache."""
        start = time.perf_counter()
        state = await self._run(
            self._retrieval, self._state(query, top_k, plan, (), DEFAULT_SAMPLING), deadline
        )
        rewrite: Rewrite = state["rewrite"]
        return Retrieval(
            hits=state["hits"],
            route=rewrite.route,
            timings_ms={**state["timings_ms"], "total": _ms(start)},
            sub_queries=rewrite.sub_queries,
            stages=tuple(state["stages"]),
            degraded=plan.degraded,
        )

    def _require_generator(self) -> None:
        if self._agent is None:
            raise ConfigError("this supervisor was built without a generator", param="generator")

    @staticmethod
    def _state(
        query: str,
        top_k: int,
        plan: Plan,
        history: Sequence[Turn],
        sampling: Sampling,
        *,
        stream: bool = False,
    ) -> dict[str, Any]:
        return {
            "query": query,
            "top_k": top_k,
            "plan": plan,
            "history": tuple(history),
            "sampling": sampling,
            "stream": stream,
            "timings_ms": {},
            "stages": [],
        }

    def _budget(self, deadline: float | None) -> float:
        """Seconds the query may run: until its deadline, at most request_timeout_s."""
        budget = self.cfg.request_timeout_s
        if deadline is not None:
            budget = min(budget, deadline - time.time())
        if budget <= 0:
            raise DeadlineExceededError(
                "the request's deadline passed before the supervisor started it; send a "
                "longer X-Request-Timeout or retry when the graph is less busy"
            )
        return budget

    def _timed_out(self, budget: float) -> DeadlineExceededError:
        return DeadlineExceededError(
            f"the query ran out of time after {budget:.1f}s (its deadline, or "
            f"supervisor.request_timeout_s={self.cfg.request_timeout_s}s); its stage "
            "calls were cancelled"
        )

    async def _run(self, agent, state: dict[str, Any], deadline: float | None) -> dict[str, Any]:
        budget = self._budget(deadline)
        try:
            # On timeout wait_for cancels the agent, which cancels its stage calls.
            return await asyncio.wait_for(agent.ainvoke(state), budget)
        except TimeoutError as exc:
            raise self._timed_out(budget) from exc

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


def _answer(state: dict[str, Any], plan: Plan, start: float) -> Answer:
    rewrite: Rewrite = state["rewrite"]
    generation: Generation = state["generation"]
    return Answer(
        answer=generation.answer,
        citations=state["hits"],
        generator=generation.generator,
        route=rewrite.route,
        timings_ms={**state["timings_ms"], "total": _ms(start)},
        sub_queries=rewrite.sub_queries,
        stages=tuple(state["stages"]),
        usage=_usage(generation),
        degraded=plan.degraded,
        finish_reason=generation.finish_reason,
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
