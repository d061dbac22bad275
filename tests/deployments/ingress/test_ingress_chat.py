"""The OpenAI-compatible routes over fake stages, driven by the real ``openai`` SDK (its
HTTP client is Starlette's TestClient, so no server runs)."""

from __future__ import annotations

import asyncio
from typing import Any

import openai
import pytest
from fastapi.testclient import TestClient

from deployments.common.sse import sse_payloads
from deployments.errors import OverloadedError, StageUnavailableError
from deployments.ingress.chat.replies import ChunkWriter
from deployments.ingress.chat.routes import _events
from deployments.types import Answer, Delta, Sampling
from tests.deployments.ingress.fakes import HIT, FakeMethod, FakeStream, fake_api

ANSWER = Answer(
    "Milvus stores vectors [1].",
    [HIT],
    "vllm",
    "simple",
    {"total": 5.0},
    usage={"prompt_tokens": 40, "completion_tokens": 6},
)


class StreamingSupervisor:
    """``answer.remote(...)`` and ``options(stream=True).answer_stream.remote(...)``."""

    def __init__(self, items: list[Any] | None = None, answer: Answer = ANSWER) -> None:
        self.items = items if items is not None else [*map(Delta, ["Milvus ", "stores "]), answer]
        self.answer = FakeMethod(lambda *args: answer)
        self.answer_stream = self
        self.stream_calls: list[tuple] = []
        self.streams: list[FakeStream] = []

    def options(self, **kwargs: Any) -> StreamingSupervisor:
        assert kwargs == {"stream": True}
        return self

    def remote(self, *args: Any) -> FakeStream:
        self.stream_calls.append(args)
        self.streams.append(FakeStream(self.items))
        return self.streams[-1]


def sdk(supervisor: Any, app: Any = None) -> openai.OpenAI:
    client = TestClient(app or fake_api(supervisor=supervisor))
    return openai.OpenAI(
        base_url="http://testserver/v1", api_key="unused", http_client=client, max_retries=0
    )


CONVERSATION = [
    {"role": "system", "content": "Answer briefly."},
    {"role": "user", "content": "What stores vectors?"},
    {"role": "assistant", "content": "Milvus [1]."},
    {"role": "user", "content": "And what does it index?"},
]


def test_models_lists_the_graph() -> None:
    (model,) = sdk(StreamingSupervisor()).models.list().data
    assert (model.id, model.object, model.owned_by) == ("rag", "model", "rag-serve")


def test_a_whole_answer_in_openais_shape_with_citations() -> None:
    supervisor = StreamingSupervisor()
    out = sdk(supervisor).chat.completions.create(
        model="rag", messages=CONVERSATION, max_tokens=32, temperature=0.3, stop="\n\n"
    )
    assert out.object == "chat.completion" and out.id.startswith("chatcmpl-")
    assert out.choices[0].message.content == "Milvus stores vectors [1]."
    assert out.choices[0].finish_reason == "stop"
    assert (out.usage.prompt_tokens, out.usage.completion_tokens, out.usage.total_tokens) == (
        40,
        6,
        46,
    )
    (citation,) = out.model_extra["citations"]
    assert (citation["doc_id"], citation["text"]) == (HIT.doc_id, HIT.text)
    ((question, top_k, _deadline, _plan, history, asks, where),) = supervisor.answer.calls
    assert (question, top_k) == ("And what does it index?", 5)
    assert history == (
        ("system", "Answer briefly."),
        ("user", "What stores vectors?"),
        ("assistant", "Milvus [1]."),
    )
    assert asks == Sampling(max_tokens=32, temperature=0.3, stop=("\n\n",))
    assert where is None  # no filter asked for


def test_a_filter_in_extra_body_reaches_the_supervisor_as_an_expression() -> None:
    supervisor = StreamingSupervisor()
    sdk(supervisor).chat.completions.create(
        model="rag", messages=CONVERSATION, extra_body={"filter": {"source": "a.md"}}
    )
    ((*_, where),) = supervisor.answer.calls
    assert where == 'metadata["source"] == "a.md"'


def test_a_bad_filter_is_a_400_naming_it() -> None:
    supervisor = StreamingSupervisor()
    client = TestClient(fake_api(supervisor=supervisor))
    body = {"model": "rag", "messages": CONVERSATION, "filter": {"year": {"$gt": True}}}
    reply = client.post("/v1/chat/completions", json=body)
    assert reply.status_code == 400
    assert reply.json()["error"]["param"].startswith("filter")
    assert supervisor.answer.calls == []


