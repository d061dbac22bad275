"""Faults and deadlines on the real graph: replica deaths under load cost no request, a
query past its deadline is a 504 whose work is cancelled."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import httpx
import pytest

from loadtests.chaos import deployments, running

pytestmark = pytest.mark.e2e

DOC = {
    "id": "resilience-tides",
    "title": "Tides",
    "text": "Tides are caused by the gravity of the Moon. The Sun adds a smaller pull.",
}


def replicas(graph, deployment: str) -> list[dict]:
    return running(deployments(graph.dashboard)[deployment])


@pytest.fixture(scope="module")
def stored(graph):
    reply = httpx.post(graph.url + "/v1/documents", json={"documents": [DOC]}, timeout=300)
    assert reply.status_code == 200, reply.text


async def _steady_load(url: str, stop: asyncio.Event, clients: int) -> list[str]:
    statuses: list[str] = []

    async def client(http: httpx.AsyncClient) -> None:
        while not stop.is_set():
            reply = await http.post("/v1/search", json={"query": "What causes tides?"})
            kind = "" if reply.status_code == 200 else f" {reply.text[:160]}"
            statuses.append(f"{reply.status_code}{kind}")

    async with httpx.AsyncClient(base_url=url, timeout=120) as http:
        await asyncio.gather(*(client(http) for _ in range(clients)))
    return statuses


@pytest.mark.parametrize("deployment", ["Retriever", "Supervisor"])
def test_a_replica_killed_under_load_costs_no_request(graph, stored, deployment):
    """SIGKILL one replica mid-load: calls on it are sent once more (to a survivor, or to
    its replacement), so every client still gets its 200; Serve replaces the replica."""
    victim = replicas(graph, deployment)[0]

    async def run() -> list[str]:
        stop = asyncio.Event()
        load = asyncio.create_task(_steady_load(graph.url, stop, clients=4))
        await asyncio.sleep(3)
        os.kill(int(victim["pid"]), signal.SIGKILL)
        await asyncio.sleep(8)
        stop.set()
        return await load

    statuses = asyncio.run(run())
    assert len(statuses) > 10
    assert statuses.count("200") == len(statuses), sorted(set(statuses))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        pids = {r["pid"] for r in replicas(graph, deployment)}
        if victim["pid"] not in pids and len(pids) >= 1:
            break
        time.sleep(1)
    assert victim["pid"] not in {r["pid"] for r in replicas(graph, deployment)}


def test_a_query_past_its_deadline_is_a_504_with_the_error_body(graph, stored):
    reply = httpx.post(
        graph.url + "/v1/query",
        json={"query": "What causes tides?"},
        headers={"X-Request-Timeout": "0.001", "X-Request-Id": "late-1"},
        timeout=60,
    )
    assert reply.status_code == 504, reply.text
    error = reply.json()["error"]
    assert error["type"] == "deadline_exceeded"
    assert error["request_id"] == "late-1" == reply.headers["X-Request-Id"]


def test_an_unusable_deadline_header_is_a_400_naming_it(graph):
    reply = httpx.post(
        graph.url + "/v1/search",
        json={"query": "tides"},
        headers={"X-Request-Timeout": "forever"},
        timeout=60,
    )
    assert reply.status_code == 400
    assert reply.json()["error"]["param"] == "X-Request-Timeout"
