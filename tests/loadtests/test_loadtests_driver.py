"""The closed-loop HTTP drivers against small ASGI apps (no network, no Ray)."""

from __future__ import annotations

import asyncio

import httpx
from fastapi import FastAPI
from fastapi.responses import JSONResponse, StreamingResponse

from deployments.common.sse import DONE, sse_event
from loadtests.driver import drive, drive_stream


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


class _StreamingASGITransport(httpx.AsyncBaseTransport):
    """Calls an ASGI app in process and hands over each body message as the app sends it,
    as a socket would (``httpx.ASGITransport`` hands over the body only once the app has
    finished, so every chunk would seem to arrive at once)."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.4"},
            "http_version": "1.1",
            "method": request.method,
            "scheme": request.url.scheme,
            "path": request.url.path,
            "raw_path": request.url.raw_path.split(b"?")[0],
            "query_string": request.url.query,
            "root_path": "",
            "headers": [(k.lower(), v) for k, v in request.headers.raw],
            "server": (request.url.host, request.url.port or 80),
            "client": ("127.0.0.1", 50000),
        }
        received = False
        started: asyncio.Future = asyncio.get_running_loop().create_future()
        chunks: asyncio.Queue[bytes | None] = asyncio.Queue()

        async def receive() -> dict:
            nonlocal received
            if received:
                await asyncio.Event().wait()  # no disconnect: the stream is read to its end
            received = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict) -> None:
            if message["type"] == "http.response.start":
                started.set_result(message)
            elif message["type"] == "http.response.body":
                chunks.put_nowait(message.get("body", b""))
                if not message.get("more_body", False):
                    chunks.put_nowait(None)

        task = asyncio.create_task(self.app(scope, receive, send))
        await asyncio.wait({started, task}, return_when=asyncio.FIRST_COMPLETED)
        if not started.done():
            task.result()  # the app's own failure
            raise AssertionError("the app ended without a response")

        class Body(httpx.AsyncByteStream):
            async def __aiter__(self):
                while (chunk := await chunks.get()) is not None:
                    yield chunk

            async def aclose(self) -> None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

        start = started.result()
        return httpx.Response(start["status"], headers=start["headers"], stream=Body())


PIECES = 4


def _chunk(delta: dict, finish: str | None = None, **extra) -> str:
    choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
    return sse_event(
        {"id": "chatcmpl-1", "object": "chat.completion.chunk", "choices": [choice]} | extra
    )


def _chat_app() -> tuple[FastAPI, dict]:
    """A chat completions route streaming ``PIECES`` pieces with pauses; the query picks a
    failure: ``bad`` (400), ``busy`` (503 overloaded), ``boom`` (an error event mid-way),
    ``cut`` (no ``[DONE]``), ``junk`` (an event that is not JSON), ``degraded``."""
    app = FastAPI()
    seen = {"bodies": [], "in_flight": 0, "max_in_flight": 0}

    @app.post("/v1/chat/completions")
    async def chat(body: dict):
        seen["bodies"].append(body)
        query = body["messages"][-1]["content"]
        if query == "bad":
            return JSONResponse({"error": {"message": "no", "param": "top_k"}}, status_code=400)
        if query == "busy":
            return JSONResponse({"error": {"type": "overloaded"}}, status_code=503)

        async def events():
            seen["in_flight"] += 1
            seen["max_in_flight"] = max(seen["max_in_flight"], seen["in_flight"])
            try:
                yield _chunk({"role": "assistant", "content": ""})
                await asyncio.sleep(0.03)  # retrieval and prefill
                for i in range(PIECES):
                    if i:
                        await asyncio.sleep(0.01)  # one decode step
                    yield _chunk({"content": f"w{i} "})
                    if query == "boom":
                        yield sse_event({"error": {"message": "engine died", "type": "x"}})
                        return
                    if query == "junk":
                        yield "data: {not json\n\n"
                if query == "cut":
                    return
                degraded = ["generate"] if query == "degraded" else []
                yield _chunk({}, "length", citations=[], degraded=degraded)
                yield sse_event(
                    {"id": "chatcmpl-1", "choices": [], "usage": {"completion_tokens": PIECES}}
                )
                yield sse_event(DONE)
            finally:
                seen["in_flight"] -= 1

        return StreamingResponse(events(), media_type="text/event-stream")

    return app, seen


def _stream(app: FastAPI, queries: list[str], clients: int) -> dict:
    return asyncio.run(
        drive_stream(
            "http://bench",
            queries,
            clients=clients,
            top_k=3,
            transport=_StreamingASGITransport(app),
        )
    )


def test_stream_times_the_first_token_and_the_gaps_after_it() -> None:
    app, seen = _chat_app()
    result = _stream(app, [f"q{i}" for i in range(6)], clients=3)
    assert (result["requests"], result["errors"], result["clients"]) == (6, 0, 3)
    assert seen["max_in_flight"] == 3
    assert result["chunks_per_answer"] == PIECES and result["tokens_per_answer"] == PIECES
    assert result["outcomes"] == {"full": 6, "degraded": 0, "shed": 0}
    ttft, itl = result["ttft_ms"], result["itl_ms"]
    # Only orderings: the first token comes after the opening pause, before the end, and
    # the three gaps after it fill the time between.
    assert 0 < ttft["p50"] <= ttft["p95"] < result["p95_ms"]
    assert 0 < itl["p50"] <= itl["p95"]
    # The last piece comes before the end (1 ms for the rounding to 0.1 ms of each term).
    assert ttft["mean"] + (PIECES - 1) * itl["mean"] <= result["mean_ms"] + 1.0
    body = seen["bodies"][0]
    assert body == {
        "model": "rag",
        "messages": [{"role": "user", "content": body["messages"][0]["content"]}],
        "stream": True,
        "stream_options": {"include_usage": True},
        "top_k": 3,
    }


def test_stream_failures_are_errors_and_shed_ones_are_counted() -> None:
    app, _ = _chat_app()
    failing = ["bad", "busy", "boom", "cut", "junk"]
    result = _stream(app, ["q0", "degraded", *failing], clients=2)
    assert (result["requests"], result["errors"]) == (2, 5)
    assert result["outcomes"] == {"full": 1, "degraded": 1, "shed": 1}
    samples = sorted(result["error_samples"])
    assert samples[0].startswith("HTTP 400") and samples[1].startswith("HTTP 503")
    assert any(s.startswith("error event:") and "engine died" in s for s in samples)
    assert "the stream ended without [DONE]" in samples
    assert any(s.startswith("JSONDecodeError") for s in samples)


def test_a_stream_with_no_success_has_no_latencies() -> None:
    app, _ = _chat_app()
    result = _stream(app, ["bad"], clients=1)
    assert result["requests"] == 0 and result["errors"] == 1
    assert result["ttft_ms"] == result["itl_ms"] == {"p50": None, "p95": None, "mean": None}
    assert result["chunks_per_answer"] is None and result["tokens_per_answer"] is None
