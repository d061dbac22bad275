"""Small HTTP client of the graph's API, shared by the command-line tools."""

from __future__ import annotations

import os
import sys
import time
from typing import Any

import httpx

DEFAULT_URL = os.environ.get("RAG_URL", "http://127.0.0.1:8000")


def auth_headers(env: dict[str, str] | None = None) -> dict[str, str]:
    """``Authorization: Bearer $RAG_API_KEY`` when that variable is set (a graph with API
    keys on; `python -m graph.keys create` makes one), else nothing.

    >>> auth_headers({"RAG_API_KEY": "rag_abc"}), auth_headers({})
    ({'Authorization': 'Bearer rag_abc'}, {})
    """
    key = (os.environ if env is None else env).get("RAG_API_KEY", "").strip()
    return {"Authorization": f"Bearer {key}"} if key else {}


class ApiError(RuntimeError):
    """The service answered with an error body, or could not be reached."""


def post(url: str, path: str, body: dict[str, Any], *, timeout_s: float = 300.0) -> dict:
    """POST JSON and return the JSON reply; raise ApiError with the service's message."""
    return call("POST", url, path, body, timeout_s=timeout_s)


def call(
    method: str,
    url: str,
    path: str,
    body: dict[str, Any] | None = None,
    *,
    timeout_s: float = 300.0,
) -> dict:
    """Send one request (JSON body, if any) and return the JSON reply; raise ApiError with
    the service's message."""
    try:
        reply = httpx.request(
            method, url.rstrip("/") + path, json=body, headers=auth_headers(), timeout=timeout_s
        )
    except httpx.HTTPError as exc:
        raise ApiError(
            f"cannot reach {url}: {exc}; is the graph running (serve run serve_config.yaml)?"
        ) from exc
    data = (
        reply.json() if reply.headers.get("content-type", "").startswith("application/json") else {}
    )
    if reply.status_code >= 400:
        err = data.get("error", {}) if isinstance(data, dict) else {}
        raise ApiError(f"HTTP {reply.status_code}: {err.get('message') or reply.text[:500]}")
    return data


def wait_ready(url: str, *, timeout_s: float = 600.0, interval_s: float = 2.0) -> None:
    """Poll ``GET /healthz`` until every deployment is ready, or raise ApiError: at once
    when a deployment failed to deploy (Serve gave up on its replicas; waiting longer
    changes nothing), else after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    last = "no answer yet"
    while time.monotonic() < deadline:
        try:
            reply = httpx.get(url.rstrip("/") + "/healthz", timeout=10)
            if reply.status_code == 200:
                return
            last = reply.text[:300]
            failed = _failed_deployments(reply)
            if failed:
                raise ApiError(
                    f"{url}: deployment(s) {', '.join(failed)} failed to start (Serve gave "
                    "up retrying them); their error is in the `serve run` output or the Ray "
                    "dashboard (`serve status` shows it too)"
                )
        except httpx.HTTPError as exc:
            last = str(exc)
        time.sleep(interval_s)
    raise ApiError(f"{url} was not ready after {timeout_s:.0f}s (last: {last})")


def _failed_deployments(reply: httpx.Response) -> list[str]:
    """The deployments ``/healthz`` reports as DEPLOY_FAILED."""
    try:
        statuses = reply.json().get("deployments")
    except (ValueError, AttributeError):  # not JSON, or not an object
        return []
    if not isinstance(statuses, dict):
        return []
    return sorted(name for name, status in statuses.items() if status == "DEPLOY_FAILED")


def die(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(1)
