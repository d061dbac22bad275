"""OpenAI's chat shapes, as this graph accepts and answers them (strict: a wrong type or
an unknown field is a 400 naming it).

Accepted as OpenAI defines them: ``model``, ``messages`` (system, developer, user and
assistant turns; text content, as a string or text parts), ``stream``,
``stream_options.include_usage``, ``max_tokens`` / ``max_completion_tokens``,
``temperature``, ``top_p``, ``stop``, ``user``. Accepted and without effect (a retrieval
graph with one answer has no use for them; clients send them by default): ``n`` (1 only),
``seed``, ``presence_penalty``, ``frequency_penalty``, ``logprobs`` (false only),
``response_format`` (text only), ``store``, ``metadata``, ``parallel_tool_calls``. Tools and
images are refused by name. The extension ``top_k`` sets how many passages are cited.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from deployments.common.text import SEARCHABLE, searchable
from deployments.ingress.schemas import (
    MAX_QUERY_CHARS,
    MAX_TOP_K,
    TOO_LARGE,
    Citation,
    Filtered,
    FilterSpec,
    JsonInt,
    json_int,
)

MAX_MESSAGE_CHARS = 32_000
"""Longest earlier turn (an assistant's answer, a pasted text); only the last message is
searched, and it must fit the query limit."""
MAX_STOP = 4
StopText = Annotated[str, Field(min_length=1, max_length=256)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class TextPart(_Strict):
    type: Literal["text"] = Field(description="Only text parts are accepted.")
    text: str = Field(max_length=MAX_MESSAGE_CHARS)


class QuestionPart(_Strict):
    type: Literal["text"] = Field(description="Only text parts are accepted.")
    text: str = Field(
        min_length=1,
        max_length=MAX_QUERY_CHARS,
        json_schema_extra={"pattern": SEARCHABLE},
        description="Some character of it must be searchable.",
    )


class _Message(_Strict):
    name: str | None = Field(default=None, max_length=256)

    def text(self) -> str:
        """The content as one string (text parts joined)."""
        content = getattr(self, "content", None)
        if content is None:
            return ""
        if isinstance(content, str):
            return content
        return "".join(part.text for part in content)


class UserMessage(_Message):
    role: Literal["user"]
    content: str | list[QuestionPart] = Field(
        description="A question: text, or text parts (joined; together at most "
        f"{MAX_QUERY_CHARS:,} characters, else 413). Some character must be searchable.",
        json_schema_extra={
            "anyOf": [
                {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": MAX_QUERY_CHARS,
                    "pattern": SEARCHABLE,
                },
                {
                    "type": "array",
                    "items": {"$ref": "#/components/schemas/QuestionPart"},
                    "minItems": 1,
                },
            ]
        },
    )

    @field_validator("content")
    @classmethod
    def _a_question(cls, value: str | list[QuestionPart]) -> str | list[QuestionPart]:
        text = value if isinstance(value, str) else "".join(p.text for p in value)
        if len(text) > MAX_QUERY_CHARS:
            raise PydanticCustomError(
                TOO_LARGE,
                f"a user message holds at most {MAX_QUERY_CHARS:,} characters (got "
                f"{len(text):,}): it is the question searched for; put long material in a "
                "document (POST /v1/documents)",
            )
        if not searchable(text):
            raise ValueError(
                "a user message must contain a question: nothing of it is searchable (only "
                "whitespace, control, format or private-use characters)"
            )
        return value


class AssistantMessage(_Message):
    role: Literal["assistant"]
    content: str | list[TextPart] | None = Field(
        default=None, max_length=MAX_MESSAGE_CHARS, description="An earlier answer."
    )


class SystemMessage(_Message):
    role: Literal["system", "developer"]
    content: str | list[TextPart] = Field(
        max_length=MAX_MESSAGE_CHARS,
        description="Instructions. The graph's own prompt grounds the answer in the cited "
        "passages; system turns do not change it.",
    )


ChatMessage = Annotated[UserMessage | AssistantMessage | SystemMessage, Field(discriminator="role")]


class StreamOptions(_Strict):
    include_usage: bool = Field(
        default=False, description="Send a last chunk with `usage` (and empty `choices`)."
    )


class ResponseFormat(_Strict):
    type: Literal["text"] = Field(description="Only text answers (with citations).")


class ChatCompletionRequest(_Strict, Filtered):
    """``POST /v1/chat/completions``: OpenAI's request body."""

    model: str = Field(min_length=1, max_length=256, description="A model of `/v1/models`.")
    messages: list[ChatMessage] = Field(
        min_length=1,
        description="The conversation, oldest first. The question is the last user message "
        "(turns after it, such as an assistant prefill, are not used); the turns before it "
        "let the rewriter make a follow-up standalone.",
        json_schema_extra={
            "contains": {
                "type": "object",
                "properties": {"role": {"const": "user"}},
                "required": ["role"],
            }
        },
    )
    stream: bool = Field(default=False, description="Answer as server-sent events.")
    stream_options: StreamOptions | None = None
    max_tokens: json_int(ge=1) | None = Field(
        default=None,
        description="Answer length cap; at most the graph's generator.max_tokens is used "
        "(finish_reason `length` when cut).",
    )
    max_completion_tokens: json_int(ge=1) | None = Field(
        default=None, description="Same as max_tokens (OpenAI's newer name)."
    )
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    stop: StopText | Annotated[list[StopText], Field(max_length=MAX_STOP)] | None = Field(
        default=None, description=f"Up to {MAX_STOP} non-empty strings."
    )
    user: str | None = Field(default=None, max_length=256, description="Your end user's id.")
    top_k: json_int(ge=1, le=MAX_TOP_K) | None = Field(
        default=None, description="Extension: passages to cite."
    )
    filter: FilterSpec = Field(
        default=None,
        description="Extension: answer only from passages whose document metadata matches "
        "(the `filter` of /v1/query; with the openai SDK, pass it in `extra_body`).",
    )
    # Accepted, without effect.
    n: json_int(ge=1, le=1) | None = Field(default=None, description="Only 1 answer.")
    seed: JsonInt | None = None
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    logprobs: Literal[False] | None = Field(default=None, description="Not available.")
    response_format: ResponseFormat | None = None
    store: bool | None = None
    metadata: dict[str, str] | None = None
    parallel_tool_calls: bool | None = None

    @model_validator(mode="before")
    @classmethod
    def _refuse_tools(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for name in ("tools", "tool_choice", "functions", "function_call", "audio"):
                if data.get(name) is not None:
                    raise ValueError(
                        f"{name} is not supported: this graph answers from its documents "
                        "with citations, without tool calls; remove it"
                    )
        return data

    @field_validator("logprobs", mode="before")
    @classmethod
    def _false_not_zero(cls, value: Any) -> Any:
        if value is not None and value is not False:  # Literal[False] alone accepts 0
            raise ValueError("logprobs are not available: send false or leave it out")
        return value

    @field_validator("messages")
    @classmethod
    def _has_a_question(cls, value: list[ChatMessage]) -> list[ChatMessage]:
        if not any(m.role == "user" for m in value):
            raise ValueError("messages hold no user message: add the question as one")
        return value

    def answer_tokens(self) -> int | None:
        """The answer length cap the request asks for (``max_completion_tokens`` first)."""
        return self.max_completion_tokens or self.max_tokens

    def stops(self) -> tuple[str, ...]:
        if self.stop is None:
            return ()
        return (self.stop,) if isinstance(self.stop, str) else tuple(self.stop)


class ChatCompletionMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class Choice(BaseModel):
    index: int = 0
    message: ChatCompletionMessage
    finish_reason: Literal["stop", "length"]
    logprobs: None = None


class CompletionUsage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatCompletion(BaseModel):
    """A whole answer, in OpenAI's shape, with its citations."""

    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: CompletionUsage
    citations: list[Citation] = Field(
        description="Extension: the passages the answer cites; `[n]` in the text is item n."
    )
    degraded: list[str] = Field(
        default_factory=list,
        description="Extension: what a busy graph gave up for this answer (empty: nothing).",
    )
    system_fingerprint: str | None = None


class Delta(BaseModel):
    role: Literal["assistant"] | None = None
    content: str | None = None


class ChunkChoice(BaseModel):
    index: int = 0
    delta: Delta
    finish_reason: Literal["stop", "length"] | None = None
    logprobs: None = None


class ChatCompletionChunk(BaseModel):
    """One server-sent event of a streamed answer (``data: <this>``); the stream ends with
    ``data: [DONE]``. The chunk with the ``finish_reason`` carries the citations."""

    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: CompletionUsage | None = None
    citations: list[Citation] | None = None
    degraded: list[str] | None = None


class Model(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[Model]


SSE_EVENT_SCHEMA = {
    "type": "object",
    "description": "One server-sent event of a streamed answer (its SSE fields).",
    "properties": {
        "data": {
            "description": 'A ChatCompletionChunk as JSON, an `{"error": ...}` body when the '
            "answer fails mid-way, or `[DONE]` at the end.",
            "anyOf": [
                {"type": "string", "const": "[DONE]"},
                {
                    "type": "string",
                    "contentMediaType": "application/json",
                    "contentSchema": {
                        "anyOf": [
                            {"$ref": "#/components/schemas/ChatCompletionChunk"},
                            {"$ref": "#/components/schemas/ErrorBody"},
                        ]
                    },
                },
            ],
        },
        "event": {"type": "string"},
    },
    "required": ["data"],
}
"""The OpenAPI schema of ``text/event-stream`` replies: an event whose data is a chunk."""
