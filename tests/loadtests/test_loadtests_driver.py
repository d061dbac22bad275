"""The closed-loop HTTP driver against a small ASGI app (no network, no Ray)."""

from __future__ import annotations

import asyncio

import httpx
from fastapi import FastAPI
from fastapi.responses import JSONResponse

from loadtests.driver import drive


def _app() -> tuple[FastAPI, dict]:
    app = FastAPI()
    seen = {"queries": [], "in_flight": 0, "max_in_flight": 0}

    @app.post("/v1/query")
    async def query(body: dict):
        seen["queries"].append(body["query"])
        seen["in_flight"] += 1
        seen["max_in_flight"] = max(seen["max_in_flight"], seen["in_flight"])
        await asyncio.sleep(0.01)
        seen["in_flight"] -= 1
        if body["query"] == "bad":
            return JSONResponse({"error": {"message": "no"}}, status_code=400)
        return {"timings_ms": {"retrieve": 2.0, "total": 5.0}}

    return app, seen


def test_every_query_is_sent_once_with_the_requested_concurrency() -> None:
    app, seen = _app()
    queries = [f"q{i}" for i in range(12)] + ["bad"]
    result = asyncio.run(
        drive(
            "http://bench",
            "/v1/query",
            queries,
            clients=4,
            top_k=3,
            transport=httpx.ASGITransport(app=app),
        )
    )
    assert sorted(seen["queries"]) == sorted(queries)
    assert seen["max_in_flight"] == 4
    assert (result["requests"], result["errors"], result["clients"]) == (12, 1, 4)
    assert result["error_samples"][0].startswith("HTTP 400")
    assert result["stages_ms"] == {"retrieve": 2.0, "total": 5.0}
    assert result["rps"] > 0 and result["p50_ms"] <= result["p95_ms"] <= result["p99_ms"]
