"""OpenAI's reply shapes from the graph's answers (pure): a whole completion, the chunks
of a streamed one, and the conversation split the supervisor takes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from deployments.ingress.chat.schemas import ChatCompletionRequest, ChatMessage
from deployments.ingress.schemas import Citation
from deployments.types import Answer, Hit, Sampling, Turn

MAX_HISTORY_TURNS = 16
"""Earlier turns sent to the supervisor; the rewriter reads the last few only."""


def conversation(messages: Sequence[ChatMessage]) -> tuple[tuple[Turn, ...], str]:
    """(earlier turns, the question): the question is the last user message (turns after
    it, an assistant prefill, are not used); the turns before it are kept as
    ``(role, text)``, the last :data:`MAX_HISTORY_TURNS` of them, ``developer`` counted as
    ``system``.

    >>> from pydantic import TypeAdapter
    >>> m = TypeAdapter(list[ChatMessage]).validate_python([
    ...     {"role": "developer", "content": "Be brief."},
    ...     {"role": "user", "content": "What is metformin?"},
    ...     {"role": "assistant", "content": None},
    ...     {"role": "user", "content": [{"type": "text", "text": "Its side effects?"}]},
    ...     {"role": "assistant", "content": "Nausea"}])
    >>> turns, question = conversation(m)
    >>> turns
    (('system', 'Be brief.'), ('user', 'What is metformin?'), ('assistant', ''))
    >>> question
    'Its side effects?'
    """
    last = max(i for i, m in enumerate(messages) if m.role == "user")
    turns = tuple(
        ("system" if m.role == "developer" else m.role, m.text())
        for m in messages[:last][-MAX_HISTORY_TURNS:]
    )
    return turns, messages[last].text()


def sampling(body: ChatCompletionRequest) -> Sampling:
    """What the request asks of the LLM."""
    return Sampling(
        max_tokens=body.answer_tokens(),
        temperature=body.temperature,
        top_p=body.top_p,
        stop=body.stops(),
    )


def citations(hits: Sequence[Hit]) -> list[dict[str, Any]]:
    """The cited passages, numbered by position (``[1]`` is the first)."""
    return [Citation.of(h).model_dump() for h in hits]


def usage(answer: Answer) -> dict[str, int]:
    """OpenAI's usage block: the LLM's token counts (0 for an extractive answer, which
    uses no model).

    >>> usage(Answer("a", [], "extractive", "simple", {}))
    {'prompt_tokens': 0, 'completion_tokens': 0, 'total_tokens': 0}
    """
    counts = answer.usage or {}
    prompt = counts.get("prompt_tokens") or 0
    completion = counts.get("completion_tokens") or 0
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def completion(answer: Answer, *, completion_id: str, created: int, model: str) -> dict:
    """The whole answer as OpenAI's ``chat.completion``, with its citations."""
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": answer.answer},
                "finish_reason": answer.finish_reason,
                "logprobs": None,
            }
        ],
        "usage": usage(answer),
        "citations": citations(answer.citations),
        "degraded": list(answer.degraded),
        "system_fingerprint": None,
    }


class ChunkWriter:
    """The chunks of one streamed answer, all with the same id, time and model.

    >>> w = ChunkWriter("chatcmpl-1", 1700000000, "rag")
    >>> w.delta("Hi")["choices"]
    [{'index': 0, 'delta': {'content': 'Hi'}, 'finish_reason': None, 'logprobs': None}]
    """

    def __init__(self, completion_id: str, created: int, model: str) -> None:
        self._head = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
        }

    def _chunk(self, delta: dict[str, str], finish: str | None = None, **extra: Any) -> dict:
        choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
        return {**self._head, "choices": [choice], **extra}

    def role(self) -> dict:
        """The first chunk: who speaks."""
        return self._chunk({"role": "assistant", "content": ""})

    def delta(self, text: str) -> dict:
        return self._chunk({"content": text})

    def last(self, answer: Answer) -> dict:
        """The chunk that ends the answer: its finish reason and citations."""
        return self._chunk(
            {},
            answer.finish_reason,
            citations=citations(answer.citations),
            degraded=list(answer.degraded),
        )

    def usage(self, answer: Answer) -> dict:
        """The optional chunk after the last (``stream_options.include_usage``)."""
        return {**self._head, "choices": [], "usage": usage(answer)}
