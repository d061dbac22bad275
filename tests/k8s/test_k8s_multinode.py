"""Two Ray nodes on one machine (``ray start --head`` + ``ray start --address``): the
stages' replicas spread over both nodes, and the app keeps answering when the worker
node is killed. What a KubeRay worker pod dying looks like to Serve.

Own ports, own temp dirs, own processes only: safe beside the graph's end-to-end tests.
"""

from __future__ import annotations

import time

import httpx
import pytest

from deployments.common.store.lite import free_port
from loadtests.cluster import start_node, stop_nodes
from tests.support.multinode import STAGES, run_driver

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def cluster():
    nodes = []
    try:
        head = start_node("head", head_address=None, num_cpus=2)
        nodes.append(head)
        address = f"127.0.0.1:{head.ports['port']}"
        nodes.append(start_node("worker", head_address=address, num_cpus=2))
        http_port = free_port()
        placement = run_driver("deploy", address, str(http_port), timeout=180)
        yield {
            "address": address,
            "url": f"http://127.0.0.1:{http_port}/",
            "placement": placement,
            "head": nodes[0],
            "worker": nodes[1],
        }
    finally:
        stop_nodes(nodes)


def ask(url: str, query: str, timeout: float = 10) -> httpx.Response:
    return httpx.post(url, json={"query": query}, timeout=timeout)


def test_replicas_spread_over_both_nodes(cluster):
    placement = cluster["placement"]
    assert len(placement["alive"]) == 2, placement
    for stage in STAGES:
        assert sorted(placement["replicas"].get(stage, [])) == placement["alive"], (
            f"{stage} replicas are not one per node: {placement}"
        )


def test_requests_are_answered_by_both_nodes(cluster):
    seen = set()
    for i in range(20):
        reply = ask(cluster["url"], f"What causes tides? ({i})")
        assert reply.status_code == 200, reply.text
        body = reply.json()
        assert body["generator"] == "extractive" and "Moon" in body["answer"]
        seen.add(body["ingress_node"])
    assert seen == set(cluster["placement"]["alive"]), seen


def test_keeps_answering_after_the_worker_node_dies(cluster):
    head_id = cluster["placement"]["head"]
    cluster["worker"].kill()
    killed_at = time.monotonic()
    failures, streak, deadline = [], 0, killed_at + 60
    while streak < 20 and time.monotonic() < deadline:
        try:
            reply = ask(cluster["url"], "What causes tides?", timeout=5)
            ok = reply.status_code == 200
        except httpx.HTTPError as exc:
            ok, reply = False, exc
        if ok:
            assert reply.json()["ingress_node"] == head_id
            streak += 1
        else:
            failures.append((round(time.monotonic() - killed_at, 1), repr(reply)[:200]))
            streak = 0
            time.sleep(0.2)
    assert streak >= 20, f"no 20 answers in a row within 60 s of the kill; failures: {failures}"
    after = run_driver("nodes", cluster["address"])
    assert after["alive"] == [head_id], after
    for stage in STAGES:
        assert after["replicas"].get(stage) == [head_id], after
