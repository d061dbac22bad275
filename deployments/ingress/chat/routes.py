"""``POST /v1/chat/completions`` and ``GET /v1/models``: the graph behind OpenAI's API.

A chat request is a query in a conversation: the last user message is the question, the
earlier turns let the rewriter make it standalone. It is admitted, degraded or shed like
``/v1/query`` (same books: same work), and answers in OpenAI's shapes, with the cited
passages as the ``citations`` extension. Streamed, the answer's pieces flow Generator ->
Supervisor -> Ingress over Serve streaming handles and leave as server-sent events as they
arrive; a client that goes away cancels the generation.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse, StreamingResponse

from deployments.common.sse import DONE, sse_event
from deployments.errors import NotFoundError
from deployments.ingress.chat.replies import ChunkWriter, completion, conversation, sampling
from deployments.ingress.chat.schemas import (
    SSE_EVENT_SCHEMA,
    ChatCompletion,
    ChatCompletionRequest,
    ModelList,
)
from deployments.ingress.config import ChatConfig
from deployments.ingress.context import request_id
from deployments.ingress.errors import error_content, error_response
from deployments.ingress.forward import DEADLINE_HEADER, forward, forward_stream
from deployments.ingress.routes import Backends, account_tokens, backends
from deployments.metrics import record_first_token
from deployments.types import Answer, Delta

chat = APIRouter(tags=["chat"])
BackendsDep = Annotated[Backends, Depends(backends)]
Timeout = Annotated[str | None, Header(alias=DEADLINE_HEADER, description="As on /v1/query.")]
OWNER = "rag-serve"
_STARTED = int(time.time())
_SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def _config(request: Request) -> ChatConfig:
    return request.app.state.config.chat


@chat.get("/v1/models", response_model=ModelList)
async def models(request: Request) -> ModelList:
    """What this graph serves: one model, the whole graph (retrieval and generation)."""
    model = {"id": _config(request).model_id, "created": _STARTED, "owned_by": OWNER}
    return ModelList(data=[model])


@chat.post(
    "/v1/chat/completions",
    response_model=ChatCompletion,
    responses={
        200: {
            "description": "The answer: JSON, or with `stream` server-sent events, each "
            "`data: <ChatCompletionChunk>`, ending with `data: [DONE]`.",
            "content": {"text/event-stream": {"schema": SSE_EVENT_SCHEMA}},
        }
    },
)
async def chat_completions(
    body: ChatCompletionRequest,
    request: Request,
    to: BackendsDep,
    _timeout: Timeout = None,
) -> Any:
    """OpenAI's chat completion over the graph: the answer cites its passages (`[n]` in
    the text is `citations[n-1]`)."""
    rid = request_id(request)
    cfg = _config(request)
    try:
        if body.model != cfg.model_id:
            raise NotFoundError(
                f"model {body.model[:80]!r} is not served here; use {cfg.model_id!r} "
                "(GET /v1/models lists it)",
                param="model",
            )
        history, question = conversation(body.messages)
        top_k, asks = body.top_k or cfg.top_k, sampling(body)
        if not body.stream:
            answer: Answer = await forward(
                request,
                "query",
                lambda deadline, plan: to.supervisor.answer.remote(
                    question, top_k, deadline, plan, history, asks, body.where
                ),
            )
        else:
            stream = await forward_stream(
                request,
                "query",
                lambda deadline, plan: to.supervisor.options(stream=True).answer_stream.remote(
                    question, top_k, deadline, plan, history, asks, body.where
                ),
            )
    except Exception as exc:  # noqa: BLE001 - every failure becomes the error body
        return error_response(exc, request_id=rid)
    writer_id, created = f"chatcmpl-{rid}", int(time.time())
    if not body.stream:
        await account_tokens(request, "chat", answer)
        return JSONResponse(
            completion(answer, completion_id=writer_id, created=created, model=cfg.model_id)
        )
    usage = bool(body.stream_options and body.stream_options.include_usage)
    events = _events(request, stream, ChunkWriter(writer_id, created, cfg.model_id), usage)
    return StreamingResponse(events, media_type="text/event-stream", headers=_SSE_HEADERS)


async def _events(
    request: Request, stream: AsyncIterator[Any], writer: ChunkWriter, include_usage: bool
) -> AsyncIterator[str]:
    """The server-sent events of one answer: who speaks, each piece, the end with the
    citations (and the usage if asked), ``[DONE]``; a failure mid-way is an error event."""
    started = time.perf_counter()
    first = True
    answer: Answer | None = None
    try:
        yield sse_event(writer.role())
        async for item in stream:
            if isinstance(item, Delta):
                if first:
                    record_first_token("chat", time.perf_counter() - started)
                    first = False
                yield sse_event(writer.delta(item.text))
            elif isinstance(item, Answer):
                answer = item
        if answer is None:
            raise RuntimeError("the supervisor's stream ended without its answer")
        yield sse_event(writer.last(answer))
        if include_usage:
            yield sse_event(writer.usage(answer))
        await account_tokens(request, "chat", answer)
        yield sse_event(DONE)
    except Exception as exc:  # noqa: BLE001 - the status is sent: the error is an event
        yield sse_event(error_content(exc, request_id(request))[1])
    finally:
        await stream.aclose()  # type: ignore[attr-defined]
