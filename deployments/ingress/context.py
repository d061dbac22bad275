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
_RAW = HEADER.encode("latin-1")
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
    one ``X-Request-Id`` header.

    Args:
        app: The app.
        echo: Send the header. Behind Serve's proxy, which takes the same header from the
            request (making one when absent) and adds it to every reply itself, this is
            False and the app's own copies are removed, so a reply has exactly one.
    """

    def __init__(self, app: ASGIApp, echo: bool = True) -> None:
        self.app = app
        self.echo = echo

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        raw = headers.get(_RAW)
        rid = usable_id(raw.decode("latin-1") if raw else None)
        scope.setdefault("state", {})["request_id"] = rid

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != _RAW]
                if self.echo:
                    headers.append((_RAW, rid.encode("latin-1")))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_id)
