"""Fixtures shared by the observability tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from ray.serve import context as serve_context


@pytest.fixture
def request_id() -> Iterator[str]:
    """Serve's request context as a replica sets it around a call (``_wrap_request``)."""
    token = serve_context._serve_request_context.set(
        serve_context._RequestContext(request_id="req-42", route="/v1/query", app_name="rag")
    )
    yield "req-42"
    serve_context._serve_request_context.reset(token)
