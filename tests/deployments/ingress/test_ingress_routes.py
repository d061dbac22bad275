"""The HTTP contract of the ingress, with fake stage handles (no Ray)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from deployments.errors import StageUnavailableError
from deployments.ingress.deployment import api
from deployments.ingress.routes import Backends, set_backends
from deployments.types import Answer, Hit, IngestResult, Retrieval


class _Method:
    def __init__(self, fn) -> None:
        self.fn = fn
        self.calls: list[tuple] = []

    def remote(self, *args):
        self.calls.append(args)

        async def run():
            return self.fn(*args)

        return run()


class FakeSupervisor:
    def __init__(self, fn=None) -> None:
        hit = Hit("d1#0000", "d1", "T", "text one", 0.9, token_blob="blob")
        self.answer = _Method(
            fn
            or (
                lambda q, k: Answer(
                    "an answer [1]",
                    [hit],
                    "extractive",
                    "simple",
                    {"rewrite": 1.0, "retrieve": 2.0, "rerank": 3.0, "generate": 4.0},
                )
            )
        )
        self.search = _Method(
            lambda q, k: Retrieval([hit], "comparative", {"rewrite": 1.0, "total": 5.0})
        )


class FakeRetriever:
    def __init__(self) -> None:
        self.ingest = _Method(
            lambda docs: IngestResult(len(docs), 0, len(docs), [d.doc_id for d in docs])
        )


@pytest.fixture
def client():
    supervisor, retriever = FakeSupervisor(), FakeRetriever()

    async def ready():
        return True, {"Ingress": "HEALTHY"}

    set_backends(Backends(supervisor, retriever, ready))
    with TestClient(api) as c:
        c.supervisor, c.retriever = supervisor, retriever
        yield c


def test_query_reply_follows_the_contract(client):
    reply = client.post("/v1/query", json={"query": "why?"}, headers={"X-Request-ID": "abc"})
    assert reply.status_code == 200
    body = reply.json()
    assert body == {
        "answer": "an answer [1]",
        "citations": [{"doc_id": "d1", "chunk_id": "d1#0000", "text": "text one", "score": 0.9}],
        "generator": "extractive",
        "route": "simple",
        "timings_ms": {"rewrite": 1.0, "retrieve": 2.0, "rerank": 3.0, "generate": 4.0},
        "request_id": "abc",
        "cached": False,
    }
    assert client.supervisor.answer.calls == [("why?", 5)]


def test_documents_get_content_ids_and_are_forwarded(client):
    reply = client.post(
        "/v1/documents",
        json={
            "documents": [
                {"text": "same text"},
                {"id": "given", "text": "other", "title": "T", "metadata": {"k": 1}},
            ]
        },
    )
    assert reply.status_code == 200
    ids = reply.json()["ids"]
    assert ids[1] == "given" and len(ids[0]) == 32
    (docs,) = client.retriever.ingest.calls[0]
    assert docs[1].title == "T" and docs[1].metadata == {"k": 1}
    again = client.post("/v1/documents", json={"documents": [{"text": "same text"}]})
    assert again.json()["ids"] == [ids[0]]


@pytest.mark.parametrize(
    ("body", "param", "fragment"),
    [
        ({"query": ""}, "query", "at least 1 character"),
        ({"query": " \n "}, "query", "whitespace"),
        ({"query": "q" * 4097}, "query", "at most 4096"),
        ({"query": ["a"]}, "query", "valid string"),
        ({"query": "q", "top_k": 2.5}, "top_k", "valid integer"),
        ({"query": "q", "top_k": True}, "top_k", "valid integer"),
        ({"query": "q", "top_k": 99}, "top_k", "less than or equal to 50"),
        ({"query": "q", "extra": 1}, "extra", "unknown field"),
        ({}, "query", "required"),
    ],
)
@pytest.mark.parametrize("route", ["/v1/query", "/v1/search"])
def test_bad_queries_get_400_with_param(client, route, body, param, fragment):
    reply = client.post(route, json=body)
    assert reply.status_code == 400
    error = reply.json()["error"]
    assert (error["type"], error["param"]) == ("invalid_request_error", param)
    assert fragment in error["message"]
    assert client.supervisor.answer.calls == []
    assert client.supervisor.search.calls == []


def test_search_returns_passages_without_an_answer(client):
    reply = client.post("/v1/search", json={"query": "a vs b?", "top_k": 3})
    assert reply.status_code == 200
    assert reply.json() == {
        "citations": [{"doc_id": "d1", "chunk_id": "d1#0000", "text": "text one", "score": 0.9}],
        "route": "comparative",
        "timings_ms": {"rewrite": 1.0, "total": 5.0},
        "request_id": reply.json()["request_id"],
    }
    assert client.supervisor.search.calls == [("a vs b?", 3)]


def test_non_json_body_is_a_400(client):
    reply = client.post(
        "/v1/query", content=b"query=hello", headers={"content-type": "application/json"}
    )
    assert reply.status_code == 400
    assert "not valid JSON" in reply.json()["error"]["message"]


def test_too_many_documents_is_a_400(client):
    reply = client.post("/v1/documents", json={"documents": [{"text": "t"}] * 257})
    assert reply.status_code == 400
    assert reply.json()["error"]["param"] == "documents"
    assert client.retriever.ingest.calls == []


def test_stage_errors_keep_their_status(client):
    def fail(q, k):
        raise StageUnavailableError("the LLM failed: boom")

    set_backends(Backends(FakeSupervisor(fail), FakeRetriever(), None))
    reply = client.post("/v1/query", json={"query": "q"})
    assert reply.status_code == 503
    assert reply.json() == {
        "error": {"type": "stage_unavailable", "message": "the LLM failed: boom", "param": None}
    }


def test_unexpected_errors_are_a_500_with_the_error_body(client):
    def crash(q, k):
        raise KeyError("x")

    set_backends(Backends(FakeSupervisor(crash), FakeRetriever(), None))
    reply = client.post("/v1/query", json={"query": "q"})
    assert reply.status_code == 500
    assert reply.json()["error"]["type"] == "internal_error"


def test_healthz_reports_readiness(client):
    assert client.get("/healthz").json() == {"status": "ok", "deployments": {"Ingress": "HEALTHY"}}

    async def starting():
        return False, {"Generator": "UPDATING"}

    set_backends(Backends(FakeSupervisor(), FakeRetriever(), starting))
    reply = client.get("/healthz")
    assert reply.status_code == 503 and reply.json()["status"] == "starting"


def test_unknown_route_is_a_404_error_body(client):
    reply = client.get("/v1/nothing")
    assert reply.status_code == 404
    assert reply.json()["error"]["type"] == "not_found"
