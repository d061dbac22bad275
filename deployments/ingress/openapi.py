"""The OpenAPI document as the server answers: every status an operation can reply with,
each with the body and headers it carries.

FastAPI documents a 422 for every route (the server answers 400) and no other error.
:func:`install_openapi` replaces ``app.openapi`` with a cached function that rewrites
FastAPI's document: 422 goes, the statuses of :func:`error_statuses` come in with the
contract's :class:`ErrorBody`, ``/healthz`` gets its own :class:`HealthBody`, every reply
documents ``X-Request-Id`` (and 429/503 ``Retry-After``), and the ``X-Request-Timeout``
header says which numbers are accepted. ``tests/deployments/ingress/test_ingress_fuzz.py``
holds the server to this document.
"""

from __future__ import annotations

import copy
from typing import Any, Literal

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field

from deployments.ingress.chat.schemas import ChatCompletionChunk
from deployments.ingress.forward import DEADLINE_HEADER
from deployments.ingress.schemas import INT64, MAX_METADATA_BYTES, MAX_METADATA_DEPTH

HEALTH_PATH = "/healthz"
CHAT_PATH = "/v1/chat/completions"
GRAPH_PREFIX = "/v1/"
"""Routes under it are guarded by API keys and quotas and forwarded into the graph."""
_REF = "#/components/schemas/{model}"
_FASTAPI_422 = ("HTTPValidationError", "ValidationError")

ERRORS: dict[int, str] = {
    400: "Invalid request (`invalid_request_error`): a body field or header is malformed; "
    "`param` names it.",
    401: "No API key, or an unknown or revoked one (`authentication_error`).",
    403: "The API key lacks this route's scope (`permission_denied`).",
    404: "The request names something that does not exist (`not_found`): a stored document, "
    "an ingestion job, or a model this graph serves (see /v1/models).",
    413: "Request too large (`payload_too_large`): the body is over the byte limit, or the "
    "documents' text over the per-request budget; split it over several requests.",
    429: "The API key is over its rate limit (`rate_limited`); retry after `Retry-After`.",
    500: "A bug (`internal_error`); quote the request id when reporting it.",
    503: "Shed under load (`overloaded`) or a stage is down (`stage_unavailable`); retry after "
    "`Retry-After`.",
    504: "The request's deadline passed before its answer was ready (`deadline_exceeded`); its "
    "work was cancelled.",
}
_REQUEST_ID = {
    "description": "The request's id: the caller's X-Request-Id when usable, else a new one.",
    "required": True,
    "schema": {"type": "string"},
}
_RETRY_AFTER = {
    "description": "Seconds to wait before retrying.",
    "required": True,
    "schema": {"type": "integer", "minimum": 1},
}
_WWW_AUTHENTICATE = {
    "description": "How to authenticate (`Bearer`).",
    "required": False,
    "schema": {"type": "string"},
}


class ErrorDetail(BaseModel):
    """What went wrong, for people and programs."""

    model_config = ConfigDict(extra="forbid")

    type: str = Field(
        description="The kind of error: invalid_request_error, authentication_error, "
        "permission_denied, not_found, method_not_allowed, payload_too_large, rate_limited, "
        "internal_error, stage_unavailable, overloaded, deadline_exceeded, ..."
    )
    message: str = Field(description="What went wrong and how to fix it.")
    param: str | None = Field(
        description="The parameter at fault, if any: a dotted path into the body (e.g. "
        "`documents.3.text`) or a header's name."
    )
    code: str = Field(description="The same as `type` (OpenAI's clients read `code`).")
    request_id: str = Field(description="The request's id (as in X-Request-Id); quote it.")


class ErrorBody(BaseModel):
    """The body of every error reply."""

    model_config = ConfigDict(extra="forbid")

    error: ErrorDetail = Field(description="The error.")


class HealthBody(BaseModel):
    """The body of ``GET /healthz``."""

    model_config = ConfigDict(extra="forbid")

    status: Literal["ok", "starting"] = Field(
        description="ok (200): every deployment is healthy; starting (503): not yet, or not "
        "any more."
    )
    deployments: dict[str, str] = Field(description="Each deployment's status, by name.")


def metadata_schemas(depth: int = MAX_METADATA_DEPTH) -> dict[str, dict[str, Any]]:
    """Components describing a document's ``metadata`` values as the server accepts them
    (:func:`deployments.ingress.schemas.check_metadata`): JSON whose integers fit 64 bits,
    nested at most ``depth`` levels, one named schema per level (``MetadataValue1`` holds
    the object's values). Its size limit (413 past it) is said in the description only.

    >>> sorted(metadata_schemas(2))
    ['MetadataValue1', 'MetadataValue2']
    >>> metadata_schemas(2)["MetadataValue2"]["anyOf"][-1]
    {'type': 'object', 'maxProperties': 0}
    """
    scalars: list[dict[str, Any]] = [
        {"type": "string"},
        {"type": "integer", "minimum": INT64[0], "maximum": INT64[1]},
        {"type": "number", "not": {"type": "integer"}},
        {"type": "boolean"},
        {"type": "null"},
    ]
    defs: dict[str, dict[str, Any]] = {}
    for level in range(depth, 0, -1):
        if level == depth:  # a value here may be a container, but an empty one
            containers = [{"type": "array", "maxItems": 0}, {"type": "object", "maxProperties": 0}]
        else:
            inner = {"$ref": _REF.format(model=f"MetadataValue{level + 1}")}
            containers = [
                {"type": "array", "items": inner},
                {"type": "object", "additionalProperties": inner},
            ]
        defs[f"MetadataValue{level}"] = {"anyOf": [*scalars, *containers]}
    return defs


