"""Server-sent events, as OpenAI-compatible servers stream: ``data: <json>`` lines (pure).

The Generator's vLLM engine streams its chat chunks in this form, and the Ingress streams
its own to HTTP clients the same way, ending with ``data: [DONE]``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

DONE = "[DONE]"


def sse_event(payload: dict[str, Any] | str) -> str:
    """One event: a JSON object (compact, UTF-8 kept) or a literal such as ``[DONE]``.

    >>> sse_event({"a": "é"})
    'data: {"a":"é"}\\n\\n'
    >>> sse_event(DONE)
    'data: [DONE]\\n\\n'
    """
    data = (
        payload
        if isinstance(payload, str)
        else json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    )
    return f"data: {data}\n\n"


def sse_payloads(text: str) -> Iterator[dict[str, Any] | str]:
    """The payloads of the events in ``text`` (one or more whole events): parsed JSON
    objects, or the literal ``[DONE]``; comments and other fields are skipped.

    >>> list(sse_payloads('data: {"x": 1}\\n\\n: keep-alive\\n\\ndata: [DONE]\\n\\n'))
    [{'x': 1}, '[DONE]']
    """
    for line in text.splitlines():
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if not data:
            continue
        yield DONE if data == DONE else json.loads(data)
