"""The document library, ingestion jobs and metadata filters over HTTP, with the in-memory
fake Ingester and a fake Supervisor (no Ray)."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from deployments.common.store.filters import metadata_expression
from deployments.ingress.schemas import MAX_JOB_TEXT_CHARS, MAX_REQUEST_TEXT_CHARS
from deployments.types import IngestResult
from tests.deployments.ingress.fakes import FakeIngester, FakeSupervisor, fake_api


@pytest.fixture
def client():
    supervisor, ingester = FakeSupervisor(), FakeIngester()
    with TestClient(fake_api(supervisor, ingester)) as c:
        c.supervisor, c.ingester = supervisor, ingester
        yield c


def _store(client: TestClient, *ids: str) -> None:
    docs = [{"id": i, "text": f"text of {i}", "title": i.upper()} for i in ids]
    assert client.post("/v1/documents", json={"documents": docs}).status_code == 200


def _url(doc_id: str) -> str:
    return "/v1/documents/" + quote(doc_id, safe="")


def _utc(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    assert moment.utcoffset() == UTC.utcoffset(None), value
    return moment


def _error(reply, status: int, kind: str) -> dict:
    assert reply.status_code == status, reply.text
    error = reply.json()["error"]
    assert error["type"] == kind
    return error


# --- ingestion jobs ---------------------------------------------------------------------


def test_a_job_is_accepted_at_once_with_where_to_poll_it(client):
    docs = [{"id": "a", "text": "alpha"}, {"text": "beta", "metadata": {"lang": "en"}}]
    reply = client.post("/v1/ingest/jobs", json={"documents": docs})
    assert reply.status_code == 202
    body = reply.json()
    assert reply.headers["Location"] == f"/v1/ingest/jobs/{body['job_id']}"
    assert {k: body[k] for k in ("status", "documents", "chunks", "progress", "errors")} == {
        "status": "queued",
        "documents": {"total": 2, "done": 0, "skipped": 0, "failed": 0},
        "chunks": 0,
        "progress": 0.0,
        "errors": [],
    }
    assert (body["on_existing"], body["message"], body["attempts"]) == ("skip", None, 0)
    assert body["started_at"] is None and body["finished_at"] is None
    assert _utc(body["created_at"]) <= _utc(body["updated_at"])
    (sent, replace) = client.ingester.submit.calls[0]
    assert sent[0].doc_id == "a" and sent[1].metadata == {"lang": "en"}
    assert replace is False


def test_a_finished_job_reports_its_counts_and_times(client):
    _store(client, "old")
    docs = [{"id": "old", "text": "text of old", "title": "OLD"}, {"id": "new", "text": "n"}]
    job_id = client.post("/v1/ingest/jobs", json={"documents": docs}).json()["job_id"]
    client.ingester.run_jobs()
    body = client.get(f"/v1/ingest/jobs/{job_id}").json()
    assert body["status"] == "succeeded" and body["progress"] == 1.0
    assert body["documents"] == {"total": 2, "done": 1, "skipped": 1, "failed": 0}
    assert body["chunks"] == 1 and body["attempts"] == 1
    created, started = _utc(body["created_at"]), _utc(body["started_at"])
    assert created <= started <= _utc(body["finished_at"])


def test_on_existing_replace_reaches_the_ingester(client):
    reply = client.post(
        "/v1/ingest/jobs", json={"documents": [{"text": "t"}], "on_existing": "replace"}
    )
    assert reply.status_code == 202 and reply.json()["on_existing"] == "replace"
    assert client.ingester.submit.calls[0][1] is True


def test_an_unknown_job_is_a_404_naming_job_id(client):
    error = _error(client.get("/v1/ingest/jobs/0123abcd"), 404, "not_found")
    assert error["param"] == "job_id" and "'0123abcd'" in error["message"]
    assert _error(client.delete("/v1/ingest/jobs/0123abcd"), 404, "not_found")["param"] == "job_id"


@pytest.mark.parametrize("job_id", ["a" * 65, "not%20a%20job", "x%01"])
def test_a_job_id_no_job_can_have_is_a_400(client, job_id):
    error = _error(client.get(f"/v1/ingest/jobs/{job_id}"), 400, "invalid_request_error")
    assert "job_id" in error["param"]
    assert client.ingester.job.calls == []


def test_cancelling_a_queued_job_stops_it_and_it_stays_readable(client):
    job_id = client.post("/v1/ingest/jobs", json={"documents": [{"text": "t"}]}).json()["job_id"]
    reply = client.delete(f"/v1/ingest/jobs/{job_id}")
    assert reply.status_code == 200 and reply.json()["status"] == "cancelled"
    client.ingester.run_jobs()
    after = client.get(f"/v1/ingest/jobs/{job_id}").json()
    assert after["status"] == "cancelled" and after["documents"]["done"] == 0
    assert client.get("/v1/documents").json()["total"] == 0


def test_cancelling_a_finished_job_leaves_it_as_it_was(client):
    job_id = client.post("/v1/ingest/jobs", json={"documents": [{"text": "t"}]}).json()["job_id"]
    client.ingester.run_jobs()
    assert client.delete(f"/v1/ingest/jobs/{job_id}").json()["status"] == "succeeded"


def test_jobs_are_listed_newest_first_up_to_the_limit(client):
    ids = [
        client.post("/v1/ingest/jobs", json={"documents": [{"text": f"t{i}"}]}).json()["job_id"]
        for i in range(3)
    ]
    listed = client.get("/v1/ingest/jobs").json()["jobs"]
    assert [j["job_id"] for j in listed] == ids[::-1]
    assert [j["job_id"] for j in client.get("/v1/ingest/jobs?limit=2").json()["jobs"]] == [
        ids[2],
        ids[1],
    ]
    assert client.ingester.recent_jobs.calls == [(50,), (2,)]


@pytest.mark.parametrize("limit", ["0", "1001", "-1", "two"])
def test_a_job_list_limit_outside_1_to_1000_is_a_400(client, limit):
    error = _error(client.get(f"/v1/ingest/jobs?limit={limit}"), 400, "invalid_request_error")
    assert error["param"].endswith("limit")
    assert client.ingester.recent_jobs.calls == []


# --- text budgets: jobs take long documents, a waiting request does not -----------------


def test_a_long_document_goes_as_a_job_not_as_a_waiting_request(client):
    long_doc = {"documents": [{"id": "book", "text": "word " * 20_000}]}  # 100,000 chars
    assert len(long_doc["documents"][0]["text"]) == 100_000 > MAX_REQUEST_TEXT_CHARS
    error = _error(client.post("/v1/documents", json=long_doc), 413, "payload_too_large")
    assert error["param"] == "documents.0.text"
    assert "POST /v1/ingest/jobs" in error["message"]
    assert client.ingester.ingest.calls == []
    reply = client.post("/v1/ingest/jobs", json=long_doc)
    assert reply.status_code == 202, reply.text
    assert len(client.ingester.submit.calls[0][0][0].text) == 100_000


def test_a_job_document_over_its_limit_is_a_413_saying_to_split_it(client):
    body = {"documents": [{"text": "x" * (MAX_JOB_TEXT_CHARS + 1)}]}
    error = _error(client.post("/v1/ingest/jobs", json=body), 413, "payload_too_large")
    assert error["param"] == "documents.0.text"
    assert f"{MAX_JOB_TEXT_CHARS:,}" in error["message"] and "split it" in error["message"]
    assert client.ingester.submit.calls == []


# --- the library ------------------------------------------------------------------------


def test_documents_are_paged_in_id_order(client):
    _store(client, "e", "b", "d", "a", "c")
    first = client.get("/v1/documents?limit=2").json()
    assert [d["id"] for d in first["documents"]] == ["a", "b"]
    assert (first["total"], first["next_after"]) == (5, "b")
    second = client.get("/v1/documents", params={"limit": 2, "after": "b"}).json()
    assert [d["id"] for d in second["documents"]] == ["c", "d"]
    last = client.get("/v1/documents", params={"limit": 2, "after": "d"}).json()
    assert [d["id"] for d in last["documents"]] == ["e"] and last["next_after"] is None
    assert client.ingester.documents.calls == [(2, None), (2, "b"), (2, "d")]


def test_the_page_size_defaults_to_50(client):
    assert client.get("/v1/documents").json() == {"documents": [], "total": 0, "next_after": None}
    assert client.ingester.documents.calls == [(50, None)]


@pytest.mark.parametrize("limit", ["1", "1000"])
def test_page_sizes_1_to_1000_are_accepted(client, limit):
    assert client.get(f"/v1/documents?limit={limit}").status_code == 200


@pytest.mark.parametrize("limit", ["0", "1001", "1.5", "many"])
def test_a_page_size_outside_1_to_1000_is_a_400(client, limit):
    error = _error(client.get(f"/v1/documents?limit={limit}"), 400, "invalid_request_error")
    assert error["param"].endswith("limit")
    assert client.ingester.documents.calls == []


def test_a_cursor_no_document_id_can_be_is_a_400(client):
    error = _error(client.get("/v1/documents?after=a%01b"), 400, "invalid_request_error")
    assert error["param"].endswith("after") and "control characters" in error["message"]
    assert client.ingester.documents.calls == []


IDS = ["notes/2024/plan.md", "Zürich — 東京", "what? #1 100% sure", "C:\\docs\\a (1).md", "🚀"]


@pytest.mark.parametrize("doc_id", IDS)
def test_one_document_is_read_by_its_url_encoded_id(client, doc_id):
    _store(client, doc_id)
    reply = client.get(_url(doc_id))
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert (body["id"], body["title"], body["chars"]) == (doc_id, doc_id.upper(), 8 + len(doc_id))
    assert body["chunks"] == 1 and body["metadata"] == {} and body["version"]
    _utc(body["ingested_at"])
    assert client.ingester.document.calls == [(doc_id,)]


def test_an_id_with_slashes_may_also_be_sent_unencoded(client):
    _store(client, "notes/2024/plan.md")
    assert client.get("/v1/documents/notes/2024/plan.md").json()["id"] == "notes/2024/plan.md"


@pytest.mark.parametrize("doc_id", IDS)
def test_deleting_a_document_reports_its_chunks_and_forgets_it(client, doc_id):
    _store(client, doc_id, "other")
    reply = client.delete(_url(doc_id))
    assert reply.status_code == 200
    assert reply.json() == {"id": doc_id, "deleted": True, "chunks": 1}
    assert client.ingester.delete.calls == [(doc_id,)]
    assert _error(client.get(_url(doc_id)), 404, "not_found")["param"] == "doc_id"
    assert _error(client.delete(_url(doc_id)), 404, "not_found")["param"] == "doc_id"
    assert [d["id"] for d in client.get("/v1/documents").json()["documents"]] == ["other"]


@pytest.mark.parametrize("method", ["get", "delete"])
def test_an_unknown_document_is_a_404_naming_doc_id(client, method):
    error = _error(getattr(client, method)(_url("no/such doc")), 404, "not_found")
    assert error["param"] == "doc_id" and "'no/such doc'" in error["message"]
    assert "GET /v1/documents" in error["message"]


@pytest.mark.parametrize("method", ["get", "put", "delete"])
@pytest.mark.parametrize(
    ("doc_id", "problem"),
    [("a\x01b", "control characters"), ("   ", "other than whitespace"), ("é" * 300, "bytes")],
)
def test_an_id_no_document_can_have_is_a_400_never_forwarded(client, method, doc_id, problem):
    kwargs = {"json": {"text": "t"}} if method == "put" else {}
    reply = getattr(client, method)(_url(doc_id), **kwargs)
    error = _error(reply, 400, "invalid_request_error")
    assert error["param"].endswith("doc_id") and problem in error["message"]
    ingester = client.ingester
    assert ingester.document.calls == ingester.delete.calls == ingester.ingest.calls == []


# --- replacing one document ---------------------------------------------------------------


def test_put_stores_replaces_or_leaves_a_document_unchanged(client):
    url = _url("guide/intro.md")
    first = client.put(url, json={"text": "version one", "title": "Intro"})
    assert first.status_code == 200
    assert first.json() == {"id": "guide/intro.md", "status": "stored", "chunks": 1}
    assert client.put(url, json={"text": "version one", "title": "Intro"}).json()["status"] == (
        "unchanged"
    )
    assert client.put(url, json={"text": "version two", "title": "Intro"}).json()["status"] == (
        "replaced"
    )
    for docs, replace in client.ingester.ingest.calls:
        assert [d.doc_id for d in docs] == ["guide/intro.md"] and replace is True
    assert client.get(url).json()["chars"] == len("version two")


@pytest.mark.parametrize(
    ("result", "status"),
    [
        (IngestResult(1, 0, 3, ["d"]), "stored"),
        (IngestResult(1, 0, 3, ["d"], replaced=1), "replaced"),
        (IngestResult(0, 1, 0, ["d"], skipped_ids=["d"]), "unchanged"),
    ],
)
def test_put_says_what_the_ingester_did(result, status):
    with TestClient(fake_api(ingester=FakeIngester(lambda docs, replace: result))) as c:
        reply = c.put("/v1/documents/d", json={"text": "t"})
    assert reply.json() == {"id": "d", "status": status, "chunks": result.chunks}


def test_put_with_another_id_in_the_body_is_a_400_naming_id(client):
    error = _error(
        client.put(_url("a/b"), json={"id": "a", "text": "t"}), 400, "invalid_request_error"
    )
    assert error["param"] == "id" and "'a'" in error["message"] and "'a/b'" in error["message"]
    assert client.ingester.ingest.calls == []
    same = client.put(_url("a/b"), json={"id": "a/b", "text": "t"})
    assert same.status_code == 200 and same.json()["status"] == "stored"


# --- 405 on paths whose methods sit in routers of different scopes ------------------------


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("delete", "/v1/documents", "GET, POST"),
        ("post", "/v1/documents/a%2Fb", "DELETE, GET, PUT"),
        ("patch", "/v1/ingest/jobs", "GET, POST"),
        ("post", "/v1/ingest/jobs/abc", "DELETE, GET"),
    ],
)
def test_a_405_names_every_method_of_the_path(client, method, path, allowed):
    reply = client.request(method.upper(), path)
    _error(reply, 405, "method_not_allowed")
    assert reply.headers["Allow"] == allowed


# --- metadata filters on /v1/query and /v1/search ----------------------------------------

ROUTES = {"/v1/query": "answer", "/v1/search": "search"}
VALID_FILTERS = [
    {"source": "a.md"},
    {"year": {"$gte": 2020, "$lt": 2024}, "lang": ["en", "fr"]},
    {"$or": [{"lang": "en"}, {"tags": {"$contains": "ops"}}], "$not": {"draft": True}},
    {"city": 'x" or 1==1 or "'},
]


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("spec", VALID_FILTERS)
def test_a_filter_reaches_the_supervisor_as_an_expression(client, route, spec):
    reply = client.post(route, json={"query": "q", "filter": spec})
    assert reply.status_code == 200, reply.text
    method = getattr(client.supervisor, ROUTES[route])
    assert method.calls == [("q", 5)]
    assert method.kwargs == [{"where": metadata_expression(spec), "agents": None}]
    assert isinstance(method.kwargs[0]["where"], str)


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("spec", [None, {}])
def test_no_filter_and_an_empty_one_filter_nothing(client, route, spec):
    body = {"query": "q"} if spec is None else {"query": "q", "filter": spec}
    assert client.post(route, json=body).status_code == 200
    assert getattr(client.supervisor, ROUTES[route]).kwargs == [{"where": None, "agents": None}]


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ({"year": {"$gt": True}}, "filter.year.$gt"),
        ({"$foo": 1}, "unknown operator '$foo'"),
        ({"a": None}, "null is not a filterable value"),
        ({"a": {"$regex": "x"}}, "unknown operator '$regex'"),
        ({"a": []}, "list of 1 to 100 values"),
        ({"$and": []}, "non-empty list"),
        ({'a"b': 1}, "Milvus servers read differently"),
        ({"a": {"$eq": 2**63}}, "64-bit"),
        ([{"a": 1}], "valid dictionary"),
    ],
)
def test_an_invalid_filter_is_a_400_naming_filter_and_never_forwarded(
    client, route, spec, fragment
):
    error = _error(
        client.post(route, json={"query": "q", "filter": spec}), 400, "invalid_request_error"
    )
    assert error["param"] == "filter"
    assert fragment in error["message"]
    assert client.supervisor.answer.calls == [] and client.supervisor.search.calls == []
