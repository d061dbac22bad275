"""The command-line tools' HTTP client against a real local HTTP server."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from graph.client import ApiError, wait_ready


class _Health(BaseHTTPRequestHandler):
    replies: list[tuple[int, dict]] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        status, body = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def health() -> Iterator[tuple[str, list]]:
    replies: list[tuple[int, dict]] = []
    handler = type("Health", (_Health,), {"replies": replies})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", replies
    server.shutdown()


def test_waits_through_starting_deployments_until_ready(health) -> None:
    url, replies = health
    starting = {"status": "starting", "deployments": {"Retriever": "UPDATING"}}
    replies += [(503, starting), (503, starting), (200, {"status": "ok", "deployments": {}})]
    wait_ready(url, timeout_s=30, interval_s=0.01)
    assert len(replies) == 1  # two 503s read, then the 200


def test_a_failed_deployment_ends_the_wait_at_once_naming_it(health) -> None:
    url, replies = health
    failed = {"Retriever": "DEPLOY_FAILED", "Ingester": "DEPLOY_FAILED", "Ingress": "HEALTHY"}
    replies.append((503, {"status": "starting", "deployments": failed}))
    with pytest.raises(ApiError, match=r"deployment\(s\) Ingester, Retriever failed to start"):
        wait_ready(url, timeout_s=600, interval_s=0.01)


def test_gives_up_after_the_timeout_with_the_last_answer(health) -> None:
    url, replies = health
    replies.append((503, {"status": "starting", "deployments": {"Retriever": "UPDATING"}}))
    with pytest.raises(ApiError, match="was not ready after 0s .*UPDATING"):
        wait_ready(url, timeout_s=0.05, interval_s=0.01)
