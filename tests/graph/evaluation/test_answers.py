"""Answer-quality metrics: completeness@k, SQuAD/HotpotQA scores, grouping, groundedness."""

from __future__ import annotations

import pytest

from graph.evaluation.answers import (
    abstention_scores,
    answer_span_scores,
    best_answer_scores,
    by_type,
    complete_at,
    exact_match,
    f1,
    groundedness,
    normalize_answer,
)

# complete_at


def test_complete_at_needs_every_relevant_document_in_top_k():
    qrels = {"q": {"a": 1, "b": 2}}
    run = {"q": {"a": 0.9, "x": 0.8, "b": 0.7}}
    assert complete_at(qrels, run, 2) == 0.0
    assert complete_at(qrels, run, 3) == 1.0


def test_complete_at_k_larger_than_run():
    assert complete_at({"q": {"a": 1}}, {"q": {"a": 0.1}}, 100) == 1.0
    assert complete_at({"q": {"a": 1, "b": 1}}, {"q": {"a": 0.1}}, 100) == 0.0


def test_complete_at_missing_queries_count_as_incomplete():
    qrels = {"q1": {"a": 1}, "q2": {"b": 1}, "q3": {"c": 1}, "q4": {"d": 1}}
    assert complete_at(qrels, {"q1": {"a": 1.0}}, 10) == 0.25
    assert complete_at(qrels, {}, 10) == 0.0


def test_complete_at_skips_queries_without_relevant_documents():
    qrels = {"q1": {"a": 1, "n": 0}, "q2": {"b": 0}, "q3": {}}
    assert complete_at(qrels, {"q1": {"a": 1.0}}, 1) == 1.0
    assert complete_at({"q": {"b": 0}}, {"q": {"b": 1.0}}, 1) == 0.0


def test_complete_at_ignores_unjudged_run_queries_and_zero_graded_docs():
    qrels = {"q": {"a": 1, "z": 0}}
    run = {"q": {"a": 1.0, "z": 0.5}, "other": {"x": 1.0}}
    assert complete_at(qrels, run, 1) == 1.0


def test_complete_at_breaks_ties_by_doc_id():
    run = {"q": {"b": 1.0, "a": 1.0, "c": 1.0}}
    assert complete_at({"q": {"a": 1}}, run, 1) == 1.0
    assert complete_at({"q": {"b": 1}}, run, 1) == 0.0
    assert complete_at({"q": {"b": 1}}, run, 2) == 1.0


def test_complete_at_rejects_non_positive_k():
    with pytest.raises(ValueError):
        complete_at({"q": {"a": 1}}, {"q": {"a": 1.0}}, 0)


# normalize_answer, exact_match, f1


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("The Beatles", "beatles"),
        ("a cat and an apple", "cat and apple"),
        ("Theatre", "theatre"),  # articles only as whole words
        ("  Hello,\tWORLD!!  ", "hello world"),
        ("U.S.A.", "usa"),
        ("", ""),
        ("the a an", ""),
    ],
)
def test_normalize_answer(raw, normalized):
    assert normalize_answer(raw) == normalized


def test_exact_match():
    assert exact_match("The Beatles!", "beatles") == 1.0
    assert exact_match("Beatles band", "Beatles") == 0.0
    assert exact_match("", "") == 1.0


def test_f1_token_overlap():
    assert f1("Eiffel Tower", "the Eiffel Tower") == 1.0
    assert f1("Eiffel Tower", "Eiffel Tower Paris") == pytest.approx(0.8)
    assert f1("Paris", "London") == 0.0


def test_f1_counts_repeated_tokens_once_each():
    # common = min counts: one "new" shared; precision 1/2, recall 1/3
    assert f1("new new", "new york city") == pytest.approx(0.4)


def test_f1_yes_no_answers_score_zero_unless_equal():
    assert f1("yes", "yes") == 1.0
    assert f1("Yes.", "yes") == 1.0
    assert f1("yes it is", "yes") == 0.0
    assert f1("yes", "yes it is") == 0.0
    assert f1("no", "no way") == 0.0
    assert f1("noanswer", "the answer") == 0.0


def test_f1_empty_answers():
    assert f1("", "") == 1.0
    assert f1("the", "") == 1.0
    assert f1("Paris", "") == 0.0
    assert f1("", "Paris") == 0.0


