"""Unit tests of the mechanical conversation building of the multi-turn evaluation (no
models are loaded: ``graph.evaluation.multiturn`` imports the pipeline only in ``main``)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from deployments.types import Hit
from graph.evaluation.multiturn import (
    VARIANTS,
    Conversation,
    build_conversation,
    choose_pronoun,
    display_name,
    load_conversations,
    markdown,
    pronominalise,
    score,
    summarise,
)

PARAGRAPHS = {
    "Pepper Keenan": "Pepper Keenan is an American musician. He is the guitarist of Down.",
    "Rob Parissi": "Rob Parissi is a singer. He wrote a hit song.",
    "Poleconomy": "Poleconomy is a board game. It was released in 1983.",
    "Tinted Windows (band)": "Tinted Windows is a band. They released one album; their tour...",
    "Marie Curie": "Marie Curie was a physicist. She won two Nobel prizes; her work...",
}


def test_importing_the_module_loads_no_model_code():
    code = (
        "import sys, graph.evaluation.multiturn; "
        "print(sorted(m for m in ('torch', 'graph.evaluation.pipeline') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("title", "name"),
    [
        ("Tinted Windows (band)", "Tinted Windows"),
        ("Down (band) (album)", "Down (band)"),
        ("Poleconomy", "Poleconomy"),
        ("(band)", "(band)"),
    ],
)
def test_display_name_drops_a_trailing_disambiguation(title, name):
    assert display_name(title) == name


@pytest.mark.parametrize(
    ("title", "pronoun"),
    [
        ("Pepper Keenan", "he"),
        ("Poleconomy", "it"),
        ("Tinted Windows (band)", "they"),
        ("Marie Curie", "she"),
    ],
)
def test_pronoun_comes_from_the_entitys_own_paragraph(title, pronoun):
    assert choose_pronoun(PARAGRAPHS[title]) == pronoun


def test_no_pronoun_at_all_gives_it():
    assert choose_pronoun("") == "it"


@pytest.mark.parametrize(
    ("question", "name", "pronoun", "expected"),
    [
        ("Pepper Keenan founded which band?", "Pepper Keenan", "he", "He founded which band?"),
        ("Which band did Pepper Keenan found?", "Pepper Keenan", "he", "Which band did he found?"),
        ("Who played with Pepper Keenan?", "Pepper Keenan", "he", "Who played with him?"),
        ("What is Pepper Keenan's band?", "Pepper Keenan", "he", "What is his band?"),
        ("Where is Tinted Windows' label?", "Tinted Windows", "they", "Where is their label?"),
        ('Which came first, "Poleconomy" or X?', "Poleconomy", "it", "Which came first, it or X?"),
        ("Where was the Poleconomy sold?", "Poleconomy", "it", "Where was it sold?"),
        ("Who wrote for Marie Curie and Marie Curie's lab?", "marie curie", "she",
         "Who wrote for her and her lab?"),
        ("Was Poleconomyx sold?", "Poleconomy", "it", "Was Poleconomyx sold?"),  # whole words
    ],
)  # fmt: skip
def test_pronominalise(question, name, pronoun, expected):
    assert pronominalise(question, name, pronoun) == expected


def test_build_conversation_for_a_comparison_question():
    question = "Who was born first, Pepper Keenan or Rob Parissi?"
    conv = build_conversation(
        "q1", question, ["Rob Parissi", "Pepper Keenan"], PARAGRAPHS, type="comparison"
    )
    assert conv is not None
    # The earliest mentioned gold title is the entity, whatever the qrels order.
    assert conv.entity == "Pepper Keenan"
    assert conv.pronoun == "he"
    assert conv.history == (
        ("user", "Tell me about Pepper Keenan."),
        ("assistant", "Pepper Keenan is an American musician."),
    )
    assert conv.follow_up == "Who was born first, he or Rob Parissi?"
    assert conv.original == question
    assert conv.gold == ("Rob Parissi", "Pepper Keenan")
    assert conv.type == "comparison"


def test_build_conversation_matches_titles_without_disambiguation():
    conv = build_conversation(
        "q2", "The band Tinted Windows toured where?", ["Tinted Windows (band)", "X"], PARAGRAPHS
    )
    assert conv is not None and conv.follow_up == "The band they toured where?"
    assert conv.history[0] == ("user", "Tell me about Tinted Windows.")


def test_question_mentioning_no_gold_title_is_skipped():
    assert build_conversation("q3", "Who founded it?", ["Poleconomy", "X"], PARAGRAPHS) is None


def test_missing_paragraph_still_builds_with_it():
    conv = build_conversation("q4", "When was Foo released?", ["Foo", "Bar"], {})
    assert conv is not None
    assert (conv.pronoun, conv.follow_up, conv.history[1]) == (
        "it",
        "When was it released?",
        ("assistant", ""),
    )


def test_queries_are_follow_up_rules_and_original():
    conv = build_conversation(
        "q1", "Which band did Pepper Keenan found?", ["Pepper Keenan", "Down"], PARAGRAPHS
    )
    assert isinstance(conv, Conversation)
    queries = conv.queries()
    assert tuple(queries) == VARIANTS
    assert queries == {
        "follow_up": "Which band did he found?",
        "rules": "Which band did Pepper Keenan found?",
        "original": "Which band did Pepper Keenan found?",
    }


def _hits(*doc_ids: str) -> list[Hit]:
    return [Hit(f"{d}#{i}", d, d, "", 1.0 / (i + 1)) for i, d in enumerate(doc_ids)]


def test_score_counts_distinct_documents_in_the_top_k():
    hits = _hits("a", "a", "b", "c")
    assert score(["a", "b"], hits, k=2) == (1.0, True)
    assert score(["a", "c"], hits, k=2) == (0.5, False)
    assert score(["x", "y"], hits) == (0.0, False)
    assert score(["a", "b"], []) == (0.0, False)


def test_summarise_handles_no_rows():
    assert summarise([]) == {"n": 0, "recall@10": 0.0, "complete@10": 0.0}


def test_markdown_has_one_row_per_mode_and_variant():
    metrics = {
        "n": 2,
        "recall@10": 0.5,
        "complete@10": 0.25,
        "by_type": {"bridge": {"complete@10": 0.5}},
    }
    report = {
        "dataset": "hotpotqa",
        "split": "dev",
        "conversations": 2,
        "skipped": 1,
        "rewrites": {"changed": 2, "equal_original": 1},
        "command": "python -m graph.evaluation.multiturn --limit 3",
        "modes": {"full": {v: metrics for v in VARIANTS}},
    }
    table = markdown(report)
    assert table.count("| full |") == len(VARIANTS)
    assert "| full | rules | 0.500 | 0.250 | 0.500 |" in table
    assert "`python -m graph.evaluation.multiturn --limit 3`" in table


def test_load_conversations_from_a_tiny_beir_folder(tmp_path):
    (tmp_path / "qrels").mkdir()
    corpus = [{"_id": t, "title": t, "text": p} for t, p in PARAGRAPHS.items()]
    (tmp_path / "corpus.jsonl").write_text("\n".join(json.dumps(d) for d in corpus))
    queries = [
        {"_id": "q1", "text": "Who was born first, Pepper Keenan or Rob Parissi?",
         "metadata": {"type": "comparison"}},
        {"_id": "q2", "text": "Which physicist won twice?", "metadata": {"type": "bridge"}},
        {"_id": "q3", "text": "When was Poleconomy released?", "metadata": {"type": "bridge"}},
    ]  # fmt: skip
    (tmp_path / "queries.jsonl").write_text("\n".join(json.dumps(q) for q in queries))
    (tmp_path / "qrels" / "dev.tsv").write_text(
        "query-id\tcorpus-id\tscore\n"
        "q1\tPepper Keenan\t1\nq1\tRob Parissi\t1\n"
        "q2\tMarie Curie\t1\nq2\tPoleconomy\t1\n"
        "q3\tPoleconomy\t1\nq3\tMarie Curie\t1\n"
    )
    conversations, skipped, data = load_conversations(tmp_path, "dev", limit=2)
    assert [c.qid for c in conversations] == ["q1"]
    assert skipped == 1  # q2 names no gold title; q3 is beyond the limit
    assert conversations[0].type == "comparison"
    assert len(data.documents) == len(PARAGRAPHS)
    everything, skipped, _ = load_conversations(tmp_path, "dev", limit=None)
    assert [c.qid for c in everything] == ["q1", "q3"] and skipped == 1
