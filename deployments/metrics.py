"""Prometheus metrics of the stages, exported through Ray's metrics agent.

Ray Serve replicas export ``ray.serve.metrics`` to the node's metrics endpoint, which
Prometheus scrapes (k8s/monitoring); names get Ray's ``ray_`` prefix there.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache


@cache
def _cache_lookups():
    from ray.serve.metrics import Counter

    return Counter(
        "rag_cache_lookups",
        description="Cache lookups by cache and result (hit or miss).",
        tag_keys=("cache", "result"),
    )


def cache_lookup_recorder(cache_name: str) -> Callable[[bool], None]:
    """A ``CountingCache.on_lookup`` callback counting into ``rag_cache_lookups``."""
    counter = _cache_lookups()

    def record(hit: bool) -> None:
        counter.inc(tags={"cache": cache_name, "result": "hit" if hit else "miss"})

    return record


@cache
def _admissions():
    from ray.serve.metrics import Counter

    return Counter(
        "rag_admission_decisions",
        description="Queries the edge served full, served degraded (a cheaper plan) or shed.",
        tag_keys=("route", "outcome"),
    )


def record_admission(route: str, outcome: str) -> None:
    """Count one admission decision (``full``, ``degraded`` or ``shed``) for ``route``."""
    _admissions().inc(tags={"route": route, "outcome": outcome})