def test_a_streamed_answer_arrives_piece_by_piece_and_ends_with_citations() -> None:
    supervisor = StreamingSupervisor()
    app = fake_api(supervisor=supervisor)
    chunks = list(
        sdk(supervisor, app).chat.completions.create(
            model="rag",
            messages=CONVERSATION,
            stream=True,
            stream_options={"include_usage": True},
            extra_body={"top_k": 3},
        )
    )
    assert chunks[0].choices[0].delta.role == "assistant"
    texts = [c.choices[0].delta.content for c in chunks[1:3]]
    assert texts == ["Milvus ", "stores "]
    last, usage = chunks[3], chunks[4]
    assert last.choices[0].finish_reason == "stop"
    assert last.model_extra["citations"][0]["chunk_id"] == HIT.chunk_id
    assert usage.choices == [] and usage.usage.completion_tokens == 6
    assert len({c.id for c in chunks}) == 1
    assert supervisor.stream_calls[0][1] == 3  # the top_k extension
    books = app.state.admission
    assert books.in_flight == 0 and books.demand("query", books.plans[0]) > 0  # measured


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({"model": "gpt-4o"}, 404, "model"),
        ({"messages": [{"role": "assistant", "content": "hi"}]}, 400, "messages"),
        ({"messages": [{"role": "user", "content": " \u200b "}]}, 400, "messages"),
        ({"tools": [{"type": "function", "function": {"name": "f"}}]}, 400, None),
        ({"n": 2}, 400, "n"),
        ({"max_tokens": 0}, 400, "max_tokens"),
        ({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}, 400, None),
        ({"logit_bias": {"1": 2}}, 400, "logit_bias"),
    ],
)
def test_bad_requests_are_openai_style_errors_naming_the_parameter(
    body: dict, status: int, param: str | None
) -> None:
    request = {"model": "rag", "messages": [{"role": "user", "content": "q?"}], **body}
    reply = TestClient(fake_api(supervisor=StreamingSupervisor())).post(
        "/v1/chat/completions", json=request
    )
    assert reply.status_code == status, reply.text
    error = reply.json()["error"]
    assert set(error) >= {"message", "type", "param", "code"}
    if param is not None:
        assert (error["param"] or "").startswith(param)


def test_the_sdk_raises_its_own_errors() -> None:
    client = sdk(StreamingSupervisor())
    with pytest.raises(openai.NotFoundError, match="use 'rag'"):
        client.chat.completions.create(model="gpt-4o", messages=CONVERSATION)


def test_a_failure_before_the_first_piece_is_the_replys_status() -> None:
    supervisor = StreamingSupervisor([OverloadedError("busy", retry_after_s=3)])
    reply = TestClient(fake_api(supervisor=supervisor)).post(
        "/v1/chat/completions",
        json={"model": "rag", "messages": CONVERSATION, "stream": True},
    )
    assert reply.status_code == 503 and reply.headers["Retry-After"] == "3"
    assert reply.json()["error"]["type"] == "overloaded"


def test_a_failure_mid_stream_is_an_error_event_the_sdk_raises() -> None:
    supervisor = StreamingSupervisor([Delta("Mil"), StageUnavailableError("the LLM died")])
    stream = sdk(supervisor).chat.completions.create(
        model="rag", messages=CONVERSATION, stream=True
    )
    with pytest.raises(openai.APIError, match="the LLM died"):
        list(stream)
    assert supervisor.streams[0].cancelled  # the graph's stream is stopped


def test_a_client_that_leaves_cancels_the_graphs_stream() -> None:
    source = FakeStream([Delta("a"), Delta("b"), ANSWER])

    async def read_one_then_leave() -> str:
        async def items():
            try:
                async for item in source:
                    yield item
            finally:
                source.cancel()

        class Req:  # what _events reads of the request
            state = type("S", (), {"request_id": "r1"})()
            app = type("A", (), {"state": type("S", (), {})()})()
            headers: dict = {}

        events = _events(Req(), items(), ChunkWriter("c1", 1, "rag"), False)
        first = await events.__anext__()
        await events.__anext__()  # the first piece
        await events.aclose()  # the client went away
        return first

    first = asyncio.run(read_one_then_leave())
    assert next(sse_payloads(first))["choices"][0]["delta"]["role"] == "assistant"
    assert source.cancelled
