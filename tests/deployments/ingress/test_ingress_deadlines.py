"""Deadlines and load shedding at the edge, through the HTTP contract (fake stages, no Ray)."""

from __future__ import annotations

import asyncio
import dataclasses

import httpx
import pytest

from deployments.ingress.api import create_api
from deployments.ingress.config import AdmissionConfig, IngressConfig
from deployments.ingress.routes import Backends
from deployments.types import Answer, Hit


class SlowSupervisor:
    """``answer.remote`` that takes ``delay`` seconds and records what it was sent
    (positional arguments in ``calls``, keywords such as ``where`` in ``kwargs``)."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.calls: list[tuple] = []
        self.kwargs: list[dict] = []
        self.cancelled = 0
        self.answer = self

    def remote(self, *args, **kwargs):
        self.calls.append(args)
        self.kwargs.append(kwargs)
        return self._answer(args)

    async def _answer(self, args):
        try:
            await asyncio.sleep(self.delay)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        plan = args[3]
        hit = Hit("d#0", "d", "", "text.", 1.0)
        return Answer("a [1]", [hit], "extractive", "simple", {}, degraded=plan.degraded)


async def _ready():
    return True, {}


def app(supervisor, **admission):
    cfg = IngressConfig(admission=AdmissionConfig(**admission))
    return create_api(Backends(supervisor, None, _ready), cfg)


async def post(api, headers=None, n: int = 1):
    transport = httpx.ASGITransport(app=api)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await asyncio.gather(
            *(client.post("/v1/query", json={"query": "q"}, headers=headers) for _ in range(n))
        )


def test_the_deadline_reaches_the_supervisor_as_an_absolute_time() -> None:
    sup = SlowSupervisor(0.0)
    (reply,) = asyncio.run(post(app(sup), {"X-Request-Timeout": "7.5"}))
    assert reply.status_code == 200
    query, top_k, deadline, plan = sup.calls[0]
    assert (query, top_k, plan.name) == ("q", 5, "full")
    assert deadline > 1e9  # time.time() seconds, not a duration
    assert sup.kwargs == [{"where": None, "agents": None}]


def test_a_query_past_its_deadline_is_504_and_its_work_cancelled() -> None:
    sup = SlowSupervisor(5.0)
    (reply,) = asyncio.run(post(app(sup), {"X-Request-Timeout": "0.1"}))
    assert reply.status_code == 504
    assert reply.json()["error"]["type"] == "deadline_exceeded"
    assert sup.cancelled == 1


@pytest.mark.parametrize("value", ["soon", "0", "-1", "nan", "1e9"])
def test_an_unusable_timeout_header_is_400_naming_it(value: str) -> None:
    (reply,) = asyncio.run(post(app(SlowSupervisor(0.0)), {"X-Request-Timeout": value}))
    assert reply.status_code == 400
    assert reply.json()["error"]["param"] == "X-Request-Timeout"


def test_beyond_the_backstop_queries_are_shed_with_retry_after() -> None:
    sup = SlowSupervisor(0.3)
    replies = asyncio.run(post(app(sup, max_in_flight=2), n=5))
    codes = sorted(r.status_code for r in replies)
    assert codes == [200, 200, 503, 503, 503]
    shed = [r for r in replies if r.status_code == 503]
    assert all(r.json()["error"]["type"] == "overloaded" for r in shed)
    assert all(int(r.headers["Retry-After"]) >= 1 for r in shed)
    assert len(sup.calls) == 2  # shed queries never reach the graph


def test_once_measured_a_crowd_gets_cheaper_plans_before_being_shed() -> None:
    sup = SlowSupervisor(0.2)
    api = app(sup, latency_objective_s=0.5, max_in_flight=50)
    api.state.admission._demand["query/full"] = 0.2  # as if measured: a full query ~0.2 s
    replies = asyncio.run(post(api, n=12))  # all decided before any finishes
    served = [r.json()["degraded"] for r in replies if r.status_code == 200]
    assert [] in served  # some full
    assert any(d for d in served)  # some degraded, marked in the reply
    assert any(r.status_code == 503 for r in replies)  # the rest shed


class CachedSupervisor(SlowSupervisor):
    """Answers at once, from its cache."""

    async def _answer(self, args):
        answer = await super()._answer(args)
        return dataclasses.replace(answer, cached=True)


def test_a_cached_answer_teaches_the_books_nothing() -> None:
    """A cache hit takes milliseconds; learning from it would make the latency "alone"
    (and the objective, a multiple of it) a cache lookup's, and shed real queries."""
    measured = app(SlowSupervisor(0.05))
    asyncio.run(post(measured))
    assert measured.state.admission._alone  # an uncached answer is measured
    cached = app(CachedSupervisor(0.0))
    (reply,) = asyncio.run(post(cached))
    assert reply.status_code == 200 and reply.json()["cached"] is True
    books = cached.state.admission
    assert books._alone == {} and books._demand == {} and books.in_flight == 0
    assert books.objective_s("query") == float("inf")


def test_behind_serve_the_app_leaves_the_request_id_header_to_serves_proxy() -> None:
    from fastapi.testclient import TestClient

    cfg = IngressConfig()
    for behind, expected in ((False, ["r-1"]), (True, [])):
        api = create_api(Backends(SlowSupervisor(0.0), None, _ready), cfg, behind_serve=behind)
        with TestClient(api) as client:
            for body in ({"query": "q"}, {"query": 3}):  # a reply and an error reply
                reply = client.post("/v1/query", json=body, headers={"X-Request-Id": "r-1"})
                assert reply.headers.get_list("x-request-id") == expected
