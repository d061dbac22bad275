"""The request-body size limit, as a pure ASGI middleware.

Not ``BaseHTTPMiddleware``: that runs the app in a separate task and hides the client's
disconnect from the route, so cancelled work would keep running.

A body whose ``Content-Length`` is over the limit is refused before a byte of it is
read. A body without one (chunked) is counted as it streams in; once over the limit the
client gets the 413 at once and the app sees a disconnect, so it stops reading, and
whatever it then tries to reply is dropped.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from deployments.errors import PayloadTooLargeError
from deployments.ingress.context import usable_id
from deployments.ingress.errors import error_body


def too_large(max_body_bytes: int, size: int | None = None) -> PayloadTooLargeError:
    """The 413 for a body over ``max_body_bytes`` (``size``: its declared length).

    >>> too_large(8 * 1024 * 1024, 10_000_000).message.split(";")[0]
    'request body of 10000000 bytes is over the limit of 8388608 bytes (8.0 MiB)'
    """
    what = f"request body of {size} bytes" if size is not None else "request body"
    return PayloadTooLargeError(
        f"{what} is over the limit of {max_body_bytes} bytes "
        f"({max_body_bytes / 1024 / 1024:.1f} MiB); split the documents over several "
        "requests (the operator sets the limit: ingress.security.max_body_bytes)",
        param="body",
    )


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers") or []:
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server refuses a malformed length itself
    return None


async def send_error(send: Send, scope: Scope, exc: PayloadTooLargeError) -> None:
    """Reply ``exc`` as the contract's JSON error body, with the request's id (set by
    the request-id middleware outside this one; made here otherwise)."""
    rid = (scope.get("state") or {}).get("request_id") or usable_id(None)
    content = error_body(exc.error_type, exc.message, exc.param, rid)
    body = json.dumps(content).encode("utf-8")
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode("latin-1")),
        (b"x-request-id", rid.encode("latin-1")),
        (b"connection", b"close"),  # the rest of the body is not read
        *[(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in exc.headers().items()],
    ]
    await send({"type": "http.response.start", "status": exc.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class BodyLimitMiddleware:
    """Refuses request bodies over ``max_body_bytes`` with 413 ``payload_too_large``."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_body_bytes
        declared = _declared_length(scope)
        if declared is not None and declared > limit:
            await send_error(send, scope, too_large(limit, declared))
            return
        received = 0
        refused = started = replied = False

        async def counting_receive() -> Message:
            nonlocal received, refused, replied
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    refused = True
                    if not started:
                        await send_error(send, scope, too_large(limit))
                        replied = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if replied:
                return  # the 413 went out; the app's own reply is dropped
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, counting_receive, guarded_send)
