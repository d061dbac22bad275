"""Per-request context at the edge: the request id every reply and log line carries.

A pure ASGI middleware (not ``BaseHTTPMiddleware``, which would hide a client's
disconnect from the route and so keep cancelled work running) takes the caller's
``X-Request-Id`` when it is usable, or makes one, stores it in the request's state and
echoes it on the reply.
"""

from __future__ import annotations

import uuid

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = "x-request-id"
MAX_ID_CHARS = 128


def usable_id(value: str | None) -> str:
    """``value`` if it is a printable id of at most 128 characters, else a fresh one.

    >>> usable_id("abc-1")
    'abc-1'
    >>> len(usable_id("bad\\nid"))
    32
    """
    if value and len(value) <= MAX_ID_CHARS and value.isprintable() and value.isascii():
        return value
    return uuid.uuid4().hex


def request_id(request: Request) -> str:
    """The id of ``request`` (set by :class:`RequestIdMiddleware`; made here otherwise)."""
    rid = getattr(request.state, "request_id", None)
    if rid is None:
        rid = request.state.request_id = usable_id(request.headers.get(HEADER))
    return rid


class RequestIdMiddleware:
    """Gives every HTTP request an id (``request.state.request_id``) and sends it back as
    ``X-Request-Id``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        raw = headers.get(HEADER.encode("latin-1"))
        rid = usable_id(raw.decode("latin-1") if raw else None)
        scope.setdefault("state", {})["request_id"] = rid

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [
                    *[(k, v) for k, v in message["headers"] if k.lower() != b"x-request-id"],
                    (b"x-request-id", rid.encode("latin-1")),
                ]
            await send(message)

        await self.app(scope, receive, send_with_id)
