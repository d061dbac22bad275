"""Prometheus metrics of the stages, exported through Ray's metrics agent.

Ray Serve replicas export ``ray.serve.metrics`` to the node's metrics endpoint, which
Prometheus scrapes (k8s/monitoring); names get Ray's ``ray_`` prefix there, counters the
``_total`` suffix and histograms ``_bucket``/``_sum``/``_count`` (``rag_admission_decisions``
is scraped as ``ray_rag_admission_decisions_total``). docs/OBSERVABILITY.md lists them.
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


#: Upper bounds (seconds) of the time-to-first-token buckets: a cached or extractive answer
#: (tens of ms) up to a long prompt queued behind a full vLLM batch.
FIRST_TOKEN_BOUNDARIES_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


@cache
def _first_token():
    from ray.serve.metrics import Histogram

    return Histogram(
        "rag_time_to_first_token_seconds",
        description="Seconds from a request's arrival to its answer's first streamed token.",
        boundaries=list(FIRST_TOKEN_BOUNDARIES_S),
        tag_keys=("route",),
    )


def record_first_token(route: str, seconds: float) -> None:
    """Observe one answer's time to first token on ``route`` into
    ``rag_time_to_first_token_seconds``.

    Raises:
        ValueError: ``seconds`` is negative (a clock mix-up: use ``time.monotonic()``).
    """
    if seconds < 0:
        raise ValueError(f"seconds must be >= 0 (got {seconds!r}); measure with time.monotonic()")
    _first_token().observe(seconds, tags={"route": route})


@cache
def _generated_tokens():
    from ray.serve.metrics import Counter

    return Counter(
        "rag_generated_tokens",
        description="Tokens the generator produced, by route (answers streamed or not).",
        tag_keys=("route",),
    )


def record_generated_tokens(route: str, n: int) -> None:
    """Count ``n`` generated tokens on ``route`` into ``rag_generated_tokens`` (exported as
    ``ray_rag_generated_tokens_total``); ``n == 0`` records nothing.

    Raises:
        ValueError: ``n`` is negative.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0 generated tokens (got {n!r})")
    if n:
        _generated_tokens().inc(n, tags={"route": route})


@cache
def _ingested_documents():
    from ray.serve.metrics import Counter

    return Counter(
        "rag_ingested_documents",
        description="Documents the Ingester stored, skipped (stored already or unchanged) or "
        "refused, by way in (request: POST/PUT /v1/documents; job: an ingestion job).",
        tag_keys=("via", "outcome"),
    )


@cache
def _ingested_chunks():
    from ray.serve.metrics import Counter

    return Counter(
        "rag_ingested_chunks",
        description="Chunks the Ingester stored, by way in (request or job).",
        tag_keys=("via",),
    )


def record_ingested(via: str, *, stored: int, skipped: int, refused: int, chunks: int) -> None:
    """Count one ingestion call's documents (``rag_ingested_documents``) and chunks
    (``rag_ingested_chunks``)."""
    for outcome, n in (("stored", stored), ("skipped", skipped), ("refused", refused)):
        if n:
            _ingested_documents().inc(n, tags={"via": via, "outcome": outcome})
    if chunks:
        _ingested_chunks().inc(chunks, tags={"via": via})


@cache
def _agent_runs():
    from ray.serve.metrics import Counter

    return Counter(
        "rag_agent_runs",
        description="Questions each agent of the agent supervisor worked on, by agent and "
        "how it was picked (selected by the planner, or escalated to on reflection).",
        tag_keys=("agent", "via"),
    )


def record_agent_run(agent: str, via: str) -> None:
    """Count one run of ``agent`` (``via`` ``selected`` or ``escalated``)."""
    _agent_runs().inc(tags={"agent": agent, "via": via})


@cache
def _validations():
    from ray.serve.metrics import Counter

    return Counter(
        "rag_answer_validations",
        description="Answers the validator checked, by outcome: kept whole, trimmed "
        "(unsupported sentences dropped) or abstained.",
        tag_keys=("outcome",),
    )


def record_validation(outcome: str) -> None:
    """Count one validated answer (``kept``, ``trimmed`` or ``abstained``)."""
    _validations().inc(tags={"outcome": outcome})
