"""Request and response bodies of the HTTP contract (strict: wrong types are 400s)."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from deployments.common.ids import MAX_DOC_ID_BYTES, id_problem

MAX_QUERY_CHARS = 4096
MAX_TOP_K = 50
MAX_TITLE_CHARS = 1000
MAX_TEXT_CHARS = 2_000_000
MAX_METADATA_BYTES = 16 * 1024
MAX_METADATA_DEPTH = 8
_INT64 = (-(2**63), 2**63 - 1)


def _encodable(value: str, name: str) -> str:
    """``value`` if it can be stored as UTF-8. JSON can carry unpaired surrogates; pydantic
    refuses them in ``str`` fields, but not inside ``metadata`` (``Any``)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(
            f"{name} holds an unpaired surrogate {value[exc.start]!r} at {exc.start}; send "
            "valid Unicode text"
        ) from None
    return value


def _not_blank(value: str, name: str) -> str:
    if not value.strip():
        raise ValueError(f"{name} must contain text, not only whitespace")
    return value


def check_metadata(value: Any, path: str = "metadata", depth: int = 0) -> None:
    """Raise ValueError unless ``value`` is JSON the store's JSON field holds as sent:
    integers within 64 bits, finite numbers, valid Unicode, bounded nesting.

    >>> check_metadata({"n": 2**70})
    Traceback (most recent call last):
    ...
    ValueError: metadata.n: integer 1180591620717411303424 is outside the 64-bit range ...
    """
    if depth > MAX_METADATA_DEPTH:
        raise ValueError(f"{path}: nested deeper than {MAX_METADATA_DEPTH} levels")
    if isinstance(value, bool) or value is None:
        return
    if isinstance(value, int):
        if not _INT64[0] <= value <= _INT64[1]:
            raise ValueError(
                f"{path}: integer {value} is outside the 64-bit range the store keeps; send "
                "it as a string"
            )
    elif isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"{path}: {value} is not a JSON number")
    elif isinstance(value, str):
        _encodable(value, path)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            check_metadata(item, f"{path}.{i}", depth + 1)
    elif isinstance(value, dict):
        for key, item in value.items():
            _encodable(key, f"{path} key")
            check_metadata(item, f"{path}.{key}", depth + 1)
    else:
        raise ValueError(f"{path}: {type(value).__name__} is not a JSON value")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class QueryRequest(_Strict):
    query: str = Field(min_length=1, max_length=MAX_QUERY_CHARS, description="The question.")
    top_k: int = Field(default=5, ge=1, le=MAX_TOP_K, description="Passages to cite.")

    @field_validator("query")
    @classmethod
    def _query_text(cls, v: str) -> str:
        return _not_blank(v, "query")


class SearchRequest(QueryRequest):
    """Same fields as a query; the answer is not generated."""


class Citation(BaseModel):
    doc_id: str
    chunk_id: str
    title: str = ""
    text: str
    score: float = Field(description="The final ranking score (the reranker's, if it ran).")
    scores: dict[str, float] = Field(
        default_factory=dict,
        description="Each stage's own score: the first stage's dense/bm25/hybrid (RRF), "
        "subquery_rrf when sub-question lists were merged, the reranker's maxsim and rerank.",
    )


class Usage(BaseModel):
    """Tokens of the LLM call (absent for extractive answers)."""

    prompt_tokens: int | None = None
    completion_tokens: int | None = None


class QueryResponse(BaseModel):
    answer: str
    citations: list[Citation]
    generator: Literal["vllm", "extractive"]
    route: Literal["simple", "complex", "comparative"]
    stages: list[str] = Field(description="The graph's nodes that ran, in order.")
    timings_ms: dict[str, float]
    request_id: str
    cached: bool = False
    usage: Usage | None = None


class SearchResponse(BaseModel):
    citations: list[Citation]
    route: Literal["simple", "complex", "comparative"]
    stages: list[str] = Field(description="The graph's nodes that ran, in order.")
    timings_ms: dict[str, float]
    request_id: str


class DocumentIn(_Strict):
    id: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_DOC_ID_BYTES,
        description="Stable id; default: a hash of the text. Any Unicode text (a title, a "
        f"file path), at most {MAX_DOC_ID_BYTES} bytes of UTF-8, without control characters.",
    )
    title: str | None = Field(default=None, max_length=MAX_TITLE_CHARS)
    text: str = Field(min_length=1, max_length=MAX_TEXT_CHARS)
    metadata: dict[str, Any] | None = Field(
        default=None,
        description=f"JSON object, at most {MAX_METADATA_BYTES} bytes, integers within 64 bits.",
    )

    @field_validator("id")
    @classmethod
    def _doc_id(cls, v: str | None) -> str | None:
        if v is not None and (problem := id_problem(v)) is not None:
            raise ValueError(f"id {problem}")
        return v

    @field_validator("text")
    @classmethod
    def _doc_text(cls, v: str) -> str:
        return _not_blank(v, "text")

    @field_validator("metadata")
    @classmethod
    def _metadata(cls, v: dict[str, Any] | None) -> dict[str, Any] | None:
        if v is None:
            return v
        check_metadata(v)
        size = len(json.dumps(v, ensure_ascii=False).encode("utf-8"))
        if size > MAX_METADATA_BYTES:
            raise ValueError(f"metadata is {size} bytes as JSON, more than {MAX_METADATA_BYTES}")
        return v


class DocumentsRequest(_Strict):
    documents: list[DocumentIn] = Field(min_length=1, max_length=256)


class DocumentsResponse(BaseModel):
    stored: int
    skipped: int
    chunks: int
    ids: list[str]
