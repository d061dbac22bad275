"""Closed-loop HTTP load: ``clients`` concurrent clients send a fixed list of requests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import httpx

from loadtests.stats import stage_means, summarize


async def drive(
    url: str,
    path: str,
    queries: Sequence[str],
    *,
    clients: int,
    top_k: int,
    timeout_s: float = 300.0,
    transport: httpx.AsyncBaseTransport | None = None,
) -> dict:
    """Send one POST per query to ``url + path``, ``clients`` at a time.

    Each client takes the next query as soon as its previous reply arrives, so the
    server always has ``clients`` requests in flight. Latency is measured here, at
    the client; per-stage times come from the replies' ``timings_ms``.

    ``transport`` replaces the network (tests pass an ``httpx.ASGITransport``).

    Returns:
        :func:`~loadtests.stats.summarize` of the run plus ``stages_ms`` (mean per
        stage), ``outcomes`` (replies served full, served degraded, shed with 503
        overloaded; shed ones also count as errors) and up to five ``error_samples``.
    """
    pending: asyncio.Queue[str] = asyncio.Queue()
    for q in queries:
        pending.put_nowait(q)
    latencies: list[float] = []
    timings: list[dict[str, float]] = []
    errors: list[str] = []
    outcomes = {"full": 0, "degraded": 0, "shed": 0}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async def client(http: httpx.AsyncClient) -> None:
        while True:
            try:
                query = pending.get_nowait()
            except asyncio.QueueEmpty:
                return
            t = time.perf_counter()
            try:
                reply = await http.post(path, json={"query": query, "top_k": top_k})
            except httpx.HTTPError as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
                continue
            if reply.status_code != 200:
                if reply.status_code == 503 and '"overloaded"' in reply.text:
                    outcomes["shed"] += 1
                errors.append(f"HTTP {reply.status_code}: {reply.text[:200]}")
                continue
            latencies.append((time.perf_counter() - t) * 1000.0)
            body = reply.json()
            timings.append(body.get("timings_ms", {}))
            outcomes["degraded" if body.get("degraded") else "full"] += 1

    async with httpx.AsyncClient(
        base_url=url, timeout=timeout_s, limits=limits, transport=transport
    ) as http:
        began = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(clients)))
        wall = time.perf_counter() - began
    return {
        "clients": clients,
        **summarize(latencies, wall, errors=len(errors)),
        "stages_ms": stage_means(timings),
        "outcomes": outcomes,
        "error_samples": errors[:5],
    }
