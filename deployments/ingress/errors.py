"""Turning every failure into the contract's error body.

Every error reply is ``{"error": {"type", "message", "param", "request_id"}}`` with the
``X-Request-Id`` header, plus the error's own headers (``Retry-After`` on 429/503,
``Allow`` on 405, ``WWW-Authenticate`` on 401). Validation errors are 400 (not FastAPI's
422), Ray's own failures are mapped to the graph's errors (:func:`as_rag_error`), and
anything unexpected is a 500 ``internal_error`` that names the exception's type only:
no stack trace or message leaves the server (it is logged).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from deployments.calls import as_stage_error
from deployments.errors import PayloadTooLargeError, RagError
from deployments.ingress.context import request_id, usable_id

logger = logging.getLogger(__name__)

REQUEST_ID_HEADER = "X-Request-Id"
PAYLOAD_TOO_LARGE = PayloadTooLargeError.error_type
"""Type of the pydantic errors (``PydanticCustomError``) the schemas raise for text over
the request's budget: they are answered 413, not 400."""
_HTTP_TYPES = {404: "not_found", 405: "method_not_allowed", 413: PAYLOAD_TOO_LARGE}


def _param(loc: Sequence[Any]) -> str | None:
    parts = [str(p) for p in loc if p != "body"]
    return ".".join(parts) or None


def describe_validation_error(
    err: dict[str, Any], fields: Sequence[str] = ()
) -> tuple[str, str | None]:
    """A readable message and the parameter name for one pydantic error.

    >>> describe_validation_error({"type": "extra_forbidden", "loc": ("body", "foo"),
    ...                            "msg": "Extra inputs are not permitted", "input": 1})
    ("unknown field 'foo'; remove it", 'foo')
    >>> describe_validation_error({"type": "string_type", "loc": ("body", "query"),
    ...                            "msg": "Input should be a valid string", "input": 3})
    ('query: Input should be a valid string (got 3)', 'query')
    >>> describe_validation_error({"type": "model_attributes_type", "loc": ("body",),
    ...                            "msg": "Input should be a valid dictionary", "input": b"q=1"})
    ('send the body as a JSON object, with Content-Type: application/json', None)
    """
    param = _param(err.get("loc", ()))
    kind = err.get("type", "")
    if kind == "extra_forbidden":
        allowed = f"; allowed fields: {', '.join(fields)}" if fields else "; remove it"
        return f"unknown field {param!r}{allowed}", param
    if kind == "json_invalid":
        return (
            f"request body is not valid JSON ({err.get('ctx', {}).get('error', 'parse error')})",
            None,
        )
    if kind == "missing":
        return f"{param or 'body'} is required", param
    if kind == "model_attributes_type" and isinstance(err.get("input"), bytes | str):
        return "send the body as a JSON object, with Content-Type: application/json", param
    msg = err.get("msg", "invalid value").removeprefix("Value error, ")
    if "input" in err and kind not in ("string_too_long", PAYLOAD_TOO_LARGE):
        bad = repr(err["input"])
        msg = f"{msg} (got {bad[:80] + '…' if len(bad) > 80 else bad})"
    return (f"{param}: {msg}" if param else msg), param


def error_body(
    kind: str, message: str, param: str | None, request_id: str
) -> dict[str, dict[str, str | None]]:
    """The contract's JSON error body (OpenAI's ``type, message, param, code``, the code
    repeating the type, plus the request id).

    >>> sorted(error_body("not_found", "Not Found", None, "r1")["error"].items())
    [('code', 'not_found'), ('message', 'Not Found'), ('param', None), ('request_id', 'r1'), ...]
    """
    return {
        "error": {
            "type": kind,
            "message": message,
            "param": param,
            "code": kind,
            "request_id": request_id,
        }
    }


def _reply(
    status: int,
    kind: str,
    message: str,
    param: str | None,
    rid: str,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(
        status_code=status,
        content=error_body(kind, message, param, rid),
        headers={**(headers or {}), REQUEST_ID_HEADER: rid},
    )


def unwrap(exc: BaseException) -> BaseException:
    """The original exception behind Ray's ``RayTaskError`` wrapping, if any."""
    cause = getattr(exc, "cause", None)
    return cause if isinstance(cause, BaseException) else exc


def as_rag_error(exc: BaseException) -> RagError | None:
    """The graph's error for ``exc``: a :class:`RagError` as raised (also from inside a
    ``RayTaskError``), Ray's own failures mapped by :func:`deployments.calls.as_stage_error`
    (back-pressure 503, dead replica 503, cancelled 504), None for anything else (a bug:
    500).

    >>> from ray.serve.exceptions import BackPressureError
    >>> as_rag_error(BackPressureError(num_queued_requests=9, max_queued_requests=8)).status_code
    503
    >>> as_rag_error(KeyError("x")) is None
    True
    """
    original = unwrap(exc)
    if isinstance(original, RagError):
        return original
    mapped = as_stage_error(exc)
    return mapped if isinstance(mapped, RagError) else None


def error_content(exc: BaseException, rid: str) -> tuple[int, dict, dict[str, str]]:
    """(status, body, headers) of the reply for ``exc``: a :class:`RagError` or one of
    Ray's failures gets its own; anything else is a 500 naming only the exception's type,
    and is logged."""
    error = as_rag_error(exc)
    if error is not None:
        body = error_body(error.error_type, error.message, error.param, rid)
        return error.status_code, body, error.headers()
    original = unwrap(exc)
    logger.error("request %s failed: %r", rid, original, exc_info=original)
    message = f"internal error ({type(original).__name__}); report request id {rid} to the operator"
    return 500, error_body("internal_error", message, None, rid), {}


def error_response(exc: BaseException, *, request_id: str | None = None) -> JSONResponse:
    """The reply for an exception a stage (or the edge) raised (:func:`error_content`).

    Args:
        exc: What was raised.
        request_id: The request's id (default: a fresh one; pass the request's own).
    """
    rid = request_id or usable_id(None)
    status, body, headers = error_content(exc, rid)
    return JSONResponse(
        status_code=status, content=body, headers={**headers, REQUEST_ID_HEADER: rid}
    )


def validation_response(errors: Sequence[dict[str, Any]], rid: str) -> JSONResponse:
    """400 for the first problem of a request (413 when the only problems are text over
    the request's budget), naming the parameter and how many more problems there are."""
    too_large = bool(errors) and all(e.get("type") == PAYLOAD_TOO_LARGE for e in errors)
    first = next((e for e in errors if e.get("type") != PAYLOAD_TOO_LARGE), None)
    first = first or (errors[0] if errors else None)
    message, param = describe_validation_error(first) if first else ("invalid request", None)
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more problem(s))"
    if too_large:
        return _reply(413, PAYLOAD_TOO_LARGE, message, param, rid)
    return _reply(400, "invalid_request_error", message, param, rid)


def install_error_handlers(app: FastAPI) -> None:
    """Map validation errors to 400, HTTP errors to their status (with their headers,
    e.g. ``Allow`` on 405), RagErrors and Ray's failures to theirs, anything else to 500."""

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return validation_response(exc.errors(), request_id(request))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        status = exc.status_code
        kind = _HTTP_TYPES.get(status) or (
            "internal_error" if status >= 500 else "invalid_request_error"
        )
        return _reply(status, kind, str(exc.detail), None, request_id(request), exc.headers)

    @app.exception_handler(RagError)
    async def _rag(request: Request, exc: RagError) -> JSONResponse:
        return error_response(exc, request_id=request_id(request))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Starlette's outermost middleware calls this, then re-raises for the server's log.
        return error_response(exc, request_id=request_id(request))