# best_answer_scores, answer_span_scores


def test_best_answer_scores():
    assert best_answer_scores("The Eiffel Tower", "eiffel tower") == {"em": 1.0, "f1": 1.0}
    scores = best_answer_scores("Eiffel Tower", "Eiffel Tower Paris")
    assert scores["em"] == 0.0 and scores["f1"] == pytest.approx(0.8)


def test_best_answer_scores_takes_best_over_aliases():
    scores = best_answer_scores("Big Apple city", ["New York City", "the Big Apple"])
    assert scores["em"] == 0.0 and scores["f1"] == pytest.approx(0.8)
    with pytest.raises(ValueError):
        best_answer_scores("x", [])


def test_answer_span_scores_contains_gold_in_a_sentence():
    scores = answer_span_scores("The tower was designed by Gustave Eiffel.", "Gustave Eiffel")
    assert scores["em"] == 0.0 and 0.0 < scores["f1"] < 1.0 and scores["contains"] == 1.0


@pytest.mark.parametrize(
    ("prediction", "gold", "contains"),
    [
        ("Eiffel designed it", "Gustave Eiffel", 0.0),  # all tokens needed
        ("Eiffel Gustave did", "Gustave Eiffel", 0.0),  # in order
        ("Gustave, the engineer Eiffel", "Gustave Eiffel", 0.0),  # contiguous
        ("He studied the Martian soil", "art", 0.0),  # whole tokens only
        ("It is the Beatles!", "Beatles", 1.0),
        ("Yes, it was.", "yes", 1.0),
        ("Paris", "Paris", 1.0),
        ("anything", "", 0.0),  # empty gold never contained
        ("anything", "the", 0.0),  # gold empty after normalisation
        ("", "Paris", 0.0),
    ],
)
def test_answer_span_contains(prediction, gold, contains):
    assert answer_span_scores(prediction, gold)["contains"] == contains


def test_answer_span_scores_keys_and_aliases():
    scores = answer_span_scores("It is in NYC.", ["New York", "NYC"])
    assert set(scores) == {"em", "f1", "contains"} and scores["contains"] == 1.0


# by_type


def test_by_type_groups_and_counts():
    per_query = {
        "q1": {"em": 1.0, "f1": 1.0},
        "q2": {"em": 0.0, "f1": 0.5},
        "q3": {"em": 0.0, "f1": 0.0},
        "q4": {"em": 1.0, "f1": 1.0},
    }
    types = {"q1": "bridge", "q2": "bridge", "q3": "comparison", "other": "bridge"}
    result = by_type(per_query, types)
    assert list(result) == ["all", "bridge", "comparison"]
    assert result["all"] == pytest.approx({"em": 0.5, "f1": 0.625, "queries": 4})
    assert result["bridge"] == pytest.approx({"em": 0.5, "f1": 0.75, "queries": 2})
    assert result["comparison"] == {"em": 0.0, "f1": 0.0, "queries": 1}


def test_by_type_skips_missing_and_none_metrics():
    per_query = {"q1": {"em": 1.0, "contains": None}, "q2": {"em": 0.0, "contains": 1.0}}
    assert by_type(per_query, {}) == {"all": {"em": 0.5, "contains": 1.0, "queries": 2}}


def test_by_type_empty_and_reserved_type():
    assert by_type({}, {}) == {"all": {"queries": 0}}
    with pytest.raises(ValueError):
        by_type({"q": {"em": 1.0}}, {"q": "all"})


# groundedness, abstention_scores


def test_groundedness_pools_sentences():
    assert groundedness([[True, True, True], [False]]) == 0.75
    assert groundedness([[True], [False], [], [True]]) == pytest.approx(2 / 3)


def test_groundedness_without_sentences_is_one():
    assert groundedness([]) == 1.0
    assert groundedness([[], []]) == 1.0


def test_abstention_scores():
    scores = abstention_scores([True, False], [False, False, False, True])
    assert scores == {"abstention": 0.5, "false_abstention": 0.25}


def test_abstention_scores_empty_lists_are_none():
    assert abstention_scores([], []) == {"abstention": None, "false_abstention": None}
    assert abstention_scores([True], []) == {"abstention": 1.0, "false_abstention": None}