def _metadata_property(description: str) -> dict[str, Any]:
    values = {"$ref": _REF.format(model="MetadataValue1")}
    return {
        "anyOf": [{"type": "object", "additionalProperties": values}, {"type": "null"}],
        "description": f"{description} Over {MAX_METADATA_BYTES:,} bytes: 413.",
    }


def error_statuses(path: str, operation: dict[str, Any]) -> list[int]:
    """The error statuses ``operation`` (of FastAPI's document) can answer.

    >>> error_statuses("/v1/query", {"requestBody": {"required": True}})
    [400, 401, 403, 413, 429, 500, 503, 504]
    >>> error_statuses("/healthz", {})
    [500]
    """
    statuses = {500}
    if "requestBody" in operation or operation.get("parameters"):
        statuses.add(400)
    if "requestBody" in operation:
        statuses.add(413)  # the body limit, and text over the documents' budget
    if path.startswith(GRAPH_PREFIX):
        statuses |= {401, 403, 429, 503, 504}
    if path == CHAT_PATH or "{" in path:  # a model, or a document or job in the path
        statuses.add(404)
    return sorted(statuses)


def _json(model: type[BaseModel]) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": _REF.format(model=model.__name__)}}}


def _error_response(status: int) -> dict[str, Any]:
    headers = {"X-Request-Id": _REQUEST_ID}
    if status in (429, 503):
        headers["Retry-After"] = _RETRY_AFTER
    if status == 401:
        headers["WWW-Authenticate"] = _WWW_AUTHENTICATE
    return {"description": ERRORS[status], "headers": headers, "content": _json(ErrorBody)}


def _components(*models: type[BaseModel]) -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    for model in models:
        schema = model.model_json_schema(ref_template=_REF)
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    return schemas


def truthful(
    document: dict[str, Any], *, max_deadline_s: float, model_id: str = "rag"
) -> dict[str, Any]:
    """``document`` (FastAPI's) rewritten to say what the server answers (a new dict).

    Args:
        document: What FastAPI generated.
        max_deadline_s: The longest ``X-Request-Timeout`` the ingress accepts.
        model_id: The one model the chat route serves (its ``model`` must be it).
    """
    doc = copy.deepcopy(document)
    components = doc.setdefault("components", {}).setdefault("schemas", {})
    for name in _FASTAPI_422:
        components.pop(name, None)
    components.update(_components(ErrorBody, HealthBody, ChatCompletionChunk))
    chat_model = components.get("ChatCompletionRequest", {}).get("properties", {}).get("model")
    if chat_model is not None:
        chat_model["enum"] = [model_id]
    document_in = components.get("DocumentIn", {}).get("properties", {})
    if "metadata" in document_in:
        components.update(metadata_schemas())
        described = document_in["metadata"].get("description", "")
        document_in["metadata"] = _metadata_property(described)
    for path, operations in doc.get("paths", {}).items():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            for status in error_statuses(path, operation):
                responses[str(status)] = _error_response(status)
            if path == HEALTH_PATH:
                responses["200"] = {"description": "Every deployment is healthy."}
                responses["503"] = {"description": "Not ready (yet)."}
                for status in ("200", "503"):
                    responses[status]["content"] = _json(HealthBody)
            for response in responses.values():
                response.setdefault("headers", {})["X-Request-Id"] = _REQUEST_ID
            for param in operation.get("parameters", []):
                if param.get("in") == "header" and param.get("name") == DEADLINE_HEADER:
                    param["schema"] = {
                        "type": "number",
                        "exclusiveMinimum": 0,
                        "maximum": max_deadline_s,
                        "description": param.get("schema", {}).get("description", ""),
                    }
    return doc


def install_openapi(app: FastAPI, *, max_deadline_s: float, model_id: str = "rag") -> None:
    """Make ``app.openapi()`` (and ``/openapi.json``, ``/docs``) serve :func:`truthful`'s
    document, built once on first use.

    Args:
        app: The ingress app, its routes included.
        max_deadline_s: The longest ``X-Request-Timeout`` the ingress accepts.
        model_id: The model the chat route serves.
    """
    generate = app.openapi  # FastAPI's own (it caches in app.openapi_schema)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = truthful(
                generate(), max_deadline_s=max_deadline_s, model_id=model_id
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
