"""The HTTP contract of the ingress, with fake stage handles (no Ray)."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from deployments.errors import InvalidRequestError, StageUnavailableError
from tests.deployments.ingress.fakes import FakeIngester, FakeSupervisor, fake_api, ready


def _client(supervisor=None, ingester=None, readiness=ready) -> TestClient:
    return TestClient(fake_api(supervisor, ingester, readiness))


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
        "degraded": [],
        "trace": None,
    }
    assert client.supervisor.answer.calls == [("why?", 5)]
    assert client.supervisor.answer.kwargs == [{"where": None, "agents": None}]  # no filter


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
    docs, replace = client.ingester.ingest.calls[0]
    assert docs[1].title == "T" and docs[1].metadata == {"k": 1} and replace is False
    again = client.post("/v1/documents", json={"documents": [{"text": "same text"}]})
    assert again.json()["ids"] == [ids[0]]
    assert (again.json()["stored"], again.json()["skipped"]) == (0, 1)


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
        "degraded": [],
        "trace": None,
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

    reply = _client(FakeSupervisor(fail)).post(
        "/v1/query", json={"query": "q"}, headers={"X-Request-Id": "req-7"}
    )
    assert reply.status_code == 503
    assert reply.json() == {
        "error": {
            "type": "stage_unavailable",
            "message": "the LLM failed: boom",
            "param": None,
            "code": "stage_unavailable",
            "request_id": "req-7",
        }
    }
    assert reply.headers["X-Request-Id"] == "req-7"
    assert reply.headers["Retry-After"] == "2"


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
    docs, _ = client.ingester.ingest.calls[-1]
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
        ({"text": "t", "metadata": {"n": 1e21}}, "documents.0.metadata", "64-bit range"),
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
    def refuse(docs, replace):
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


# --- Hostile input (issue 11): every error carries the request id and its headers ---


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "kind"),
    [
        ("post", "/v1/query", {"json": {"query": ""}}, 400, "invalid_request_error"),
        ("get", "/v1/nothing", {}, 404, "not_found"),
        ("get", "/v1/query", {}, 405, "method_not_allowed"),
        (
            "post",
            "/v1/query",
            {"json": {"query": "q"}, "headers": {"X-Request-Timeout": "x"}},
            400,
            "invalid_request_error",
        ),
    ],
)
def test_every_error_reply_carries_the_request_id(client, method, path, kwargs, status, kind):
    headers = {**kwargs.pop("headers", {}), "X-Request-Id": "trace-1"}
    reply = getattr(client, method)(path, headers=headers, **kwargs)
    assert reply.status_code == status
    assert reply.json()["error"]["type"] == kind
    assert reply.json()["error"]["request_id"] == "trace-1"
    assert reply.headers["X-Request-Id"] == "trace-1"


def test_a_405_says_which_methods_the_route_allows(client):
    reply = client.delete("/v1/query")
    assert reply.status_code == 405
    assert reply.headers["Allow"] == "POST"


def test_an_error_without_a_caller_id_gets_one_in_body_and_header(client):
    reply = client.post("/v1/query", json={})
    rid = reply.json()["error"]["request_id"]
    assert len(rid) == 32 and reply.headers["X-Request-Id"] == rid


def test_a_crash_outside_the_routes_is_a_500_without_its_traceback():
    async def broken():
        raise RuntimeError("secret detail /etc/passwd")

    with TestClient(fake_api(readiness=broken), raise_server_exceptions=False) as c:
        reply = c.get("/healthz", headers={"X-Request-Id": "r-500"})
    assert reply.status_code == 500
    error = reply.json()["error"]
    assert error["type"] == "internal_error" and error["request_id"] == "r-500"
    assert "RuntimeError" in error["message"] and "secret" not in reply.text
    assert reply.headers["X-Request-Id"] == "r-500"


def _ray_errors():
    from ray.exceptions import ActorDiedError
    from ray.serve._private.common import DeploymentID
    from ray.serve.exceptions import (
        BackPressureError,
        DeploymentUnavailableError,
        RequestCancelledError,
    )

    return [
        (BackPressureError(num_queued_requests=3, max_queued_requests=2), 503, "overloaded"),
        (DeploymentUnavailableError(DeploymentID(name="Supervisor")), 503, "stage_unavailable"),
        (ActorDiedError(), 503, "stage_unavailable"),
        (RequestCancelledError("r"), 504, "deadline_exceeded"),
    ]


@pytest.mark.parametrize("case", range(4))
def test_rays_failures_become_the_graphs_errors(case):
    from deployments.ingress.errors import error_response

    exc, status, kind = _ray_errors()[case]
    reply = error_response(exc, request_id="r9")
    body = json.loads(reply.body)
    assert (reply.status_code, body["error"]["type"]) == (status, kind)
    assert body["error"]["request_id"] == "r9" and reply.headers["X-Request-Id"] == "r9"
    assert ("retry-after" in reply.headers) == (status == 503)


def test_a_stage_error_inside_rays_wrapping_keeps_its_status():
    from ray.exceptions import RayTaskError

    from deployments.ingress.errors import error_response

    try:
        raise InvalidRequestError("bad", param="documents")
    except InvalidRequestError as exc:
        wrapped = RayTaskError("ingest", "traceback", exc).as_instanceof_cause()
    reply = error_response(wrapped, request_id="r")
    assert reply.status_code == 400 and json.loads(reply.body)["error"]["param"] == "documents"


@pytest.mark.parametrize("route", ["/v1/query", "/v1/search"])
def test_an_integral_float_top_k_is_an_integer(client, route):
    reply = client.post(route, json={"query": "q", "top_k": 13.0})
    assert reply.status_code == 200, reply.text
    method = client.supervisor.answer if route == "/v1/query" else client.supervisor.search
    assert method.calls == [("q", 13)] and type(method.calls[0][1]) is int


@pytest.mark.parametrize("top_k", [13.5, "13", True, float("1e300")])
def test_top_k_that_is_not_an_integer_value_is_still_refused(client, top_k):
    reply = client.post("/v1/query", json={"query": "q", "top_k": top_k})
    assert reply.status_code == 400
    assert reply.json()["error"]["param"] == "top_k"


def test_one_document_over_the_text_budget_is_a_413_naming_it(client):
    from deployments.ingress.schemas import MAX_REQUEST_TEXT_CHARS

    docs = [{"text": "ok"}, {"text": "x" * (MAX_REQUEST_TEXT_CHARS + 1)}]
    reply = client.post("/v1/documents", json={"documents": docs})
    assert reply.status_code == 413
    error = reply.json()["error"]
    assert (error["type"], error["param"]) == ("payload_too_large", "documents.1.text")
    assert f"{MAX_REQUEST_TEXT_CHARS:,}" in error["message"]
    assert "POST /v1/ingest/jobs" in error["message"] and "several requests" in error["message"]
    assert client.ingester.ingest.calls == []


def test_documents_over_the_text_budget_together_are_a_413(client):
    from deployments.ingress.schemas import MAX_REQUEST_TEXT_CHARS

    half = MAX_REQUEST_TEXT_CHARS // 2 + 1
    reply = client.post("/v1/documents", json={"documents": [{"text": "y" * half}] * 2})
    assert reply.status_code == 413
    assert reply.json()["error"]["param"] == "documents"
    assert client.ingester.ingest.calls == []
    exactly = client.post(
        "/v1/documents", json={"documents": [{"text": "z" * MAX_REQUEST_TEXT_CHARS}]}
    )
    assert exactly.status_code == 200


def test_a_malformed_request_is_a_400_even_with_too_much_text(client):
    from deployments.ingress.schemas import MAX_REQUEST_TEXT_CHARS

    docs = [{"text": "x" * (MAX_REQUEST_TEXT_CHARS + 1)}, {"text": "t", "id": "a\nb"}]
    reply = client.post("/v1/documents", json={"documents": docs})
    assert reply.status_code == 400
    assert reply.json()["error"]["param"] == "documents.1.id"


def test_metadata_over_its_byte_limit_is_a_413(client):
    reply = client.post(
        "/v1/documents", json={"documents": [{"text": "t", "metadata": {"k": "x" * 20000}}]}
    )
    assert reply.status_code == 413
    error = reply.json()["error"]
    assert error["param"] == "documents.0.metadata" and "bytes as JSON" in error["message"]


def test_a_body_that_is_not_json_says_how_to_send_it(client):
    reply = client.post(
        "/v1/query", content=b'{"query": "q"}', headers={"content-type": "text/plain"}
    )
    assert reply.status_code == 400
    assert "Content-Type: application/json" in reply.json()["error"]["message"]


def test_every_answer_counts_its_generated_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    from deployments.ingress import routes
    from deployments.types import Answer

    counted: list[tuple[str, int]] = []
    monkeypatch.setattr(routes, "record_generated_tokens", lambda r, n: counted.append((r, n)))
    written = Answer("a [1]", [], "vllm", "simple", {}, usage={"completion_tokens": 7})
    client = _client(FakeSupervisor(lambda q, k: written))
    assert client.post("/v1/query", json={"query": "q?"}).status_code == 200
    chat = {"model": "rag", "messages": [{"role": "user", "content": "q?"}]}
    assert client.post("/v1/chat/completions", json=chat).status_code == 200
    streamed = client.post("/v1/chat/completions", json={**chat, "stream": True})
    assert streamed.status_code == 200 and "[DONE]" in streamed.text
    assert counted == [("query", 7), ("chat", 7), ("chat", 7)]


@pytest.mark.parametrize(("route", "method"), [("/v1/query", "answer"), ("/v1/search", "search")])
def test_agents_reach_the_supervisor_and_a_non_boolean_is_refused(client, route, method):
    assert client.post(route, json={"query": "why?", "agents": True}).status_code == 200
    assert getattr(client.supervisor, method).kwargs[-1]["agents"] is True
    reply = client.post(route, json={"query": "why?", "agents": "maybe"})
    assert reply.status_code == 400, reply.text
    assert "agents" in reply.text
