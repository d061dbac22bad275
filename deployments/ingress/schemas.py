"""Request and response bodies of the HTTP contract (strict: wrong types are 400s)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

MAX_QUERY_CHARS = 4096
MAX_TOP_K = 50
DOC_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:/@+=-]{0,99}$"


def _not_blank(value: str, name: str) -> str:
    if not value.strip():
        raise ValueError(f"{name} must contain text, not only whitespace")
    return value


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
    text: str
    score: float


class QueryResponse(BaseModel):
    answer: str
    citations: list[Citation]
    generator: Literal["vllm", "extractive"]
    route: Literal["simple", "complex", "comparative"]
    timings_ms: dict[str, float]
    request_id: str
    cached: bool = False


class SearchResponse(BaseModel):
    citations: list[Citation]
    route: Literal["simple", "complex", "comparative"]
    timings_ms: dict[str, float]
    request_id: str


class DocumentIn(_Strict):
    id: str | None = Field(
        default=None,
        pattern=DOC_ID_PATTERN,
        description="Stable id; default: a hash of the text. Letters, digits and ._:/@+=- "
        "(at most 100 characters, starting with a letter or digit).",
    )
    title: str | None = Field(default=None, max_length=1000)
    text: str = Field(min_length=1, max_length=2_000_000)
    metadata: dict[str, Any] | None = None

    @field_validator("text")
    @classmethod
    def _doc_text(cls, v: str) -> str:
        return _not_blank(v, "text")


class DocumentsRequest(_Strict):
    documents: list[DocumentIn] = Field(min_length=1, max_length=256)


class DocumentsResponse(BaseModel):
    stored: int
    skipped: int
    chunks: int
    ids: list[str]
