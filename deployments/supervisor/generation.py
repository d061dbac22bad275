"""The supervisor's view of the generator: ``generate`` (whole) and ``stream`` (piece by
piece) for either deployment kind.

Streaming reaches the ``Generator`` over a Serve streaming handle: vLLM's chat chunks
(``data: {...}`` events, batched by Ray Serve LLM every ``stream_batching_interval_ms``)
are read as they come and yielded as :class:`Delta` pieces, then one :class:`Generation`
with the whole answer and its token counts. Cancelling the consumer cancels the Serve
request, which makes the LLMServer abort the sequence in vLLM, freeing its batch slot.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from types import SimpleNamespace
from typing import Any, Literal

from deployments.calls import as_stage_error, reading_stream
from deployments.common.generation import GenerationSettings
from deployments.common.prompt import build_messages
from deployments.common.sse import DONE, sse_payloads
from deployments.common.streams import bounded
from deployments.errors import InvalidRequestError, RagError, StageUnavailableError
from deployments.supervisor.clients import as_client
from deployments.types import DEFAULT_SAMPLING, Delta, Generation, Hit, Sampling


class GeneratorClient:
    """Calls the ``Generator`` deployment through its handle.

    Args:
        handle: Handle of the ``Generator`` deployment (LLMServer or ExtractiveGenerator),
            or an in-process ExtractiveGenerator.
        cfg: What each request asks for (model id, sampling, passage length, the prompt's
            token budget: lowest-ranked passages are left out of a prompt over it).
        kind: Which deployment the handle points at.
    """

    def __init__(
        self, handle, cfg: GenerationSettings, kind: Literal["vllm", "extractive"]
    ) -> None:
        self._handle = handle
        self._cfg = cfg
        self.kind = kind

    async def generate(
        self, query: str, hits: Sequence[Hit], sampling: Sampling = DEFAULT_SAMPLING
    ) -> Generation:
        """The whole answer at once."""
        if self.kind == "extractive":
            return await as_client(self._handle).generate(query, list(hits))
        return await self._bounded(self._chat(query, hits, sampling))

    async def stream(
        self, query: str, hits: Sequence[Hit], sampling: Sampling = DEFAULT_SAMPLING
    ) -> AsyncIterator[Delta | Generation]:
        """The answer as it is written: :class:`Delta` pieces, then the :class:`Generation`
        (the whole text, token counts, finish reason)."""
        if self.kind == "extractive":
            source = self._handle.options(stream=True).stream.remote(query, list(hits))
            pieces = self._extractive_pieces(source)
        else:
            request = self._request(query, hits, sampling, stream=True)
            source = self._handle.options(stream=True).chat.remote(request, None)
            pieces = self._llm_pieces(source)
        async for piece in bounded(pieces, self._cfg.request_timeout_s, self._timed_out):
            yield piece

    @staticmethod
    async def _extractive_pieces(source) -> AsyncIterator[Delta | Generation]:
        parts: list[str] = []
        async with reading_stream(source, "Generator"):
            async for text in source:
                parts.append(text)
                yield Delta(text)
        yield Generation(answer="".join(parts), generator="extractive")

    async def _llm_pieces(self, source) -> AsyncIterator[Delta | Generation]:
        parts: list[str] = []
        usage: dict[str, Any] = {}
        finish: str | None = None
        async with reading_stream(source, "Generator"):
            async for batch in source:
                for chunk in _chunks(batch):
                    text, _, finish, usage = _read_chunk(chunk, finish, usage)
                    if text:
                        parts.append(text)
                        yield Delta(text)
        yield Generation(
            answer="".join(parts).strip(),
            generator="vllm",
            model=self._cfg.served_model_id,
            completion_tokens=usage.get("completion_tokens"),
            prompt_tokens=usage.get("prompt_tokens"),
            finish_reason="length" if finish == "length" else "stop",
        )

    async def _bounded(self, work):
        try:
            return await asyncio.wait_for(work, self._cfg.request_timeout_s)
        except TimeoutError as exc:
            raise self._timed_out() from exc

    def _timed_out(self) -> StageUnavailableError:
        return StageUnavailableError(
            f"the LLM did not answer within generator.request_timeout_s="
            f"{self._cfg.request_timeout_s}s; retry, or raise the timeout",
            param=None,
        )

    def _request(self, query: str, hits: Sequence[Hit], sampling: Sampling, *, stream: bool):
        from ray.serve.llm.openai_api_models import ChatCompletionRequest

        cfg = self._cfg
        # A request may ask for a shorter answer, not a longer one: the prompt's token
        # budget was cut for cfg.max_tokens of answer (finish_reason "length" says so).
        max_tokens = min(sampling.max_tokens or cfg.max_tokens, cfg.max_tokens)
        extra: dict[str, Any] = {}
        if sampling.top_p is not None:
            extra["top_p"] = sampling.top_p
        if sampling.stop:
            extra["stop"] = list(sampling.stop)
        if stream:
            extra["stream_options"] = {"include_usage": True}
        return ChatCompletionRequest(
            model=cfg.served_model_id,
            messages=build_messages(
                query,
                hits,
                max_chars=cfg.max_passage_chars,
                max_prompt_tokens=cfg.max_prompt_tokens,
            ),
            max_tokens=max_tokens,
            temperature=cfg.temperature if sampling.temperature is None else sampling.temperature,
            ignore_eos=cfg.ignore_eos,
            stream=stream,
            **extra,
        )

    async def _chat(self, query: str, hits: Sequence[Hit], sampling: Sampling) -> Generation:
        request = self._request(query, hits, sampling, stream=False)
        stream = self._handle.options(stream=True).chat.remote(request, None)
        try:
            async for response in stream:
                refusal = llm_error(response)
                if refusal is not None:
                    raise refusal
                choice = response.choices[0]
                return Generation(
                    answer=(choice.message.content or "").strip(),
                    generator="vllm",
                    model=self._cfg.served_model_id,
                    completion_tokens=response.usage.completion_tokens if response.usage else None,
                    prompt_tokens=response.usage.prompt_tokens if response.usage else None,
                    finish_reason="length" if choice.finish_reason == "length" else "stop",
                )
        except asyncio.CancelledError:
            # The query's deadline passed or its client left: cancelling the Serve request
            # makes the LLMServer abort the sequence in vLLM, freeing its batch slot.
            stream.cancel()
            raise
        except Exception as exc:  # noqa: BLE001 - Ray's failures mapped, others re-raised
            mapped = as_stage_error(exc, "Generator")
            if mapped is exc:
                raise
            raise mapped from exc
        raise StageUnavailableError("the LLM returned no response")


def llm_error(item: Any) -> RagError | None:
    """The graph's error for an error reply of vLLM (an ``ErrorResponse``, vLLM's own or
    Ray's copy: matched by shape), or None for an answer. vLLM's 4xx (a request it refuses,
    e.g. a prompt over the context) is the client's 400; anything else a 503.

    >>> from types import SimpleNamespace as NS
    >>> llm_error(NS(error=NS(message="bad stop", code=400, param="stop"))).status_code
    400
    >>> llm_error(NS(error=NS(message="engine dead", code=500))).status_code
    503
    >>> llm_error(NS(choices=[])) is None
    True
    """
    error = getattr(item, "error", None)
    if error is None or hasattr(item, "choices"):
        return None
    message = getattr(error, "message", error)
    code = getattr(error, "code", None)
    if isinstance(code, int) and 400 <= code < 500:
        return InvalidRequestError(
            f"the LLM refused the request: {message}", param=getattr(error, "param", None)
        )
    return StageUnavailableError(f"the LLM failed: {message}")


def _chunks(batch: Any) -> list[Any]:
    """The items of one message of the LLMServer's chat stream: a list of SSE strings (its
    batcher), a lone string, or an ``ErrorResponse``."""
    return list(batch) if isinstance(batch, list) else [batch]


def _read_chunk(
    chunk: Any, finish: str | None, usage: dict[str, Any]
) -> tuple[str, bool, str | None, dict[str, Any]]:
    """(text, stream done, finish reason, usage) after one item of vLLM's chat stream.

    >>> _read_chunk('data: {"choices":[{"delta":{"content":"Hi"},"finish_reason":null}]}\\n\\n',
    ...             None, {})
    ('Hi', False, None, {})
    >>> _read_chunk('data: {"choices":[],"usage":{"completion_tokens":3}}\\n\\ndata: [DONE]\\n\\n',
    ...             "length", {})
    ('', True, 'length', {'completion_tokens': 3})
    """
    if not isinstance(chunk, str):  # an ErrorResponse: vLLM refused the request
        raise llm_error(chunk) or StageUnavailableError(f"the LLM sent {type(chunk).__name__}")
    text, done = [], False
    for payload in sse_payloads(chunk):
        if payload == DONE:
            done = True
            continue
        if "error" in payload:
            raise llm_error(SimpleNamespace(error=SimpleNamespace(**payload["error"])))
        for choice in payload.get("choices") or ():
            content = (choice.get("delta") or {}).get("content")
            if content:
                text.append(content)
            finish = choice.get("finish_reason") or finish
        if payload.get("usage"):
            usage = payload["usage"]
    return "".join(text), done, finish, usage
