"""The edge's security with fake stages and a fake Quota (no Ray): API keys and scopes
(401/403), per-key quotas (429, shared across replicas, failing open), the body size
limit (413) and CORS."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from ray.serve.exceptions import RayServeException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse

from deployments.common.ids import MAX_DOC_ID_BYTES
from deployments.errors import ConfigError
from deployments.ingress.api import create_api
from deployments.ingress.config import IngressConfig
from deployments.ingress.deployment import build_ingress_deployment
from deployments.ingress.routes import Backends
from deployments.ingress.schemas import (
    MAX_METADATA_BYTES,
    MAX_REQUEST_TEXT_CHARS,
    MAX_TITLE_CHARS,
    DocumentsRequest,
)
from deployments.ingress.security import SecurityConfig
from deployments.ingress.security.body import BodyLimitMiddleware
from deployments.ingress.security.keys import (
    KeyEntry,
    KeysFile,
    hash_key,
    new_key,
    write_keys_file,
)
from deployments.quota.core import Limits, QuotaBook
from deployments.types import Answer, Document, Retrieval
from graph.keys import revoke
from tests.deployments.ingress.fakes import FakeIngester


class _Method:
    """``handle.method.remote(*args, **kwargs)``: a coroutine running ``fn`` on ``args``;
    records the calls (their positional arguments)."""

    def __init__(self, fn) -> None:
        self.fn = fn
        self.calls: list[tuple] = []

    def remote(self, *args, **kwargs):
        self.calls.append(args)

        async def run():
            result = self.fn(*args)
            return await result if asyncio.iscoroutine(result) else result

        return run()


class FakeSupervisor:
    def __init__(self, completion_tokens: int | None = None) -> None:
        usage = {"prompt_tokens": 10, "completion_tokens": completion_tokens}
        self.answer = _Method(
            lambda *a: Answer(
                "an answer", [], "vllm", "simple", {}, usage=usage if completion_tokens else None
            )
        )
        self.search = _Method(lambda *a: Retrieval([], "simple", {}))


class FakeQuota:
    """The Quota deployment's interface over a real book on a fake clock."""

    def __init__(self, book: QuotaBook | None = None) -> None:
        self.now = 0.0
        self.book = book if book is not None else QuotaBook(clock=lambda: self.now)
        self.admit = _Method(lambda k, r, t: self.book.admit(k, Limits(r, t)))
        self.charge = _Method(lambda k, n, r, t: self.book.charge(k, n, Limits(r, t)))


async def _ready():
    return True, {"Ingress": "HEALTHY"}


