"""BEIR loading and subsetting."""

from __future__ import annotations

import json

import pytest

from graph.evaluation.beir import load_dataset


@pytest.fixture
def beir(tmp_path):
    docs = [{"_id": f"d{i}", "title": f"T{i}", "text": f"text {i}"} for i in range(10)]
    docs.append({"_id": "empty", "title": "no text", "text": "  "})
    (tmp_path / "corpus.jsonl").write_text("\n".join(json.dumps(d) for d in docs))
    queries = [
        {"_id": "q1", "text": "one", "metadata": {"answer": "7", "type": "bridge"}},
        {"_id": "q2", "text": "two"},
        {"_id": "q3", "text": "unjudged"},
    ]
    (tmp_path / "queries.jsonl").write_text("\n".join(json.dumps(q) for q in queries))
    (tmp_path / "qrels").mkdir()
    (tmp_path / "qrels" / "dev.tsv").write_text(
        "query-id\tcorpus-id\tscore\nq1\td7\t1\nq2\td9\t1\nq2\td8\t2\n"
    )
    return tmp_path


def test_full_dataset_keeps_judged_queries_and_nonempty_docs(beir):
    data = load_dataset(beir, "dev")
    assert data.queries == {"q1": "one", "q2": "two"}
    assert data.qrels == {"q1": {"d7": 1}, "q2": {"d9": 1, "d8": 2}}
    assert [d.doc_id for d in data.documents] == [f"d{i}" for i in range(10)]
    assert data.documents[3].title == "T3"


def test_subset_keeps_relevant_docs_and_fills_with_distractors(beir):
    data = load_dataset(beir, "dev", max_queries=1, max_docs=3)
    assert list(data.queries) == ["q1"]
    assert [d.doc_id for d in data.documents] == ["d7", "d0", "d1"]


def test_missing_split_names_the_available_ones(beir):
    with pytest.raises(FileNotFoundError, match="splits here: dev"):
        load_dataset(beir, "test")


def test_query_metadata_gives_answers_and_types(beir):
    data = load_dataset(beir, "dev")
    assert data.answers() == {"q1": "7"}
    assert data.types() == {"q1": "bridge"}
