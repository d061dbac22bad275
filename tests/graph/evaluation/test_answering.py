"""Agent selection accuracy from the agents' traces."""

from __future__ import annotations

from graph.evaluation.answering import selection_accuracy


def trace(first: str, kind: str) -> dict:
    return {"chosen": [first], "agents": [{"agent": first, "kind": kind}]}


def test_selection_accuracy_counts_right_kinds_per_type():
    traces = {
        "b1": trace("multihop", "graph"),
        "b2": trace("lookup", "lookup"),
        "c1": trace("comparison", "comparison"),
        "x": trace("lookup", "lookup"),  # untyped: not counted
    }
    out = selection_accuracy(traces, {"b1": "bridge", "b2": "bridge", "c1": "comparison"})
    assert out["accuracy"] == 2 / 3
    assert out["by_type"] == {"bridge": 0.5, "comparison": 1.0}
    assert out["chosen"] == {
        "bridge": {"multihop": 1, "lookup": 1},
        "comparison": {"comparison": 1},
    }
    assert out["questions"] == 3


def test_no_typed_question_gives_no_accuracy():
    assert selection_accuracy({"q": trace("lookup", "lookup")}, {})["accuracy"] is None