KEYS = {  # id -> (scopes, limits)
    "reader": (["query"], None),
    "loader": (["ingest"], None),
    "root": (["admin"], None),
    "slow": (["query"], {"requests_per_min": 2}),
    "wordy": (["query"], {"requests_per_min": 100, "tokens_per_min": 600}),
    "free": (["query"], {"requests_per_min": None, "tokens_per_min": None}),
}


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A keys file with the entries of :data:`KEYS`, and id -> plain key."""
    plain = {key_id: new_key() for key_id in KEYS}
    entries = [
        KeyEntry(id=key_id, sha256=hash_key(plain[key_id]), scopes=scopes, limits=limits)
        for key_id, (scopes, limits) in KEYS.items()
    ]
    path = tmp_path / "keys.yaml"
    write_keys_file(path, KeysFile(keys=entries))
    return path, plain


def _client(
    path: Path | None,
    quotas=None,
    supervisor=None,
    **security,
) -> TestClient:
    """A client of the app over fakes; its ingester holds the document ``d`` and one
    queued job, ``client.job_id``."""
    cfg = IngressConfig(security=SecurityConfig(api_keys=str(path) if path else None, **security))
    ingester = FakeIngester()
    ingester.ingest.fn([Document("d", "some text")], False)
    job = ingester.submit.fn([Document("e", "other text")], False)
    backends = Backends(supervisor or FakeSupervisor(), ingester, _ready, quotas=quotas)
    client = TestClient(create_api(backends, cfg))
    client.job_id = job.job_id
    return client


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


QUERY = {"query": "what is rrf?"}
DOCS = {"documents": [{"text": "some text"}]}
ROUTES = [  # (method, path, body, scope): every route of the graph; deletions come last
    ("POST", "/v1/query", QUERY, "query"),
    ("POST", "/v1/search", QUERY, "query"),
    ("GET", "/v1/documents", None, "query"),
    ("GET", "/v1/documents/d", None, "query"),
    ("POST", "/v1/documents", DOCS, "ingest"),
    ("PUT", "/v1/documents/d", {"text": "new text"}, "ingest"),
    ("POST", "/v1/ingest/jobs", DOCS, "ingest"),
    ("GET", "/v1/ingest/jobs", None, "ingest"),
    ("GET", "/v1/ingest/jobs/{job_id}", None, "ingest"),
    ("DELETE", "/v1/ingest/jobs/{job_id}", None, "ingest"),
    ("DELETE", "/v1/documents/d", None, "ingest"),
]


def _send(client: TestClient, method: str, path: str, body, headers=None):
    """One request of :data:`ROUTES` (``{job_id}``: the client's job)."""
    url = path.format(job_id=client.job_id)
    return client.request(method, url, json=body, headers=headers)


# --- open mode ------------------------------------------------------------------------


def test_open_mode_lets_everyone_in_warns_and_never_calls_the_quota(caplog) -> None:
    quota = FakeQuota()
    with caplog.at_level(logging.WARNING):
        client = _client(None, quotas=quota)
    assert "API KEYS ARE OFF" in caplog.text and "python -m graph.keys" in caplog.text
    for method, path, body, _ in ROUTES:
        assert _send(client, method, path, body).is_success, (method, path)
    assert quota.admit.calls == [] and quota.charge.calls == []


# --- 401 ------------------------------------------------------------------------------


@pytest.mark.parametrize("method,path,body,scope", ROUTES)
def test_a_missing_key_is_a_401_with_www_authenticate(keys, method, path, body, scope) -> None:
    reply = _send(_client(keys[0]), method, path, body)
    assert reply.status_code == 401
    assert reply.headers["www-authenticate"].startswith("Bearer")
    error = reply.json()["error"]
    assert error["type"] == "authentication_error"
    assert "Authorization: Bearer <key>" in error["message"]
    assert error["param"] == "Authorization"
    assert error["request_id"] == reply.headers["x-request-id"]


def test_an_unknown_key_or_another_scheme_is_a_401(keys) -> None:
    client = _client(keys[0])
    reply = client.post("/v1/query", json=QUERY, headers=bearer(new_key()))
    assert reply.status_code == 401
    assert "unknown or revoked" in reply.json()["error"]["message"]
    reply = client.post("/v1/query", json=QUERY, headers={"Authorization": "Basic dTpw"})
    assert reply.status_code == 401
    assert "'Basic' is not supported" in reply.json()["error"]["message"]
    assert reply.headers["www-authenticate"].startswith("Bearer")
    reply = client.post("/v1/query", json=QUERY, headers={"Authorization": "Bearer"})
    assert reply.json()["error"]["message"].startswith("missing API key")


def test_a_key_is_accepted_as_bearer_or_x_api_key(keys) -> None:
    path, plain = keys
    client = _client(path)
    assert client.post("/v1/query", json=QUERY, headers=bearer(plain["reader"])).is_success
    assert client.post("/v1/query", json=QUERY, headers={"X-API-Key": plain["reader"]}).is_success
    assert client.post("/v1/query", json=QUERY, headers=bearer(plain["reader"])).json()["answer"]


def test_health_and_docs_stay_open_with_keys_on(keys) -> None:
    client = _client(keys[0])
    assert client.get("/healthz").status_code == 200
    assert client.get("/docs").status_code == 200
    schema = client.get("/openapi.json").json()
    assert {"HTTPBearer", "APIKeyHeader"} <= set(schema["components"]["securitySchemes"])


# --- 403: scopes ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key_id,scopes",
    [("reader", {"query"}), ("loader", {"ingest"}), ("root", {"query", "ingest"})],
)
def test_scopes_per_route(keys, key_id, scopes) -> None:
    """Queries and library reads need ``query``; writes and jobs ``ingest``; ``admin``
    has both."""
    path, plain = keys
    client = _client(path)
    for method, route, body, needed in ROUTES:
        reply = _send(client, method, route, body, headers=bearer(plain[key_id]))
        if needed in scopes:
            assert reply.is_success, (key_id, method, route, reply.text)
        else:
            assert reply.status_code == 403, (key_id, method, route)
            error = reply.json()["error"]
            assert error["type"] == "permission_denied"
            assert f"lacks the {needed!r} scope" in error["message"]
            assert f"'{key_id}'" in error["message"]


