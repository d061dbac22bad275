from __future__ import annotations

import re

from deployments.common.extractive import extractive_answer, split_sentences
from deployments.types import Hit

HITS = [
    Hit("c1", "d1", "", "Cats purr when content. Milvus stores dense vectors on disk.", 1.0),
    Hit("c2", "d2", "", "Ray Serve scales deployments. Vectors are compared by cosine.", 0.9),
    Hit("c3", "d3", "", "Bananas are yellow. Dense vectors encode meaning.", 0.8),
]


def _passage_sentences() -> dict[int, list[str]]:
    return {n: split_sentences(h.text) for n, h in enumerate(HITS, start=1)}


def test_split_sentences_on_terminal_punctuation_only() -> None:
    assert split_sentences("It costs 3.5 dollars. Then what? Go!") == [
        "It costs 3.5 dollars.",
        "Then what?",
        "Go!",
    ]
    assert split_sentences("  ") == []


def test_answer_copies_sentences_verbatim_and_cites_their_passage() -> None:
    answer = extractive_answer("How are dense vectors stored?", HITS)
    pieces = re.findall(r"(.+?) \[(\d)\](?: |$)", answer)
    assert pieces, answer
    sentences = _passage_sentences()
    for sentence, n in pieces:
        assert sentence in sentences[int(n)], (sentence, n)
    assert ("Milvus stores dense vectors on disk.", "1") in pieces
    assert all("Cats" not in s and "Bananas" not in s for s, _ in pieces)


def test_sentences_keep_passage_order_and_cap() -> None:
    # passage 2 overlaps most (vectors, compared, cosine) but passage 1 is printed first
    answer = extractive_answer("Are dense vectors compared by cosine?", HITS, max_sentences=2)
    assert answer == (
        "Milvus stores dense vectors on disk. [1] Vectors are compared by cosine. [2]"
    )


def test_best_overlap_wins_over_passage_rank() -> None:
    answer = extractive_answer("bananas yellow", HITS, max_sentences=1)
    assert answer == "Bananas are yellow. [3]"


def test_no_overlap_falls_back_to_the_top_passage_opening() -> None:
    assert extractive_answer("quantum chromodynamics", HITS) == "Cats purr when content. [1]"
    # only stop words in the query: no overlap either
    assert extractive_answer("what is it?", HITS) == "Cats purr when content. [1]"


def test_no_passages_says_so() -> None:
    assert "nothing to answer from" in extractive_answer("anything", [])
