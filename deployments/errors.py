"""Picklable errors that carry an HTTP status and survive Ray's exception wrapping.

Raw pydantic errors and arbitrary exceptions lose their meaning when Ray re-raises
them in the caller (as ``RayTaskError``). Every error a stage raises on purpose is a
:class:`RagError`: it pickles cleanly, names the offending parameter and says how to
fix it, and the ingress turns it into ``{"error": {"type", "message", "param"}}``.
"""

from __future__ import annotations


class RagError(Exception):
    """Base class of every error the graph raises on purpose.

    Args:
        message: What went wrong and how to fix it.
        param: The request or config parameter at fault, if any.
    """

    status_code: int = 500
    error_type: str = "internal_error"

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param

    def __reduce__(self):  # keep keyword-only args across pickling (Ray)
        return (_rebuild, (type(self), self.message, self.param))

    def to_dict(self) -> dict[str, dict[str, str | None]]:
        """The JSON error body of the HTTP contract."""
        return {"error": {"type": self.error_type, "message": self.message, "param": self.param}}


def _rebuild(cls: type[RagError], message: str, param: str | None) -> RagError:
    return cls(message, param=param)


class InvalidRequestError(RagError):
    """The request is malformed; the message names the parameter and the fix."""

    status_code = 400
    error_type = "invalid_request_error"


class ConfigError(RagError, ValueError):
    """The application configuration is invalid; raised at start-up."""

    status_code = 500
    error_type = "config_error"


class StageUnavailableError(RagError):
    """A backend (Milvus, the LLM engine) cannot serve the request right now."""

    status_code = 503
    error_type = "stage_unavailable"


class StoreError(RagError):
    """Milvus refused a request as malformed: a bug in this project's bounds, not the
    caller's input (which is validated before it reaches the store)."""

    status_code = 500
    error_type = "store_error"