# --- 429: quotas ------------------------------------------------------------------------


def test_over_its_request_budget_a_key_gets_429_with_retry_after(keys) -> None:
    path, plain = keys
    quota = FakeQuota()
    client = _client(path, quotas=quota)
    for _ in range(2):
        assert client.post("/v1/query", json=QUERY, headers=bearer(plain["slow"])).is_success
    reply = client.post("/v1/query", json=QUERY, headers=bearer(plain["slow"]))
    assert reply.status_code == 429
    assert reply.headers["retry-after"] == "30"  # 2/min: one every 30 s
    error = reply.json()["error"]
    assert error["type"] == "rate_limited"
    assert "'slow'" in error["message"] and "requests_per_min=2" in error["message"]
    quota.now += 30
    assert client.post("/v1/query", json=QUERY, headers=bearer(plain["slow"])).is_success
    # Other keys have budgets of their own.
    assert client.post("/v1/query", json=QUERY, headers=bearer(plain["reader"])).is_success


def test_generated_tokens_are_charged_and_a_key_in_debt_waits(keys) -> None:
    path, plain = keys
    quota = FakeQuota()
    client = _client(path, quotas=quota, supervisor=FakeSupervisor(completion_tokens=700))
    assert client.post("/v1/query", json=QUERY, headers=bearer(plain["wordy"])).is_success
    assert quota.charge.calls == [("wordy", 700, 100, 600)]
    reply = client.post("/v1/query", json=QUERY, headers=bearer(plain["wordy"]))
    assert reply.status_code == 429
    assert reply.headers["retry-after"] == "10"  # -100 tokens at 600/min = 10 s
    quota.now += 10
    assert client.post("/v1/query", json=QUERY, headers=bearer(plain["wordy"])).is_success


def test_search_and_keys_without_token_budgets_are_not_charged(keys) -> None:
    path, plain = keys
    quota = FakeQuota()
    client = _client(path, quotas=quota, supervisor=FakeSupervisor(completion_tokens=50))
    client.post("/v1/query", json=QUERY, headers=bearer(plain["slow"]))  # no token limit
    client.post("/v1/search", json=QUERY, headers=bearer(plain["wordy"]))  # nothing generated
    assert quota.charge.calls == []


def test_an_unlimited_key_costs_no_quota_call(keys) -> None:
    path, plain = keys
    quota = FakeQuota()
    client = _client(path, quotas=quota)
    for _ in range(5):
        assert client.post("/v1/query", json=QUERY, headers=bearer(plain["free"])).is_success
    assert quota.admit.calls == []


def test_two_ingress_replicas_share_one_budget(keys) -> None:
    path, plain = keys
    quota = FakeQuota()
    replicas = [_client(path, quotas=quota), _client(path, quotas=quota)]
    codes = [
        r.post("/v1/query", json=QUERY, headers=bearer(plain["slow"])).status_code
        for r in replicas
        for _ in range(2)
    ]
    assert codes == [200, 200, 429, 429]


class _Failing:
    def __init__(self, exc: BaseException | None = None, delay_s: float = 0.0) -> None:
        async def fail(*args):
            await asyncio.sleep(delay_s)
            if exc is not None:
                raise exc
            return 0.0

        self.admit = _Method(fail)
        self.charge = _Method(fail)


