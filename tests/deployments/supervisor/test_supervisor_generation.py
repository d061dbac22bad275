"""GeneratorClient over fake handles (no Ray)."""

from __future__ import annotations

import asyncio
import sys
import types
from dataclasses import dataclass

import pytest

from deployments.common.prompt import build_messages, fit_passages
from deployments.common.sse import sse_event
from deployments.errors import InvalidRequestError, StageUnavailableError
from deployments.generator.config import GeneratorConfig
from deployments.supervisor.generation import GeneratorClient
from deployments.types import Delta, Generation, Hit, Sampling

HITS = (Hit("c1", "d1", "T", "Milvus stores vectors.", 0.9),)


class _Method:
    """``handle.<method>`` with a ``.remote(...)`` that records its arguments."""

    def __init__(self, result) -> None:
        self._result = result
        self.calls: list[tuple] = []

    def remote(self, *args):
        self.calls.append(args)
        return self._result(*args)


class ExtractiveStage:
    """An in-process extractive generator (a handle is wrapped the same way, by as_client)."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    async def generate(self, query, hits):
        self.calls.append((query, hits))
        return Generation(answer=f"{query} -> {len(hits)}", generator="extractive")


def test_extractive_kind_forwards_query_and_hits() -> None:
    stage = ExtractiveStage()
    client = GeneratorClient(stage, GeneratorConfig(mode="extractive"), "extractive")

    out = asyncio.run(client.generate("Where are vectors?", HITS))

    assert out == Generation(answer="Where are vectors? -> 1", generator="extractive")
    assert stage.calls == [("Where are vectors?", list(HITS))]
    assert isinstance(stage.calls[0][1], list)  # picklable list, not a tuple view


# -- vLLM kind ----------------------------------------------------------------------------
# ``ray.serve.llm.openai_api_models`` imports vLLM (~15 s on this machine); these tests
# replace it with the two classes the client uses. The e2e tests run the real ones.


@dataclass
class FakeChatRequest:
    model: str
    messages: list
    max_tokens: int
    temperature: float
    ignore_eos: bool
    stream: bool
    top_p: float | None = None
    stop: list | None = None
    stream_options: dict | None = None


class FakeErrorResponse:
    def __init__(self, message: str, code: int = 500) -> None:
        self.error = types.SimpleNamespace(message=message, code=code, param=None)


def _response(content: str | None, completion_tokens: int | None = 7):
    usage = (
        None
        if completion_tokens is None
        else types.SimpleNamespace(completion_tokens=completion_tokens, prompt_tokens=40)
    )
    message = types.SimpleNamespace(content=content)
    choice = types.SimpleNamespace(message=message, finish_reason="stop")
    return types.SimpleNamespace(choices=[choice], usage=usage)


class Stream:
    """A ``DeploymentResponseGenerator`` stand-in: async-iterable and cancellable."""

    def __init__(self, gen) -> None:
        self._gen, self.cancelled = gen, False

    def __aiter__(self):
        return self

    async def __anext__(self):
        return await self._gen.__anext__()

    def cancel(self) -> None:
        self.cancelled = True


class ChatHandle:
    """``handle.options(stream=True).chat.remote(request, None)`` yielding ``items``."""

    def __init__(self, items, *, hang: bool = False) -> None:
        self.items, self.hang, self.then_hang = items, hang, False
        self.options_seen: list[dict] = []
        self.requests: list = []
        self.streams: list[Stream] = []
        self.chat = self  # options(...) returns self, so .chat.remote is self.remote

    def options(self, **kwargs):
        self.options_seen.append(kwargs)
        return self

    def remote(self, request, raw_request):
        assert raw_request is None
        self.requests.append(request)
        self.streams.append(Stream(self._stream()))
        return self.streams[-1]

    async def _stream(self):
        if self.hang:
            await asyncio.Event().wait()
        for item in self.items:
            yield item
        if self.then_hang:
            await asyncio.Event().wait()


@pytest.fixture
def fake_openai_models(monkeypatch: pytest.MonkeyPatch) -> None:
    module = types.ModuleType("ray.serve.llm.openai_api_models")
    module.ChatCompletionRequest = FakeChatRequest
    module.ErrorResponse = FakeErrorResponse
    monkeypatch.setitem(sys.modules, "ray.serve.llm.openai_api_models", module)


def _vllm_client(handle, **cfg) -> GeneratorClient:
    return GeneratorClient(handle, GeneratorConfig(model="/models/Qwen2.5-0.5B/", **cfg), "vllm")


def test_vllm_kind_sends_a_grounded_chat_request(fake_openai_models) -> None:
    handle = ChatHandle([_response("  Milvus. [1]  ", 5)])
    client = _vllm_client(
        handle, max_tokens=64, temperature=0.2, max_passage_chars=60, ignore_eos=True
    )

    out = asyncio.run(client.generate("Where are vectors?", HITS))

    assert out == Generation("Milvus. [1]", "vllm", "Qwen2.5-0.5B", 5, prompt_tokens=40)
    assert handle.options_seen == [{"stream": True}]
    (req,) = handle.requests
    assert (req.model, req.max_tokens, req.temperature, req.ignore_eos, req.stream) == (
        "Qwen2.5-0.5B",
        64,
        0.2,
        True,
        False,
    )
    assert req.messages == build_messages("Where are vectors?", HITS, max_chars=60)


def test_vllm_missing_content_and_usage(fake_openai_models) -> None:
    out = asyncio.run(_vllm_client(ChatHandle([_response(None, None)])).generate("q", HITS))
    assert (out.answer, out.completion_tokens) == ("", None)


@pytest.mark.parametrize(
    ("items", "match"),
    [
        ([FakeErrorResponse("out of KV cache")], "the LLM failed: out of KV cache"),
        ([], "no response"),
    ],
)
def test_vllm_errors_become_stage_unavailable(fake_openai_models, items, match: str) -> None:
    with pytest.raises(StageUnavailableError, match=match) as info:
        asyncio.run(_vllm_client(ChatHandle(items)).generate("q", HITS))
    assert info.value.status_code == 503


def test_a_request_vllm_refuses_is_the_clients_400(fake_openai_models) -> None:
    refusal = FakeErrorResponse("stop strings must not be empty", code=400)
    with pytest.raises(InvalidRequestError, match="the LLM refused the request: stop"):
        asyncio.run(_vllm_client(ChatHandle([refusal])).generate("q", HITS))
    with pytest.raises(InvalidRequestError):
        asyncio.run(_collect(_vllm_client(ChatHandle([refusal])).stream("q", HITS)))


def test_vllm_timeout_names_the_setting(fake_openai_models) -> None:
    handle = ChatHandle([], hang=True)
    client = _vllm_client(handle, request_timeout_s=0.01)
    with pytest.raises(StageUnavailableError, match="generator.request_timeout_s=0.01s"):
        asyncio.run(client.generate("q", HITS))
    assert handle.streams[0].cancelled  # the Serve request is cancelled: vLLM aborts it


def test_vllm_prompt_keeps_within_the_models_context(fake_openai_models) -> None:
    hits = tuple(Hit(f"c{i}", f"d{i}", "", "vector " * 100, 1.0 - i / 10) for i in range(8))
    handle = ChatHandle([_response("ok [1]", 2)])
    cfg = GeneratorConfig(
        model="/models/Qwen2.5-0.5B/", max_tokens=64, engine_kwargs={"max_model_len": 1024}
    ).generation()
    assert cfg.max_prompt_tokens == 1024 - 64 - 64

    asyncio.run(GeneratorClient(handle, cfg, "vllm").generate("Where are vectors?", hits))

    (req,) = handle.requests
    kept = fit_passages("Where are vectors?", hits, max_chars=1500, max_prompt_tokens=896)
    assert 1 <= len(kept) < len(hits)
    assert req.messages == build_messages("Where are vectors?", kept, max_chars=1500)


# -- streaming ---------------------------------------------------------------------------


def _chunk(content: str | None = None, finish: str | None = None) -> str:
    delta = {} if content is None else {"content": content}
    return sse_event({"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})


async def _collect(stream) -> list:
    return [piece async for piece in stream]


def test_vllm_stream_yields_each_piece_as_it_arrives_then_the_whole(fake_openai_models) -> None:
    usage = sse_event({"choices": [], "usage": {"completion_tokens": 3, "prompt_tokens": 40}})
    # The LLMServer's batcher sends lists of SSE strings; the last list ends the stream.
    handle = ChatHandle(
        [[_chunk("Mil")], [_chunk("vus"), _chunk(" [1]")], [_chunk(None, "length"), usage]]
    )
    client = _vllm_client(handle, max_tokens=64)

    pieces = asyncio.run(_collect(client.stream("q", HITS, Sampling(max_tokens=8, top_p=0.5))))

    assert pieces[:3] == [Delta("Mil"), Delta("vus"), Delta(" [1]")]
    assert pieces[3] == Generation("Milvus [1]", "vllm", "Qwen2.5-0.5B", 3, 40, "length")
    (req,) = handle.requests
    assert (req.stream, req.max_tokens, req.top_p) == (True, 8, 0.5)
    assert req.stream_options == {"include_usage": True}


def test_vllm_stream_error_mid_answer_is_stage_unavailable(fake_openai_models) -> None:
    failure = sse_event({"error": {"message": "engine died"}})
    handle = ChatHandle([[_chunk("Mil")], [failure]])
    with pytest.raises(StageUnavailableError, match="engine died"):
        asyncio.run(_collect(_vllm_client(handle).stream("q", HITS)))


def test_vllm_stream_stopped_early_cancels_the_generation(fake_openai_models) -> None:
    handle = ChatHandle([[_chunk("a")]])
    handle.then_hang = True  # the LLM is still writing when the reader leaves

    async def first_only() -> None:
        stream = _vllm_client(handle).stream("q", HITS)
        assert await stream.__anext__() == Delta("a")
        await stream.aclose()
        await asyncio.sleep(0)

    asyncio.run(first_only())
    assert handle.streams[0].cancelled


def test_vllm_stream_timeout_names_the_setting(fake_openai_models) -> None:
    handle = ChatHandle([], hang=True)
    client = _vllm_client(handle, request_timeout_s=0.01)
    with pytest.raises(StageUnavailableError, match="generator.request_timeout_s=0.01s"):
        asyncio.run(_collect(client.stream("q", HITS)))
    assert handle.streams[0].cancelled


def test_max_tokens_is_capped_at_the_graphs_limit(fake_openai_models) -> None:
    handle = ChatHandle([_response("x"), _response("y")])
    client = _vllm_client(handle, max_tokens=64)
    asyncio.run(client.generate("q", HITS, Sampling(max_tokens=65)))
    asyncio.run(client.generate("q", HITS, Sampling(max_tokens=8)))
    assert [r.max_tokens for r in handle.requests] == [64, 8]


class StreamingExtractive:
    """``handle.options(stream=True).stream.remote(query, hits)`` over the real deployment
    class's pieces."""

    def __init__(self, pieces: list[str]) -> None:
        self.pieces = pieces
        self.stream = self

    def options(self, **kwargs):
        assert kwargs == {"stream": True}
        return self

    def remote(self, query, hits):
        async def gen():
            for p in self.pieces:
                yield p

        return Stream(gen())


def test_extractive_stream_pieces_join_to_the_answer() -> None:
    client = GeneratorClient(
        StreamingExtractive(["A. [1]", " B. [2]"]), GeneratorConfig(), "extractive"
    )
    pieces = asyncio.run(_collect(client.stream("q", HITS)))
    assert pieces == [
        Delta("A. [1]"),
        Delta(" B. [2]"),
        Generation("A. [1] B. [2]", "extractive"),
    ]
