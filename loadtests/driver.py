"""Closed-loop HTTP load: ``clients`` concurrent clients send a fixed list of requests.

:func:`drive` posts JSON and times whole replies; :func:`drive_stream` streams chat
completions (server-sent events) and times the first token and the gaps between tokens.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from deployments.common.sse import DONE, sse_payloads
from loadtests.stats import spread, stage_means, summarize
from loadtests.workload import reply_outcome

CHAT_PATH = "/v1/chat/completions"
MODEL = "rag"


async def drive(
    url: str,
    path: str,
    queries: Sequence[str],
    *,
    clients: int,
    top_k: int,
    timeout_s: float = 300.0,
    transport: httpx.AsyncBaseTransport | None = None,
    keep_latencies: bool = False,
) -> dict:
    """Send one POST per query to ``url + path``, ``clients`` at a time.

    Each client takes the next query as soon as its previous reply arrives, so the
    server always has ``clients`` requests in flight. Latency is measured here, at
    the client; per-stage times come from the replies' ``timings_ms``.

    ``transport`` replaces the network (tests pass an ``httpx.ASGITransport``).

    Returns:
        :func:`~loadtests.stats.summarize` of the run plus ``stages_ms`` (mean per
        stage), ``outcomes`` (replies served full, served degraded, shed with 503
        overloaded; shed ones also count as errors) and up to five ``error_samples``;
        with ``keep_latencies``, every successful request's ``latencies_ms`` too.
    """
    latencies: list[float] = []
    timings: list[dict[str, float]] = []
    errors: list[str] = []
    outcomes = {"full": 0, "degraded": 0, "shed": 0}

    async def ask(http: httpx.AsyncClient, query: str) -> None:
        t = time.perf_counter()
        try:
            reply = await http.post(path, json={"query": query, "top_k": top_k})
        except httpx.HTTPError as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
            return
        outcome, body = reply_outcome(reply.status_code, reply.text)
        if reply.status_code != 200:
            outcomes["shed"] += outcome == "shed"
            errors.append(f"HTTP {reply.status_code}: {reply.text[:200]}")
            return
        if not isinstance(body, dict):
            raise ValueError(f"a 200 reply that is not a JSON object: {reply.text[:200]!r}")
        latencies.append((time.perf_counter() - t) * 1000.0)
        timings.append(body.get("timings_ms", {}))
        outcomes[outcome] += 1

    wall = await closed_loop(
        url, queries, ask, clients=clients, timeout_s=timeout_s, transport=transport
    )
    return {
        "clients": clients,
        **summarize(latencies, wall, errors=len(errors)),
        "stages_ms": stage_means(timings),
        "outcomes": outcomes,
        "error_samples": errors[:5],
        **({"latencies_ms": latencies} if keep_latencies else {}),
    }


async def closed_loop(
    url: str,
    queries: Sequence[str],
    ask: Callable[[httpx.AsyncClient, str], Awaitable[None]],
    *,
    clients: int,
    timeout_s: float,
    transport: httpx.AsyncBaseTransport | None = None,
) -> float:
    """Run ``ask(http, query)`` once per query, ``clients`` at a time: each client takes
    the next query as soon as its previous one is done. Returns the wall-clock seconds."""
    pending: asyncio.Queue[str] = asyncio.Queue()
    for q in queries:
        pending.put_nowait(q)
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async def client(http: httpx.AsyncClient) -> None:
        while True:
            try:
                query = pending.get_nowait()
            except asyncio.QueueEmpty:
                return
            await ask(http, query)

    async with httpx.AsyncClient(
        base_url=url, timeout=timeout_s, limits=limits, transport=transport
    ) as http:
        began = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(clients)))
        return time.perf_counter() - began


def chat_stream_events(text: str) -> Iterator[tuple[str, Any]]:
    """What the server-sent events in ``text`` (a line or more) of a streamed chat
    completion say, as ``(kind, value)``:

    - ``("content", text)``: a non-empty piece of the answer (``choices[0].delta.content``);
    - ``("finish", chunk)``: the chunk with a ``finish_reason`` (citations, ``degraded``);
    - ``("usage", usage)``: the usage chunk (empty ``choices``);
    - ``("error", error)``: an error event (the stream failed mid-way);
    - ``("done", None)``: ``[DONE]``, the stream's normal end.

    The role chunk (empty content) and comments say nothing. Raises ``ValueError`` on an
    event that is not JSON.

    >>> head = 'data: {"choices": [{"delta": {"role": "assistant", "content": ""}}]}'
    >>> piece = 'data: {"choices": [{"delta": {"content": "Hi"}, "finish_reason": null}]}'
    >>> end = 'data: {"choices": [{"delta": {}, "finish_reason": "length"}], "citations": []}'
    >>> usage = 'data: {"choices": [], "usage": {"completion_tokens": 2}}'
    >>> text = "\\n\\n".join([head, piece, end, usage, "data: [DONE]"])
    >>> [kind for kind, _ in chat_stream_events(text)]
    ['content', 'finish', 'usage', 'done']
    >>> list(chat_stream_events('data: {"error": {"message": "boom"}}'))
    [('error', {'message': 'boom'})]
    """
    for payload in sse_payloads(text):
        if payload == DONE:
            yield "done", None
            continue
        if not isinstance(payload, dict):
            raise ValueError(f"an event that is not a JSON object: {payload!r:.200}")
        if "error" in payload:
            yield "error", payload["error"]
            continue
        choices = payload.get("choices") or []
        if not choices:
            if payload.get("usage") is not None:
                yield "usage", payload["usage"]
            continue
        choice = choices[0]
        content = (choice.get("delta") or {}).get("content")
        if content:
            yield "content", content
        if choice.get("finish_reason") is not None:
            yield "finish", payload


def stream_latencies(arrivals_s: Sequence[Sequence[float]]) -> dict[str, Any]:
    """Time to first token, inter-token latency and chunks per answer, from when each
    request's content chunks arrived (seconds after it was sent, in order).

    TTFT is each request's first arrival; its ITL the mean gap after it (requests with
    fewer than two chunks have none); p50/p95 are over requests, the ITL mean is pooled
    over every gap (the sum of the gaps over their count).

    Shapes:
        arrivals_s: (requests, chunks of that request)

    >>> r = stream_latencies([[0.1, 0.2, 0.3], [0.3, 0.7], [0.5]])
    >>> r["ttft_ms"], r["itl_ms"]["p50"], r["itl_ms"]["mean"], r["chunks_per_answer"]
    ({'p50': 300.0, 'p95': 480.0, 'mean': 300.0}, 250.0, 200.0, 2.0)
    """
    ttfts = [a[0] * 1000.0 for a in arrivals_s if a]
    itls = [(a[-1] - a[0]) * 1000.0 / (len(a) - 1) for a in arrivals_s if len(a) > 1]
    gaps = sum(len(a) - 1 for a in arrivals_s if len(a) > 1)
    itl = spread(itls)
    if gaps:
        pooled = sum(a[-1] - a[0] for a in arrivals_s if len(a) > 1) * 1000.0 / gaps
        itl["mean"] = round(pooled, 1)
    return {
        "ttft_ms": spread(ttfts),
        "itl_ms": itl,
        "chunks_per_answer": _mean([len(a) for a in arrivals_s]),
    }


def _mean(values: Sequence[float]) -> float | None:
    return round(sum(values) / len(values), 2) if values else None


@dataclass
class _Streamed:
    """What one streamed request showed its client (seconds since it was sent)."""

    arrivals: list[float] = field(default_factory=list)
    total: float = 0.0
    degraded: bool = False
    tokens: int | None = None
    done: bool = False
    error: str | None = None


def _chat_body(query: str, top_k: int) -> dict[str, Any]:
    return {
        "model": MODEL,
        "messages": [{"role": "user", "content": query}],
        "stream": True,
        "stream_options": {"include_usage": True},
        "top_k": top_k,
    }


async def drive_stream(
    url: str,
    queries: Sequence[str],
    *,
    clients: int,
    top_k: int,
    timeout_s: float = 300.0,
    transport: httpx.AsyncBaseTransport | None = None,
) -> dict:
    """Stream one chat completion per query from ``url`` (``POST /v1/chat/completions``,
    ``stream: true``), ``clients`` at a time, in a closed loop as :func:`drive` does.

    Per request, at the client: time to first token (send to the first non-empty content
    delta), inter-token latency (the mean gap between consecutive content deltas after
    the first; requests with fewer than two have none), total latency (send to the end of
    the stream) and the content chunks. A reply that is not 200, carries an error event,
    or ends without ``[DONE]`` is an error (a 503 ``overloaded`` also counts as shed).

    Returns:
        :func:`~loadtests.stats.summarize` of the total latencies, ``outcomes`` and
        ``error_samples`` as :func:`drive` gives them (no ``stages_ms``: stream chunks carry
        no stage timings), plus ``ttft_ms`` and ``itl_ms`` (``p50``/``p95`` over requests
        and ``mean``; the ITL mean is pooled over every gap), ``chunks_per_answer`` and
        ``tokens_per_answer`` (the usage chunk's ``completion_tokens``; None without it),
        means over the successful requests.
    """
    done: list[_Streamed] = []
    errors: list[str] = []
    outcomes = {"full": 0, "degraded": 0, "shed": 0}

    async def one(http: httpx.AsyncClient, query: str) -> _Streamed:
        seen = _Streamed()
        t = time.perf_counter()
        async with http.stream("POST", CHAT_PATH, json=_chat_body(query, top_k)) as reply:
            if reply.status_code != 200:
                text = (await reply.aread()).decode("utf-8", "replace")
                outcomes["shed"] += reply_outcome(reply.status_code, text)[0] == "shed"
                seen.error = f"HTTP {reply.status_code}: {text[:200]}"
                return seen
            async for line in reply.aiter_lines():
                now = time.perf_counter() - t
                for kind, value in chat_stream_events(line):
                    if kind == "content":
                        seen.arrivals.append(now)
                    elif kind == "finish":
                        seen.degraded = bool(value.get("degraded"))
                    elif kind == "usage":
                        seen.tokens = value.get("completion_tokens")
                    elif kind == "error":
                        seen.error = f"error event: {json.dumps(value)[:200]}"
                    else:
                        seen.done = True
        seen.total = time.perf_counter() - t
        if seen.error is None and not seen.done:
            seen.error = "the stream ended without [DONE]"
        return seen

    async def ask(http: httpx.AsyncClient, query: str) -> None:
        try:
            seen = await one(http, query)
        except (httpx.HTTPError, ValueError) as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
            return
        if seen.error is not None:
            errors.append(seen.error)
            return
        done.append(seen)
        outcomes["degraded" if seen.degraded else "full"] += 1

    wall = await closed_loop(
        url, queries, ask, clients=clients, timeout_s=timeout_s, transport=transport
    )
    return {
        "clients": clients,
        **summarize([s.total * 1000.0 for s in done], wall, errors=len(errors)),
        **stream_latencies([s.arrivals for s in done]),
        "tokens_per_answer": _mean([s.tokens for s in done if s.tokens is not None]),
        "outcomes": outcomes,
        "error_samples": errors[:5],
    }
