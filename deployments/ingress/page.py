"""The chat page: static files (no build step, nothing loaded from elsewhere) served by the
ingress next to its API.

``GET /`` answers ``static/index.html``; its script and stylesheet are under ``/static/``.
The page talks to the same origin's OpenAI-compatible API (``/v1/models``,
``/v1/chat/completions`` streamed, ``/v1/documents``) with relative URLs, so it also
works under a route prefix that ends in ``/``.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from starlette.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).parent / "static"
INDEX = STATIC_DIR / "index.html"
STATIC_PATH = "/static"

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
"""Everything from this origin, no inline script or style: a browser blocks any resource
the page would fetch from elsewhere (the end-to-end test would see it missing)."""
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",  # revalidate, so a redeploy's page is picked up
}


def install_page(api: FastAPI) -> None:
    """Serve the chat page at ``GET /`` and its assets under ``/static/`` on ``api``.

    Neither appears in the OpenAPI document; a missing asset is a 404.

    >>> api = FastAPI()
    >>> install_page(api)
    >>> sorted(r.path for r in api.routes if r.path in ("/", STATIC_PATH))
    ['/', '/static']
    """

    @api.get("/", include_in_schema=False)
    async def chat_page() -> FileResponse:
        return FileResponse(INDEX, media_type="text/html; charset=utf-8", headers=PAGE_HEADERS)

    api.mount(STATIC_PATH, StaticFiles(directory=STATIC_DIR), name="static")
