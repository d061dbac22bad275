"""The OpenAI-compatible API against the real graph, through the clients users point at
it, unchanged: the ``openai`` SDK (sync, async, streaming), LangChain's ``ChatOpenAI`` and
LlamaIndex's ``OpenAILike``. The graph's vLLM engine runs a tiny random-weight model, so
the answers' words mean nothing; what is checked is the contract: shapes, streaming piece
by piece, citations, conversations."""

from __future__ import annotations

import asyncio
import time

import httpx
import openai
import pytest

from tests.e2e.test_graph_e2e import DOCS

pytestmark = pytest.mark.e2e
MODEL = "rag"
QUESTION = [{"role": "user", "content": "What causes the tides of the sea?"}]


@pytest.fixture(scope="module")
def base_url(graph) -> str:
    reply = httpx.post(graph.url + "/v1/documents", json={"documents": DOCS}, timeout=300)
    assert reply.status_code == 200, reply.text  # stored now, or by an earlier module
    return graph.url + "/v1"


@pytest.fixture(scope="module")
def client(base_url) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url, api_key="unused-locally", timeout=120)


def test_models_lists_the_graph(client):
    assert [m.id for m in client.models.list().data] == [MODEL]


def test_a_whole_answer_carries_its_citations(client):
    out = client.chat.completions.create(model=MODEL, messages=QUESTION)
    assert out.object == "chat.completion"
    assert out.choices[0].message.content
    assert out.choices[0].finish_reason in ("stop", "length")
    citations = out.model_extra["citations"]
    assert citations[0]["doc_id"] == "tides"
    assert out.usage.completion_tokens > 0  # vLLM wrote it


def test_a_streamed_answer_arrives_in_pieces_and_ends_with_citations(client):
    whole = client.chat.completions.create(model=MODEL, messages=QUESTION, temperature=0)
    arrivals, pieces, last = [], [], None
    stream = client.chat.completions.create(
        model=MODEL,
        messages=QUESTION,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    for chunk in stream:
        arrivals.append(time.monotonic())
        if chunk.choices and chunk.choices[0].delta.content:
            pieces.append(chunk.choices[0].delta.content)
        if chunk.choices and chunk.choices[0].finish_reason:
            last = chunk
    assert len(pieces) >= 3  # token by token, not one buffered message
    assert arrivals[0] < arrivals[-1]
    assert last is not None and last.model_extra["citations"][0]["doc_id"] == "tides"
    # Greedy decoding: the streamed pieces are the whole answer's text.
    assert "".join(pieces).strip() == whole.choices[0].message.content


def test_the_async_sdk_streams_several_answers_at_once(base_url):
    client = openai.AsyncOpenAI(base_url=base_url, api_key="unused-locally", timeout=120)

    async def ask(question: str) -> tuple[int, list]:
        stream = await client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": question}], stream=True
        )
        pieces, citations = 0, []
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                pieces += 1
            citations = (chunk.model_extra or {}).get("citations") or citations
        return pieces, citations

    async def main():
        return await asyncio.gather(
            ask("What erupts from a volcano?"),
            ask("How do honey bees communicate?"),
            client.chat.completions.create(model=MODEL, messages=QUESTION),
        )

    volcano, bees, whole = asyncio.run(main())
    assert volcano[0] > 0 and volcano[1][0]["doc_id"] == "volcano"
    assert bees[0] > 0 and bees[1]
    assert whole.model_extra["citations"][0]["doc_id"] == "tides"


def test_a_follow_up_is_searched_with_the_conversation(client):
    alone = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Which gas does it release?"}]
    )
    follow_up = client.chat.completions.create(
        model=MODEL,
        messages=[
            {"role": "user", "content": "What is photosynthesis?"},
            {"role": "assistant", "content": "A process of plants [1]."},
            {"role": "user", "content": "Which gas does it release?"},
        ],
    )
    assert follow_up.model_extra["citations"][0]["doc_id"] == "photosynthesis"
    assert alone.model_extra["citations"][0]["doc_id"] != "photosynthesis"


def test_errors_reach_the_sdk_as_its_own_exceptions(client):
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="gpt-4o", messages=QUESTION)
    with pytest.raises(openai.BadRequestError, match="no user message"):
        client.chat.completions.create(
            model=MODEL, messages=[{"role": "assistant", "content": "hello"}]
        )


def test_langchain_chat_openai(base_url):
    from langchain_openai import ChatOpenAI

    llm = ChatOpenAI(base_url=base_url, api_key="unused-locally", model=MODEL, temperature=0)
    message = llm.invoke("What causes the tides of the sea?")
    assert message.content
    pieces = [chunk.content for chunk in llm.stream("What erupts from a volcano?")]
    assert sum(1 for p in pieces if p) >= 2


def test_llamaindex_openai_like(base_url):
    from llama_index.core.llms import ChatMessage
    from llama_index.llms.openai_like import OpenAILike

    llm = OpenAILike(
        model=MODEL,
        api_base=base_url,
        api_key="unused-locally",
        is_chat_model=True,
        context_window=2048,
    )
    reply = llm.chat([ChatMessage(role="user", content="What causes the tides of the sea?")])
    assert reply.message.content
    pieces = list(llm.stream_chat([ChatMessage(role="user", content="What is a volcano?")]))
    assert sum(1 for p in pieces if p.delta) >= 2
