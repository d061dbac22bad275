"""Turning every failure into the contract's error body: ``{"error": {type, message, param}}``."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from deployments.errors import RagError

logger = logging.getLogger(__name__)


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
    msg = err.get("msg", "invalid value")
    if "input" in err and kind not in ("string_too_long",):
        bad = repr(err["input"])
        msg = f"{msg} (got {bad[:80] + '…' if len(bad) > 80 else bad})"
    return (f"{param}: {msg}" if param else msg), param


def _error(status: int, kind: str, message: str, param: str | None) -> JSONResponse:
    return JSONResponse(
        status_code=status, content={"error": {"type": kind, "message": message, "param": param}}
    )


def unwrap(exc: BaseException) -> BaseException:
    """The original exception behind Ray's ``RayTaskError`` wrapping, if any."""
    cause = getattr(exc, "cause", None)
    return cause if isinstance(cause, BaseException) else exc


def error_response(exc: BaseException) -> JSONResponse:
    """The response for an exception raised by a stage (RagError: its status; else 500)."""
    original = unwrap(exc)
    if isinstance(original, RagError):
        return JSONResponse(status_code=original.status_code, content=original.to_dict())
    logger.error("stage failed: %r", original, exc_info=original)
    return _error(500, "internal_error", f"internal error: {type(original).__name__}", None)


def install_error_handlers(app: FastAPI) -> None:
    """Map validation errors to 400, RagErrors to their status, anything else to 500."""

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        message, param = (
            describe_validation_error(errors[0]) if errors else ("invalid request", None)
        )
        if len(errors) > 1:
            message += f" (and {len(errors) - 1} more problem(s))"
        return _error(400, "invalid_request_error", message, param)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = "not_found" if exc.status_code == 404 else "invalid_request_error"
        return _error(exc.status_code, kind, str(exc.detail), None)

    @app.exception_handler(RagError)
    async def _rag(request: Request, exc: RagError) -> JSONResponse:
        return error_response(exc)
