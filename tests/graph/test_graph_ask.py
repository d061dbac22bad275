"""graph.ask's rendering of a reply."""

from __future__ import annotations

from graph.ask import render

REPLY = {
    "route": "simple",
    "generator": "extractive",
    "request_id": "r1",
    "answer": "Tides come from the Moon. [1]",
    "citations": [
        {
            "doc_id": "tides",
            "chunk_id": "tides#0000",
            "title": "Ocean tides",
            "text": "T.",
            "score": 0.0164,
        },
        {"doc_id": "a" * 64, "chunk_id": "a#0001", "title": "", "text": "U.", "score": 0.01},
    ],
    "timings_ms": {"retrieve": 40.2, "total": 120.0},
}


def test_citations_are_named_by_title_else_by_id() -> None:
    text = render(REPLY)
    assert "[1] Ocean tides  #0000  score=0.0164" in text
    assert f"[2] {'a' * 40}  #0001" in text
    assert "timings: retrieve=40ms  total=120ms" in text
