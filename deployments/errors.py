"""Picklable errors that carry an HTTP status and survive Ray's exception wrapping.

Raw pydantic errors and arbitrary exceptions lose their meaning when Ray re-raises
them in the caller (as ``RayTaskError``). Every error a stage raises on purpose is a
:class:`RagError`: it pickles cleanly, names the offending parameter and says how to
fix it, and the ingress turns it into ``{"error": {"type", "message", "param"}}``
(plus the request id) with a ``Retry-After`` header when the error says when to retry.
"""

from __future__ import annotations

import math


class RagError(Exception):
    """Base class of every error the graph raises on purpose.

    Args:
        message: What went wrong and how to fix it.
        param: The request or config parameter at fault, if any.
        retry_after_s: When a retry may succeed (sent as ``Retry-After``), if known.
    """

    status_code: int = 500
    error_type: str = "internal_error"
    default_retry_after_s: float | None = None

    def __init__(
        self, message: str, *, param: str | None = None, retry_after_s: float | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.retry_after_s = (
            retry_after_s if retry_after_s is not None else (self.default_retry_after_s)
        )

    def __reduce__(self):  # keep keyword-only args across pickling (Ray)
        return (_rebuild, (type(self), self.message, self.param, self.retry_after_s))

    def to_dict(self) -> dict[str, dict[str, str | None]]:
        """The JSON error body of the HTTP contract."""
        return {"error": {"type": self.error_type, "message": self.message, "param": self.param}}

    def headers(self) -> dict[str, str]:
        """HTTP headers of the reply: ``Retry-After`` in whole seconds, rounded up.

        >>> OverloadedError("busy", retry_after_s=1.2).headers()
        {'Retry-After': '2'}
        """
        if self.retry_after_s is None:
            return {}
        return {"Retry-After": str(max(1, math.ceil(self.retry_after_s)))}


def _rebuild(
    cls: type[RagError], message: str, param: str | None, retry_after_s: float | None = None
) -> RagError:
    return cls(message, param=param, retry_after_s=retry_after_s)


class InvalidRequestError(RagError):
    """The request is malformed; the message names the parameter and the fix."""

    status_code = 400
    error_type = "invalid_request_error"


class AuthenticationError(RagError):
    """No API key, or one the graph does not know (401, with ``WWW-Authenticate`` as RFC
    9110 asks, telling the client how to authenticate)."""

    status_code = 401
    error_type = "authentication_error"

    def headers(self) -> dict[str, str]:
        return {**super().headers(), "WWW-Authenticate": 'Bearer realm="rag-serve"'}


class PermissionDeniedError(RagError):
    """The API key lacks the scope the route needs (403)."""

    status_code = 403
    error_type = "permission_denied"


class NotFoundError(RagError):
    """The request names something the graph does not have (404), e.g. an unknown model."""

    status_code = 404
    error_type = "not_found"


class PayloadTooLargeError(RagError):
    """The request is larger than this route accepts (413); the message says what to do."""

    status_code = 413
    error_type = "payload_too_large"


class RateLimitedError(RagError):
    """The API key spent its quota for now (429 with ``Retry-After``)."""

    status_code = 429
    error_type = "rate_limited"
    default_retry_after_s = 1.0


class ConfigError(RagError, ValueError):
    """The application configuration is invalid; raised at start-up."""

    status_code = 500
    error_type = "config_error"


class StageUnavailableError(RagError):
    """A backend (Milvus, the LLM engine, a stage's replicas) cannot serve the request
    right now; retrying later may succeed."""

    status_code = 503
    error_type = "stage_unavailable"
    default_retry_after_s = 2.0


class OverloadedError(RagError):
    """The graph sheds this request: admitting it would miss its deadline or overflow a
    bounded queue (503 with ``Retry-After``)."""

    status_code = 503
    error_type = "overloaded"
    default_retry_after_s = 1.0


class DeadlineExceededError(RagError):
    """The request's deadline passed before its answer was ready; its work was cancelled."""

    status_code = 504
    error_type = "deadline_exceeded"


class StoreError(RagError):
    """Milvus refused a request as malformed: a bug in this project's bounds, not the
    caller's input (which is validated before it reaches the store)."""

    status_code = 500
    error_type = "store_error"
