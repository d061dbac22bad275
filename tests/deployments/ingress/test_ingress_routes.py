"""The HTTP contract of the ingress, with fake stage handles (no Ray)."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from deployments.errors import InvalidRequestError, StageUnavailableError
from deployments.ingress.api import create_api
from deployments.ingress.routes import Backends
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
        hit = Hit("d1#0000", "d1", "T", "text one", 0.9, {"hybrid": 0.03, "rerank": 0.9})
        self.answer = _Method(
            fn
            or (
                lambda q, k: Answer(
                    "an answer [1]",
                    [hit],
                    "extractive",
                    "simple",
                    {"rewrite": 1.0, "retrieve": 2.0, "rerank": 3.0, "generate": 4.0},
                    stages=("rewrite", "retrieve", "rerank", "generate"),
                )
            )
        )
        self.search = _Method(
            lambda q, k: Retrieval(
                [hit], "comparative", {"rewrite": 1.0, "total": 5.0}, stages=("retrieve_each",)
            )
        )


class FakeIngester:
    def __init__(self, fn=None) -> None:
        self.ingest = _Method(
            fn or (lambda docs: IngestResult(len(docs), 0, len(docs), [d.doc_id for d in docs]))
        )


async def _ready():
    return True, {"Ingress": "HEALTHY"}


def _client(supervisor=None, ingester=None, readiness=_ready) -> TestClient:
    return TestClient(create_api(Backends(supervisor or FakeSupervisor(), ingester, readiness)))


@pytest.fixture
def client():
    supervisor, ingester = FakeSupervisor(), FakeIngester()
    with _client(supervisor, ingester) as c:
        c.supervisor, c.ingester = supervisor, ingester
        yield c


CITATION = {
    "doc_id": "d1",
    "chunk_id": "d1#0000",
    "title": "T",
    "text": "text one",
    "score": 0.9,
    "scores": {"hybrid": 0.03, "rerank": 0.9},
}


def test_query_reply_follows_the_contract(client):
    reply = client.post("/v1/query", json={"query": "why?"}, headers={"X-Request-ID": "abc"})
    assert reply.status_code == 200
    body = reply.json()
    assert body == {
        "answer": "an answer [1]",
        "citations": [CITATION],
        "generator": "extractive",
        "route": "simple",
        "stages": ["rewrite", "retrieve", "rerank", "generate"],
        "timings_ms": {"rewrite": 1.0, "retrieve": 2.0, "rerank": 3.0, "generate": 4.0},
        "request_id": "abc",
        "cached": False,
        "usage": None,
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
    (docs,) = client.ingester.ingest.calls[0]
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
        "citations": [CITATION],
        "route": "comparative",
        "stages": ["retrieve_each"],
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
    assert client.ingester.ingest.calls == []


def test_stage_errors_keep_their_status(client):
    def fail(q, k):
        raise StageUnavailableError("the LLM failed: boom")

    reply = _client(FakeSupervisor(fail)).post("/v1/query", json={"query": "q"})
    assert reply.status_code == 503
    assert reply.json() == {
        "error": {"type": "stage_unavailable", "message": "the LLM failed: boom", "param": None}
    }


def test_unexpected_errors_are_a_500_with_the_error_body(client):
    def crash(q, k):
        raise KeyError("x")

    reply = _client(FakeSupervisor(crash)).post("/v1/query", json={"query": "q"})
    assert reply.status_code == 500
    assert reply.json()["error"]["type"] == "internal_error"


def test_healthz_reports_readiness(client):
    assert client.get("/healthz").json() == {"status": "ok", "deployments": {"Ingress": "HEALTHY"}}

    async def starting():
        return False, {"Generator": "UPDATING"}

    reply = _client(readiness=starting).get("/healthz")
    assert reply.status_code == 503 and reply.json()["status"] == "starting"


def test_unknown_route_is_a_404_error_body(client):
    reply = client.get("/v1/nothing")
    assert reply.status_code == 404
    assert reply.json()["error"]["type"] == "not_found"


@pytest.mark.parametrize(
    "doc_id",
    ["Tucker's Island, Bermuda", "C:\\docs\\notes (1).md", "Zürich — 東京", 'say "hi"', "🚀"],
)
def test_document_ids_may_be_any_unicode_text(client, doc_id):
    reply = client.post("/v1/documents", json={"documents": [{"id": doc_id, "text": "t"}]})
    assert reply.status_code == 200, reply.text
    assert reply.json()["ids"] == [doc_id]
    (docs,) = client.ingester.ingest.calls[-1]
    assert docs[0].doc_id == doc_id


@pytest.mark.parametrize(
    ("document", "param", "fragment"),
    [
        ({"id": "a\nb", "text": "t"}, "documents.0.id", "control characters"),
        ({"id": "   ", "text": "t"}, "documents.0.id", "other than whitespace"),
        ({"id": "é" * 300, "text": "t"}, "documents.0.id", "at most 512 bytes"),
        ({"text": "bad \ud800 text"}, "documents.0.text", "unicode string"),
        ({"text": "t", "title": "\udfff"}, "documents.0.title", "unicode string"),
        ({"text": "t", "metadata": {"k": "\ud800"}}, "documents.0.metadata", "surrogate"),
        ({"text": "t", "metadata": {"n": -(2**90)}}, "documents.0.metadata", "64-bit range"),
        ({"text": "t", "metadata": {"k": "x" * 20000}}, "documents.0.metadata", "bytes as JSON"),
        ({"text": "t", "metadata": {"a": [[[[[[[[[[1]]]]]]]]]]}}, "documents.0.metadata", "deeper"),
    ],
)
def test_documents_no_store_can_hold_get_a_400(client, document, param, fragment):
    body = json.dumps({"documents": [document]}, ensure_ascii=True)
    reply = client.post(
        "/v1/documents", content=body.encode(), headers={"content-type": "application/json"}
    )
    assert reply.status_code == 400, reply.text
    error = reply.json()["error"]
    assert error["param"] == param and fragment in error["message"]
    assert client.ingester.ingest.calls == []


def test_a_query_with_a_lone_surrogate_is_a_400(client):
    body = json.dumps({"query": "why \ud800?"}, ensure_ascii=True)
    reply = client.post(
        "/v1/query", content=body.encode(), headers={"content-type": "application/json"}
    )
    assert reply.status_code == 400
    assert reply.json()["error"]["param"] == "query"


def test_ingester_errors_keep_their_status_and_param():
    def refuse(docs):
        raise InvalidRequestError("document 'big' makes 9 chunks of 99 MiB", param="documents")

    reply = _client(ingester=FakeIngester(refuse)).post(
        "/v1/documents", json={"documents": [{"id": "big", "text": "t"}]}
    )
    assert reply.status_code == 400
    assert reply.json()["error"]["param"] == "documents"


def test_each_app_has_its_own_backends():
    first, second = FakeSupervisor(), FakeSupervisor()
    with _client(first) as a, _client(second) as b:
        a.post("/v1/query", json={"query": "to a"})
        b.post("/v1/query", json={"query": "to b"})
    assert first.answer.calls == [("to a", 5)] and second.answer.calls == [("to b", 5)]
