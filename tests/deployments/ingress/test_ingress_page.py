"""The chat page's files as the ingress serves them: the page at ``/``, its assets under
``/static/`` with their content types, nothing in the OpenAPI document, 404 for the rest."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from deployments.ingress.page import STATIC_DIR, install_page


@pytest.fixture(scope="module")
def client() -> TestClient:
    api = FastAPI()
    install_page(api)
    return TestClient(api)


def test_the_root_serves_the_chat_page(client):
    reply = client.get("/")
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "text/html; charset=utf-8"
    assert reply.text == (STATIC_DIR / "index.html").read_text()
    for element in ('id="question"', 'id="ask"', 'id="passage"', 'id="doc-add"'):
        assert element in reply.text
    policy = reply.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "connect-src 'self'" in policy


def test_the_page_loads_only_local_files(client):
    html = client.get("/").text
    urls = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sorted(urls) == ["#question", "data:,", "static/chat.css", "static/chat.js"]
    for asset in ("chat.js", "chat.css"):
        text = (STATIC_DIR / asset).read_text()
        assert not re.search(r"https?://|//cdn|@import", text), asset


@pytest.mark.parametrize(
    ("path", "types"),
    [
        ("/static/chat.js", ("text/javascript", "application/javascript")),
        ("/static/chat.css", ("text/css",)),
        ("/static/index.html", ("text/html",)),
    ],
)
def test_assets_are_served_with_their_content_type(client, path, types):
    reply = client.get(path)
    assert reply.status_code == 200
    assert reply.headers["content-type"].split(";")[0] in types
    assert reply.content == (STATIC_DIR / path.removeprefix("/static/")).read_bytes()


@pytest.mark.parametrize(
    "path", ["/static/missing.js", "/static/%2e%2e/page.py", "/static/", "/nothing-here"]
)
def test_a_missing_asset_is_404(client, path):
    assert client.get(path).status_code == 404


def test_the_page_is_not_in_the_openapi_document(client):
    paths = client.get("/openapi.json").json().get("paths", {})
    assert not [p for p in paths if p == "/" or p.startswith("/static")]


def test_only_get_serves_the_page(client):
    assert client.post("/").status_code == 405