@pytest.mark.parametrize(
    "quota",
    [_Failing(RayServeException("Quota is unavailable")), _Failing(delay_s=1.0)],
    ids=["unreachable", "too-slow"],
)
def test_quotas_fail_open_with_a_warning(keys, quota, caplog) -> None:
    path, plain = keys
    client = _client(
        path, quotas=quota, supervisor=FakeSupervisor(completion_tokens=5), quota_timeout_s=0.05
    )
    with caplog.at_level(logging.WARNING, logger="deployments.ingress.security.guard"):
        for _ in range(3):
            reply = client.post("/v1/query", json=QUERY, headers=bearer(plain["wordy"]))
            assert reply.status_code == 200
    warnings = [r for r in caplog.records if "Quota deployment unreachable" in r.message]
    assert len(warnings) == 1  # rate-limited: one warning, not one per request


def test_a_bug_in_the_quota_call_is_not_swallowed(keys) -> None:
    path, plain = keys
    client = _client(path, quotas=_Failing(KeyError("bug")))
    with pytest.raises(KeyError):
        client.post("/v1/query", json=QUERY, headers=bearer(plain["slow"]))


def test_the_ingress_deployment_is_bound_to_the_quota(keys) -> None:
    cfg = IngressConfig(security=SecurityConfig(api_keys=str(keys[0])))
    app = build_ingress_deployment(cfg, supervisor=None, ingester=None, quotas="quota-app")
    assert app._bound_deployment.init_args[-1] == "quota-app"


# --- the keys file ----------------------------------------------------------------------


