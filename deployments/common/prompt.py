"""Prompt building for grounded, cited answers (pure)."""

from __future__ import annotations

from collections.abc import Sequence

from deployments.types import Hit

SYSTEM_PROMPT = (
    "You answer questions using only the numbered passages provided. Cite the passages "
    "you use with their numbers in square brackets, like [1] or [2][3]. If the passages "
    "do not contain the answer, say so."
)


def format_passages(hits: Sequence[Hit], *, max_chars: int) -> str:
    """Number the passages the way citations refer to them.

    >>> from deployments.types import Hit
    >>> print(format_passages([Hit("c", "d", "Title", "Some text.", 1.0)], max_chars=100))
    [1] Title
    Some text.
    """
    blocks = []
    for n, hit in enumerate(hits, start=1):
        text = hit.text if len(hit.text) <= max_chars else hit.text[: max_chars - 1] + "…"
        head = f"[{n}] {hit.title}".rstrip()
        blocks.append(f"{head}\n{text}")
    return "\n\n".join(blocks)


def build_messages(query: str, hits: Sequence[Hit], *, max_chars: int) -> list[dict[str, str]]:
    """Chat messages asking for an answer to ``query`` grounded in ``hits``.

    >>> msgs = build_messages("Why?", [], max_chars=100)
    >>> [m["role"] for m in msgs]
    ['system', 'user']
    """
    passages = format_passages(hits, max_chars=max_chars) or "(no passages were found)"
    user = f"Passages:\n\n{passages}\n\nQuestion: {query}\nAnswer with citations:"
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]
