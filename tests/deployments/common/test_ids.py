"""Document ids: any Unicode text users give, refused only where no store can hold it."""

from __future__ import annotations

import pytest

from deployments.common.ids import MAX_DOC_ID_BYTES, chunk_id, content_id, id_problem


@pytest.mark.parametrize(
    "doc_id",
    [
        "Tucker's Island, Bermuda",
        "C:\\Users\\me\\notes (final).md",
        "/srv/docs/a b/c.pdf",
        "Zürich — 東京",
        "🚀",
        'say "hi"',
        "x" * MAX_DOC_ID_BYTES,
    ],
)
def test_ids_users_use_are_accepted(doc_id: str) -> None:
    assert id_problem(doc_id) is None


@pytest.mark.parametrize(
    ("doc_id", "fragment"),
    [
        ("", "other than whitespace"),
        (" \t", "other than whitespace"),
        ("a\nb", "control characters"),
        ("nul\x00", "control characters"),
        ("half \ud83d", "unpaired surrogates"),
        ("é" * (MAX_DOC_ID_BYTES // 2 + 1), f"at most {MAX_DOC_ID_BYTES} bytes"),
    ],
)
def test_ids_no_store_can_hold_are_refused(doc_id: str, fragment: str) -> None:
    assert fragment in id_problem(doc_id)


def test_content_and_chunk_ids() -> None:
    assert content_id("same") == content_id("same") != content_id("same ")
    assert content_id("lone \ud800 surrogate")  # hashes without raising
    assert chunk_id("Zürich", 12) == "Zürich#0012"
    assert sorted(chunk_id("d", i) for i in range(12)) == [chunk_id("d", i) for i in range(12)]