def test_a_missing_keys_file_fails_at_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no such file; create it with `python -m graph.keys"):
        _client(tmp_path / "nope.yaml")


@pytest.mark.parametrize(
    "text,problem",
    [
        ("keys: [unclosed", "cannot be read as YAML/JSON"),
        ("keys:\n- id: a\n  sha256: abc\n  scopes: [query]\n", "keys.0.sha256"),
        ('{"keys": [{"id": "a", "sha256": "' + "0" * 64 + '", "scopes": ["root"]}]}', "scopes"),
        ("keys: []\nextra: 1\n", "extra"),
    ],
)
def test_a_malformed_keys_file_fails_at_start(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "keys.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="ingress.security.api_keys") as info:
        _client(path)
    assert problem in info.value.message


def test_a_revoked_key_stops_working_once_the_file_is_reloaded(keys) -> None:
    path, plain = keys
    client = _client(path, reload_interval_s=0)
    assert client.post("/v1/query", json=QUERY, headers=bearer(plain["reader"])).is_success
    revoke(path, "reader")
    reply = client.post("/v1/query", json=QUERY, headers=bearer(plain["reader"]))
    assert reply.status_code == 401
    path.write_text("keys: [broken")  # a bad edit keeps the last good keys
    assert client.post("/v1/query", json=QUERY, headers=bearer(plain["root"])).is_success


def test_the_file_stores_no_plain_key(keys) -> None:
    path, plain = keys
    text = path.read_text()
    assert all(key not in text for key in plain.values())
    assert oct(path.stat().st_mode & 0o777) == "0o600"


# --- 413: body size -----------------------------------------------------------------------


def test_a_declared_body_over_the_limit_is_refused_before_it_is_read(keys) -> None:
    path, plain = keys
    client = _client(path, max_body_bytes=2048)
    big = {"documents": [{"text": "x" * 4000}]}
    for headers in ({}, bearer(plain["root"])):  # before authentication, too
        reply = client.post("/v1/documents", json=big, headers=headers)
        assert reply.status_code == 413
        error = reply.json()["error"]
        assert error["type"] == "payload_too_large"
        assert "limit of 2048 bytes" in error["message"]
        assert "max_body_bytes" in error["message"]
        assert error["request_id"] == reply.headers["x-request-id"]
    small = {"documents": [{"text": "x" * 100}]}
    assert client.post("/v1/documents", json=small, headers=bearer(plain["root"])).is_success


def test_a_streamed_body_over_the_limit_is_refused_as_it_streams(keys) -> None:
    path, plain = keys
    client = _client(path, max_body_bytes=2048)

    def chunks():  # no Content-Length: chunked transfer
        yield b'{"documents": [{"text": "'
        for _ in range(100):
            yield b"x" * 512
        yield b'"}]}'

    headers = {**bearer(plain["root"]), "Content-Type": "application/json"}
    reply = client.post("/v1/documents", content=chunks(), headers=headers)
    assert reply.status_code == 413
    assert reply.json()["error"]["type"] == "payload_too_large"
    assert "limit of 2048 bytes" in reply.json()["error"]["message"]


def test_the_middleware_stops_reading_at_the_limit_and_drops_the_apps_reply() -> None:
    """At the ASGI level: the app reads a chunked body; after the chunk that crosses the
    limit it sees a disconnect, the client has its 413, and the app's reply is dropped."""

    async def app(scope, receive, send):
        try:
            await Request(scope, receive).body()
        except ClientDisconnect:
            await PlainTextResponse("app saw a disconnect", status_code=400)(scope, receive, send)
            return
        await PlainTextResponse("read it all")(scope, receive, send)

    pulled, sent = [], []

    async def receive():
        pulled.append(1)
        return {"type": "http.request", "body": b"x" * 512, "more_body": len(pulled) < 100}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/", "headers": [], "state": {}}
    asyncio.run(BodyLimitMiddleware(app, max_body_bytes=2048)(scope, receive, send))
    assert len(pulled) == 5  # 5 * 512 > 2048: not one chunk more
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    assert sent[0]["status"] == 413
    assert b"payload_too_large" in sent[1]["body"]


def test_the_default_limit_fits_the_largest_valid_ingest_request(keys) -> None:
    """256 documents at every per-field maximum, in 4-byte characters, as compact UTF-8."""
    wide = "\U0001f600"  # 4 bytes of UTF-8
    per_doc_text = MAX_REQUEST_TEXT_CHARS // 256
    meta_chars = (MAX_METADATA_BYTES - len(json.dumps({"k": ""}))) // 4
    body = {
        "documents": [
            {
                "id": f"{i:03d}" + wide * ((MAX_DOC_ID_BYTES - 3) // 4),
                "title": wide * MAX_TITLE_CHARS,
                "text": wide * per_doc_text,
                "metadata": {"k": wide * meta_chars},
            }
            for i in range(256)
        ]
    }
    DocumentsRequest.model_validate(body)  # valid
    raw = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    assert 5_000_000 < len(raw) < SecurityConfig().max_body_bytes == 8 * 1024 * 1024
    path, plain = keys
    headers = {**bearer(plain["root"]), "Content-Type": "application/json"}
    assert _client(path).post("/v1/documents", content=raw, headers=headers).status_code == 200


# --- CORS -------------------------------------------------------------------------------


def _preflight(client: TestClient, origin: str):
    return client.options(
        "/v1/query",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )


def test_cors_is_off_by_default(keys) -> None:
    client = _client(keys[0])
    reply = client.post("/v1/query", json=QUERY, headers={"Origin": "https://app.example.com"})
    assert "access-control-allow-origin" not in reply.headers
    assert _preflight(client, "https://app.example.com").status_code == 405


def test_cors_preflight_for_an_allowed_origin(keys) -> None:
    path, plain = keys
    client = _client(path, cors={"allow_origins": ["https://app.example.com"]})
    reply = _preflight(client, "https://app.example.com")
    assert reply.status_code == 200  # no key needed for a preflight
    assert reply.headers["access-control-allow-origin"] == "https://app.example.com"
    assert "authorization" in reply.headers["access-control-allow-headers"].lower()
    assert _preflight(client, "https://evil.example.com").status_code == 400
    # Errors carry CORS headers too, so browser code can read them.
    reply = client.post("/v1/query", json=QUERY, headers={"Origin": "https://app.example.com"})
    assert reply.status_code == 401
    assert reply.headers["access-control-allow-origin"] == "https://app.example.com"
    assert "retry-after" in reply.headers["access-control-expose-headers"].lower()


def test_cors_refuses_a_wildcard_with_credentials() -> None:
    with pytest.raises(ValueError, match="allow_credentials"):
        SecurityConfig(cors={"allow_origins": ["*"], "allow_credentials": True})
