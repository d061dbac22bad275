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
from deployments.common.store.config import MilvusConfig
from deployments.common.store.milvus import MilvusStore
from deployments.common.store.state import StateStore
from deployments.common.streams import bounded
from deployments.errors import (
    ConfigError,
    DeadlineExceededError,
    InvalidRequestError,
    StageUnavailableError,
)
from deployments.metrics import cache_lookup_recorder
from deployments.observability.logs import route_stage_logs
from deployments.supervisor.agents.graph import create_agent_graph
from deployments.supervisor.answers import answer_of, ms_since
from deployments.supervisor.clients import as_client
from deployments.supervisor.config import SupervisorConfig
from deployments.supervisor.generation import GeneratorClient
from deployments.supervisor.graph import create_rag_graph
from deployments.types import (
    DEFAULT_SAMPLING,
    FULL_PLAN,
    Answer,
    Delta,
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
        milvus: The store's ``MilvusConfig`` (or its dict form), where the corpus stamp is
            read: a cached answer is served only while the corpus is what it was when the
            answer was computed. None (tests): cached answers are served until they expire.
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
        milvus: dict[str, Any] | MilvusConfig | None = None,
    ) -> None:
        route_stage_logs()
        self.cfg = SupervisorConfig.model_validate(config)
        self._corpus: StateStore | None = None
        if milvus is not None and self.cfg.answer_cache.enabled:
            store = MilvusStore(MilvusConfig.model_validate(milvus), dim=None)
            self._corpus = StateStore(store)
        stages = {
            "rewriter": as_client(rewriter),
            "retriever": as_client(retriever),
            "reranker": as_client(reranker) if self.cfg.rerank else None,
            "fusion_k": self.cfg.fusion_k,
            "rerank_depth": self.cfg.rerank_depth,
        }
        agents = {
            "cfg": self.cfg.agents,
            "rewriter": stages["rewriter"],
            "retriever": stages["retriever"],
            "reranker": stages["reranker"],
            "embed": lambda texts: stages["retriever"].embed(texts),  # looked up when used
            "rerank_depth": self.cfg.rerank_depth,
        }
        self._agent = self._agents = None
        if generator is not None:
            client = GeneratorClient(
                generator, GenerationSettings.model_validate(generation), generator_kind
            )
            self._agent = create_rag_graph(**stages, generator=client).compile()
            self._agents = create_agent_graph(**agents, generator=client).compile()
        self._retrieval = create_rag_graph(**stages, generator=None).compile()
        self._agents_retrieval = create_agent_graph(**agents).compile()
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
        where: str | None = None,
        agents: bool | None = None,
    ) -> Answer:
        """Answer ``query`` (in a conversation: the last user message after ``history``)
        from the passages matching ``where`` (a metadata filter expression); ``agents``
        True runs the agent supervisor (None: ``supervisor.agents.default``)."""
        self._require_generator()
        start = time.perf_counter()
        agentic = self._agentic(agents, history)
        stamp = await self._corpus_stamp()  # read BEFORE retrieval: see _corpus_stamp
        key = (stamp, tuple(history), query, top_k, sampling, where, agentic)
        cached = self.answers.get(key) if stamp is not None else None
        if cached is not None:
            return dataclasses.replace(cached, cached=True, timings_ms={"total": ms_since(start)})
        state = self._state(query, top_k, plan, history, sampling, where=where)
        state = await self._run(self._agents if agentic else self._agent, state, deadline)
        answer = answer_of(state, plan, start)
        if not plan.degraded and stamp is not None:
            self.answers.put(key, answer)
        return answer

    async def _corpus_stamp(self) -> str | None:
        """The corpus stamp, part of every answer-cache key; None: do not use the cache.

        Writers change the stamp after the corpus changed, and it is read here before the
        answer is computed, so an answer is cached under a stamp at least as old as the
        corpus it saw: any change made after (or while) it was computed makes the key
        miss. Without a store (tests) the key is constant; if Milvus cannot be read the
        cache is skipped (the query then fails or succeeds on its own).
        """
        if self._corpus is None:
            return ""
        try:
            return await asyncio.to_thread(self._corpus.corpus_stamp)
        except StageUnavailableError:
            return None

    async def answer_stream(
        self,
        query: str,
        top_k: int,
        deadline: float | None = None,
        plan: Plan = FULL_PLAN,
        history: Sequence[Turn] = (),
        sampling: Sampling = DEFAULT_SAMPLING,
        where: str | None = None,
    ) -> AsyncIterator[Delta | Answer]:
        """:meth:`answer`, streamed (call with ``handle.options(stream=True)``): the
        answer's :class:`Delta` pieces as the generator writes them, then the
        :class:`Answer` (whose ``answer`` is the pieces joined). Stopping the stream
        cancels the generation."""
        self._require_generator()
        start = time.perf_counter()
        state = self._state(query, top_k, plan, history, sampling, stream=True, where=where)
        final: dict[str, Any] = state
        budget = self._budget(deadline)
        stream = self._agent.astream(state, stream_mode=["custom", "values"])
        async for mode, chunk in bounded(stream, budget, lambda: self._timed_out(budget)):
            if mode == "custom":
                yield chunk
            else:
                final = chunk
        yield answer_of(final, plan, start)

    async def search(
        self,
        query: str,
        top_k: int,
        deadline: float | None = None,
        plan: Plan = FULL_PLAN,
        where: str | None = None,
        agents: bool | None = None,
    ) -> Retrieval:
        """The retrieval half only: rewrite, search and rerank (or the agents' evidence),
        no generation, no cache."""
        start = time.perf_counter()
        state = self._state(query, top_k, plan, (), DEFAULT_SAMPLING, where=where)
        graph = self._agents_retrieval if self._agentic(agents, ()) else self._retrieval
        state = await self._run(graph, state, deadline)
        rewrite: Rewrite = state["rewrite"]
        return Retrieval(
            hits=state["hits"][:top_k],
            trace=state.get("trace"),
            route=rewrite.route,
            timings_ms={**state["timings_ms"], "total": ms_since(start)},
            sub_queries=rewrite.sub_queries,
            stages=tuple(state["stages"]),
            degraded=plan.degraded,
        )

    def _agentic(self, agents: bool | None, history: Sequence[Turn]) -> bool:
        """Whether the agent supervisor answers: as asked, else the config's default.
        Conversations (``history``) take the single-shot graph, which rewrites them."""
        if agents and history:
            raise InvalidRequestError(
                "agents answer one standalone question; send the conversation without "
                "`agents`, or its last question alone",
                param="agents",
            )
        return self.cfg.agents.default and not history if agents is None else agents

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
        where: str | None = None,
    ) -> dict[str, Any]:
        return {
            "where": where,
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
        state["deadline"] = time.monotonic() + budget  # the agents' own budget checks
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
    milvus: MilvusConfig,
) -> serve.Application:
    """The supervisor bound to its config, the four stages it drives, and the store whose
    corpus stamp keeps its answer cache truthful."""
    return Supervisor.bind(
        cfg.model_dump(),
        generation.generation().model_dump(),
        generator_kind,
        rewriter=rewriter,
        retriever=retriever,
        reranker=reranker,
        generator=generator,
        milvus=milvus.model_dump(),
    )
