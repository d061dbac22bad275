"""Request and response bodies of the HTTP contract (strict: wrong types are 400s)."""

from __future__ import annotations

import json
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetPydanticSchema,
    RootModel,
    field_validator,
)
from pydantic_core import PydanticCustomError

from deployments.common.ids import MAX_DOC_ID_BYTES, id_problem
from deployments.common.store.filters import (
    MAX_CONDITIONS,
    MAX_DEPTH,
    MAX_KEY_BYTES,
    MAX_VALUES,
    metadata_expression,
)
from deployments.common.text import SEARCHABLE, searchable
from deployments.errors import InvalidRequestError, PayloadTooLargeError
from deployments.types import Hit

MAX_QUERY_CHARS = 4096
MAX_TOP_K = 50
MAX_TITLE_CHARS = 1000
MAX_REQUEST_TEXT_CHARS = 64_000
"""Most characters of document text one ``POST /v1/documents`` may carry (all documents
together; one document's text at most as much): ingestion runs while the request waits,
so an admitted request must finish well within the default deadline (30 s). Sized from
the Ingester core on SciFact abstracts, in process, on a 2-core machine: 6-16 kchars/s
(64 k chars: 3.2-7.7 s; 100 k chars: 6.0-16.1 s, the slow end many short documents and
a cold first call), so a full request takes at most about a quarter of the deadline and
one queued behind another on the Ingester's lock still finishes within it. Larger
corpora go in several requests."""
MAX_TEXT_CHARS = MAX_REQUEST_TEXT_CHARS
MAX_JOB_TEXT_CHARS = 8_000_000
"""Most characters of one document's text in an ingestion job (the request body limit,
``ingress.security.max_body_bytes``, bounds a job's whole body)."""
MAX_METADATA_BYTES = 16 * 1024
MAX_METADATA_DEPTH = 8
INT64 = (-(2**63), 2**63 - 1)
_WHITESPACE = (  # every character str.isspace() counts, as regex class ranges
    r"\t\n\x0b\x0c\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
)
_CONTROL = r"\x00-\x1f\x7f-\x9f"
NOT_BLANK = f"[^{_WHITESPACE}]"
"""JSON Schema ``pattern`` (a search) of text that is not only whitespace: a character
Python's ``str.isspace`` does not count as whitespace, spelled out so that the ECMA regex
of a client's validator and Python's agree."""
ID_PATTERN = f"^[^{_CONTROL}]*[^{_CONTROL}{_WHITESPACE}][^{_CONTROL}]*$"
"""JSON Schema ``pattern`` of a document id: no control character, not only whitespace
(see :func:`deployments.common.ids.id_problem`)."""
TOO_LARGE = PayloadTooLargeError.error_type
"""Type of the validation errors the ingress answers with 413 instead of 400."""
_PATH_CHARS = r'"\\\[\]'  # a filter key holds none of  " \ [ ]
_FILTER_TEXT = {"type": "string", "pattern": r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"}
_FILTER_ORDERED = [  # a string or a number within the store's signed 64 bits (not -2**63)
    _FILTER_TEXT,
    {"type": "integer", "minimum": -INT64[1], "maximum": INT64[1]},
    {"type": "number", "not": {"type": "integer"}},
]
_FILTER_SCALARS = [*_FILTER_ORDERED, {"type": "boolean"}]
_FILTER_VALUES = {
    "type": "array",
    "items": {"anyOf": _FILTER_SCALARS},
    "minItems": 1,
    "maxItems": MAX_VALUES,
}
_FILTER_OPERATORS = {
    "type": "object",
    "properties": {
        **dict.fromkeys(("$eq", "$ne", "$contains"), {"anyOf": _FILTER_SCALARS}),
        **dict.fromkeys(("$gt", "$gte", "$lt", "$lte"), {"anyOf": _FILTER_ORDERED}),
        **dict.fromkeys(("$in", "$nin"), _FILTER_VALUES),
        "$exists": {"type": "boolean"},
    },
    "additionalProperties": False,
    "minProperties": 1,
}


class MetadataCondition(RootModel[Any]):
    """What one metadata key must match: a value (equal to it), a list of values (one of
    them), or an object of operators (all of them hold)."""

    model_config = ConfigDict(
        json_schema_extra={"anyOf": [*_FILTER_SCALARS, _FILTER_VALUES, _FILTER_OPERATORS]}
    )


_FILTER_KEY_PATTERN = (
    f"^[^${_PATH_CHARS}{_CONTROL}][^{_PATH_CHARS}{_CONTROL}]{{0,{MAX_KEY_BYTES - 1}}}$"
)


def _keys_by_pattern(schema: dict[str, Any], min_properties: int) -> None:
    """A filter's JSON Schema: besides ``$and``/``$or``/``$not``, keys matching
    :data:`_FILTER_KEY_PATTERN` (a metadata key of at most ``MAX_KEY_BYTES`` characters;
    the limit is in bytes) with a :class:`MetadataCondition` each, and nothing else."""
    schema["patternProperties"] = {_FILTER_KEY_PATTERN: schema.pop("additionalProperties")}
    schema["additionalProperties"] = False
    if min_properties:
        schema["minProperties"] = min_properties


# Schema only: the OpenAPI document's account of the filter grammar, which
# metadata_expression checks. Two limits stay in the `filter` field's description:
# MAX_CONDITIONS (JSON Schema cannot count conditions) and MAX_DEPTH (spelt out level by
# level, like metadata's, the three ways down make schemathesis's coverage phase
# enumerate 3**8 paths: ~46,000 cases per route).
class MetadataSubfilter(BaseModel):
    """A filter under `$and`, `$or` or `$not` (not empty): metadata keys and what each
    must match, all of which hold."""

    model_config = ConfigDict(
        extra="allow", json_schema_extra=lambda schema: _keys_by_pattern(schema, 1)
    )
    __pydantic_extra__: dict[str, MetadataCondition] = Field(init=False)

    all_of: list[MetadataSubfilter] = Field(None, alias="$and", min_length=1)
    any_of: list[MetadataSubfilter] = Field(None, alias="$or", min_length=1)
    none_of: MetadataSubfilter = Field(None, alias="$not")


class MetadataFilter(MetadataSubfilter):
    """Metadata keys and what each must match, all of which hold (`{}`: no filter)."""

    model_config = ConfigDict(json_schema_extra=lambda schema: _keys_by_pattern(schema, 0))


FilterSpec = Annotated[
    dict[str, Any] | None,
    GetPydanticSchema(
        get_pydantic_json_schema=lambda _core, handler: {
            "anyOf": [handler(MetadataFilter.__pydantic_core_schema__), {"type": "null"}]
        }
    ),
]
"""A request's ``filter``: a JSON object, checked by ``metadata_expression``; documented
as :data:`MetadataFilter`."""


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


def _integral_float(value: Any) -> Any:
    """A float with an integral value as that int (JSON Schema counts ``13.0`` as an
    integer); anything else unchanged, for the strict ``int`` check to judge (``13.5``,
    ``"13"`` and ``true`` stay refused).

    >>> _integral_float(13.0), _integral_float(13.5), _integral_float(True)
    (13, 13.5, True)
    """
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


JsonInt = Annotated[int, BeforeValidator(_integral_float)]
"""An integer field of a request body: a JSON integer, or a number with an integral value."""


def json_int(**bounds: int) -> Any:
    """:data:`JsonInt` within ``bounds`` (``ge``, ``le``), for an optional field: bounds
    set inside the type, where the OpenAPI document shows them as ``minimum``/``maximum``
    (on ``JsonInt | None`` they would come out as pydantic's own keywords)."""
    return Annotated[int, Field(**bounds), BeforeValidator(_integral_float)]


def _too_much_text(what: str, chars: int) -> PydanticCustomError:
    return PydanticCustomError(
        TOO_LARGE,
        f"{what} {chars:,} characters of text, more than the {MAX_REQUEST_TEXT_CHARS:,} one "
        "request may carry (a request is ingested while it waits, within its deadline); "
        "submit it as an ingestion job (POST /v1/ingest/jobs, same body), or split the "
        "text into several requests",
    )


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
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        # JSON Schema counts 1e21 as an integer too: the store keeps neither
        if not INT64[0] <= value <= INT64[1]:
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


class Filtered(BaseModel):
    """A body with a metadata ``filter`` (declared by each subclass): checked by
    :func:`~deployments.common.store.filters.metadata_expression`, whose refusals are
    400s naming the place in the filter; ``where`` is its Milvus expression."""

    @field_validator("filter", check_fields=False)
    @classmethod
    def _filter(cls, v: dict[str, Any] | None) -> dict[str, Any] | None:
        try:
            metadata_expression(v)
        except InvalidRequestError as exc:
            raise ValueError(exc.message) from None
        return v

    @property
    def where(self) -> str | None:
        """The filter as a Milvus expression (None: no filter)."""
        return metadata_expression(self.filter)


class QueryRequest(_Strict, Filtered):
    query: str = Field(
        min_length=1,
        max_length=MAX_QUERY_CHARS,
        json_schema_extra={"pattern": SEARCHABLE},
        description="The question: some character of it must be searchable (not only "
        "whitespace, control, format or private-use characters).",
    )
    top_k: JsonInt = Field(default=5, ge=1, le=MAX_TOP_K, description="Passages to cite.")
    filter: FilterSpec = Field(
        default=None,
        description="Search only passages whose document metadata matches, e.g. "
        '{"source": "a.md"}, {"year": {"$gte": 2020}}, {"$or": [{"lang": "en"}, '
        '{"tags": {"$contains": "ops"}}]}. Operators: $eq $ne $gt $gte $lt $lte $in $nin '
        f"$contains $exists, and $and $or $not; at most {MAX_CONDITIONS} conditions, "
        f"nested at most {MAX_DEPTH} deep; keys of at most {MAX_KEY_BYTES} bytes of UTF-8.",
    )

    agents: bool | None = Field(
        default=None,
        description="Answer with the agent supervisor (plans, hands the question to "
        "specialist agents: multi-hop, comparison, summary; validates the answer against "
        "its citations and abstains without evidence) instead of the single-shot pipeline. "
        "Default: the deployment's supervisor.agents.default.",
    )

    @field_validator("query")
    @classmethod
    def _query_text(cls, v: str) -> str:
        if not searchable(v):
            raise ValueError(
                f"query has nothing to search for once whitespace, control and format "
                f"characters are removed (got {v[:40]!r}); send a question in words"
            )
        return v


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

    @classmethod
    def of(cls, hit: Hit) -> Citation:
        """The citation of a hit the graph returned."""
        return cls(
            doc_id=hit.doc_id,
            chunk_id=hit.chunk_id,
            title=hit.title,
            text=hit.text,
            score=hit.score,
            scores=hit.scores,
        )


class Usage(BaseModel):
    """Tokens of the LLM call (absent for extractive answers)."""

    prompt_tokens: int | None = None
    completion_tokens: int | None = None


DEGRADED = (
    "What the graph gave up to answer within the deadline under load (e.g. "
    "rerank_depth=10, no_rerank, extractive); empty for the full graph."
)


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
    degraded: list[str] = Field(default_factory=list, description=DEGRADED)
    trace: dict[str, Any] | None = Field(
        default=None,
        description="With agents: the agents scored and chosen (and why), the queries and "
        "documents of every hop, the validator's verdict on every answer sentence.",
    )


class SearchResponse(BaseModel):
    citations: list[Citation]
    route: Literal["simple", "complex", "comparative"]
    stages: list[str] = Field(description="The graph's nodes that ran, in order.")
    timings_ms: dict[str, float]
    request_id: str
    degraded: list[str] = Field(default_factory=list, description=DEGRADED)
    trace: dict[str, Any] | None = Field(
        default=None,
        description="With agents: the agents scored and chosen (and why), the queries and "
        "documents of every hop, the validator's verdict on every answer sentence.",
    )


class DocumentIn(_Strict):
    max_text_chars: ClassVar[int] = MAX_TEXT_CHARS

    id: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_DOC_ID_BYTES,
        json_schema_extra={"pattern": ID_PATTERN},
        description="Stable id; default: a hash of the text. Any Unicode text (a title, a "
        f"file path), at most {MAX_DOC_ID_BYTES} bytes of UTF-8, without control characters.",
    )
    title: str | None = Field(default=None, max_length=MAX_TITLE_CHARS)
    text: str = Field(
        min_length=1,
        json_schema_extra={"maxLength": MAX_TEXT_CHARS, "pattern": NOT_BLANK},
        description=f"The document's text (longer than {MAX_TEXT_CHARS:,} characters: 413).",
    )
    metadata: dict[str, Any] | None = Field(
        default=None,
        description=f"JSON object, at most {MAX_METADATA_BYTES} bytes, integers within 64 bits, "
        f"nested at most {MAX_METADATA_DEPTH} levels.",
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
        if len(v) > cls.max_text_chars:
            if cls.max_text_chars == MAX_TEXT_CHARS:
                raise _too_much_text("it holds", len(v))
            raise PydanticCustomError(
                TOO_LARGE,
                f"it holds {len(v):,} characters of text, more than the "
                f"{cls.max_text_chars:,} one document of a job may; split it into several "
                "documents",
            )
        return _not_blank(v, "text")

    @field_validator("metadata")
    @classmethod
    def _metadata(cls, v: dict[str, Any] | None) -> dict[str, Any] | None:
        if v is None:
            return v
        check_metadata(v)
        size = len(json.dumps(v, ensure_ascii=False).encode("utf-8"))
        if size > MAX_METADATA_BYTES:
            raise PydanticCustomError(
                TOO_LARGE,
                f"metadata is {size:,} bytes as JSON, more than {MAX_METADATA_BYTES:,}; keep "
                "large values in the document's text",
            )
        return v


OnExisting = Literal["skip", "replace"]
ON_EXISTING = (
    "What to do with a document whose id is stored already: skip it (the default: "
    "nothing is stored twice), or replace it with this content (unchanged content is "
    "skipped; a query sees the old version or the new, never a mix)."
)


class DocumentsRequest(_Strict):
    documents: list[DocumentIn] = Field(
        min_length=1,
        max_length=256,
        description=f"Holding at most {MAX_REQUEST_TEXT_CHARS:,} characters of text in all "
        "(more: 413 payload_too_large; larger corpora go as ingestion jobs).",
    )
    on_existing: OnExisting = Field(default="skip", description=ON_EXISTING)

    @field_validator("documents")
    @classmethod
    def _text_budget(cls, v: list[DocumentIn]) -> list[DocumentIn]:
        total = sum(len(d.text) for d in v)
        if total > MAX_REQUEST_TEXT_CHARS:
            raise _too_much_text(f"the {len(v)} documents hold", total)
        return v


class DocumentsResponse(BaseModel):
    stored: int
    skipped: int
    chunks: int
    ids: list[str]
    replaced: int = Field(default=0, description="Of `stored`, documents replaced.")
