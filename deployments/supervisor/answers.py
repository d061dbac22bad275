"""The supervisor's replies, built from the final state of its graph (pure functions)."""

from __future__ import annotations

import time
from typing import Any

from deployments.types import Answer, Generation, Plan, Rewrite


def answer_of(state: dict[str, Any], plan: Plan, start: float) -> Answer:
    """The :class:`Answer` of a finished graph run that began at ``start``
    (``time.perf_counter()``)."""
    rewrite: Rewrite = state["rewrite"]
    generation: Generation = state["generation"]
    return Answer(
        answer=generation.answer,
        citations=state["hits"][: state["top_k"]],
        generator=generation.generator,
        route=rewrite.route,
        timings_ms={**state["timings_ms"], "total": ms_since(start)},
        sub_queries=rewrite.sub_queries,
        stages=tuple(state["stages"]),
        usage=_usage(generation),
        degraded=plan.degraded,
        finish_reason=generation.finish_reason,
        trace=state.get("trace"),
    )


def _usage(generation: Generation) -> dict[str, int | None] | None:
    if generation.prompt_tokens is None and generation.completion_tokens is None:
        return None
    return {
        "prompt_tokens": generation.prompt_tokens,
        "completion_tokens": generation.completion_tokens,
    }


def ms_since(start: float) -> float:
    return round((time.perf_counter() - start) * 1000.0, 3)
