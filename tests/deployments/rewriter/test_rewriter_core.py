"""Unit tests of the rule-based rewriter's pure functions."""

from __future__ import annotations

import pickle

import pytest

from deployments.errors import InvalidRequestError
from deployments.rewriter import (
    DEFAULT_ABBREVIATIONS,
    RewriterConfig,
    classify,
    expand,
    normalize,
    rewrite,
    sub_questions,
)

# (query, expected route): scientific claims (SciFact style) and systems questions.
LABELLED = [
    ("0-dimensional biomaterials show inductive properties.", "simple"),
    ("ALDH1 expression is associated with poorer prognosis for breast cancer.", "simple"),
    ("Vitamin D levels are lower in winter than in summer.", "simple"),
    ("Compared with placebo, aspirin reduces the risk of colorectal cancer.", "simple"),
    ("Women with a higher birth weight are more likely to develop breast cancer.", "simple"),
    ("Does salt and pepper intake raise blood pressure?", "simple"),
    ("What is RAG?", "simple"),
    ("How does RRF work?", "simple"),
    ("How do I deploy Ray Serve on k8s?", "simple"),
    ("Why does vLLM run OOM on long prompts", "simple"),
    ("Which genes are involved in DNA repair or replication?", "simple"),
    ("Compare BM25 and dense retrieval for scientific claims", "comparative"),
    ("BM25 vs. dense retrieval on SciFact", "comparative"),
    ("Which is faster, HNSW or IVF?", "comparative"),
    ("Which is better HNSW or IVF?", "comparative"),
    ("What is the difference between HNSW and IVF indexes in Milvus?", "comparative"),
    ("How does ColBERT differ from a cross-encoder reranker?", "comparative"),
    ("Is BM25 better than dense retrieval for short claims?", "comparative"),
    ("What are the pros and cons of RRF versus weighted score fusion?", "comparative"),
    ("Should I use Milvus Lite or Milvus standalone for 1M vectors?", "comparative"),
    ("How fast is HNSW compared to IVF?", "comparative"),
    ("What is RAG? How is it evaluated?", "complex"),
    ("How does HNSW work and why is it fast?", "complex"),
    ("Explain the KV cache and describe how paged attention reduces memory.", "complex"),
    ("Chunk the documents; then embed them with MiniLM", "complex"),
    ("How do mRNA vaccines work and are they safe?", "complex"),
    (
        "When GPU memory is full during batched inference with very long prompts and many "
        "users, how should I size the KV cache?",
        "complex",
    ),
    (
        "I am running vLLM on a CPU machine with two cores and it runs out of memory when "
        "I send long prompts to it",
        "complex",
    ),
]


@pytest.mark.parametrize(("query", "route"), LABELLED)
def test_classify_labelled_queries(query: str, route: str) -> None:
    assert classify(query, complex_min_words=18) == route


def test_long_query_threshold_is_configurable() -> None:
    query = "I run vLLM on two cores and it runs out of memory"
    assert classify(query, complex_min_words=18) == "simple"
    assert classify(query, complex_min_words=8) == "complex"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  What\u2019s   \u201cRRF\u201d? ", 'What\'s "RRF"?'),
        ("BM25\u2013style \u2018lexical\u2019 search", "BM25-style 'lexical' search"),
        ("retrieval\u2014then reranking", "retrieval - then reranking"),
        ("\uff32\uff21\uff27 pipeline", "RAG pipeline"),  # full-width letters (NFKC)
        ("zero\u200bwidth\x00 and\u00a0nbsp\r\nlines", "zerowidth and nbsp lines"),
        ("Keep CASE as Is", "Keep CASE as Is"),
        (" \t\u200b\n ", ""),
    ],
)
def test_normalize(raw: str, expected: str) -> None:
    assert normalize(raw) == expected


def test_normalize_is_idempotent() -> None:
    once = normalize(" \u201cHIV\u201d\u2013related  TB\u2009cases ")
    assert normalize(once) == once


def test_expand_appends_expansion_after_acronym() -> None:
    text, applied = expand("How does RRF work?", DEFAULT_ABBREVIATIONS)
    assert text == "How does RRF (reciprocal rank fusion) work?"
    assert applied == ("reciprocal rank fusion",)


@pytest.mark.parametrize(
    "query",
    ["Why are ragged batches slow?", "rag pipelines", "DRAG racing", "RAGE against it"],
)
def test_expand_matches_whole_words_case_sensitively(query: str) -> None:
    assert expand(query, {"RAG": "retrieval-augmented generation"}) == (query, ())


def test_expand_lower_case_keys_match_any_case() -> None:
    text, applied = expand("Ray on K8s", DEFAULT_ABBREVIATIONS)
    assert text == "Ray on K8s (kubernetes)"
    assert applied == ("kubernetes",)


def test_expand_does_not_double_expand() -> None:
    query = "RRF (reciprocal rank fusion) beats CombSUM"
    assert expand(query, DEFAULT_ABBREVIATIONS) == (query, ())
    text, applied = expand("RRF or RRF again, A vs B vs. C", DEFAULT_ABBREVIATIONS)
    assert text == "RRF (reciprocal rank fusion) or RRF again, A vs (versus) B vs. C"
    assert applied == ("reciprocal rank fusion", "versus")


def test_expand_handles_plurals_compounds_and_longest_key() -> None:
    text, applied = expand("LLMs, HIV-1, mRNA and COVID-19", DEFAULT_ABBREVIATIONS)
    assert text == (
        "LLMs (large language model), HIV-1 (human immunodeficiency virus), "
        "mRNA (messenger RNA) and COVID-19 (coronavirus disease 2019)"
    )
    assert len(applied) == 4


def test_expand_with_empty_table_is_identity() -> None:
    assert expand("What is RAG?", {}) == ("What is RAG?", ())


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (
            "Compare BM25 and dense retrieval for scientific claims",
            ("BM25 for scientific claims", "dense retrieval for scientific claims"),
        ),
        ("Which is faster, HNSW or IVF?", ("is HNSW faster?", "is IVF faster?")),
        ("Which is better HNSW or IVF?", ("is HNSW better?", "is IVF better?")),
        (
            "For scientific claims, is BM25 better than dense retrieval?",
            ("BM25 for scientific claims", "dense retrieval for scientific claims"),
        ),
        ("How do HNSW and IVF compare?", ("HNSW", "IVF")),
        ("How does ColBERT differ from a cross-encoder?", ("ColBERT", "a cross-encoder")),
        (
            "Is aspirin or ibuprofen better for headaches?",
            ("aspirin for headaches", "ibuprofen for headaches"),
        ),
        ("What are the pros and cons of LoRA?", ("advantages of LoRA", "disadvantages of LoRA")),
        ("How fast is HNSW compared to IVF?", ("How fast is HNSW?", "How fast is IVF?")),
        ("RAG-based QA vs. classic search - which is better?", ("RAG-based QA", "classic search")),
    ],
)
def test_sub_questions_comparative(query: str, expected: tuple[str, ...]) -> None:
    assert sub_questions(query, "comparative", max_sub_queries=4) == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("What is RAG? How is it evaluated?", ("What is RAG?", "How is it evaluated?")),
        ("How does HNSW work and why is it fast?", ("How does HNSW work?", "why is it fast?")),
        ("Chunk the documents; then embed them", ("Chunk the documents", "embed them")),
        (
            "What are the causes and what are the treatments of TB?",
            ("What are the causes?", "what are the treatments of TB?"),
        ),
    ],
)
def test_sub_questions_complex(query: str, expected: tuple[str, ...]) -> None:
    assert sub_questions(query, "complex", max_sub_queries=4) == expected


@pytest.mark.parametrize(
    "query",
    [
        "Does salt and pepper intake raise blood pressure?",
        "How do retrieval and reranking interact in a RAG pipeline?",
        "Black and white cats are rarer than tabby cats.",
    ],
)
def test_noun_phrase_and_is_not_split(query: str) -> None:
    assert sub_questions(query, "complex", max_sub_queries=4) == ()
    assert classify(query, complex_min_words=18) != "complex"


def test_sub_questions_simple_is_empty() -> None:
    assert sub_questions("How does HNSW work and why?", "simple", max_sub_queries=4) == ()


def test_sub_questions_are_capped_deduplicated_and_non_empty() -> None:
    query = "What is A? what is a? What is B?? ? ; What is C? What is D? What is E?"
    subs = sub_questions(query, "complex", max_sub_queries=3)
    assert subs == ("What is A?", "What is B?", "What is C?")
    many = sub_questions("A vs B vs C vs D vs E vs F", "comparative", max_sub_queries=8)
    assert many == ("A", "B", "C", "D", "E", "F")
    assert all(s.strip() for s in subs + many)


def test_rewrite_composes_stages() -> None:
    result = rewrite("  Compare  RRF and CombSUM\u2014for TB claims ", RewriterConfig())
    assert result.original == "  Compare  RRF and CombSUM\u2014for TB claims "
    assert result.route == "comparative"
    assert result.query == (
        "Compare RRF (reciprocal rank fusion) and CombSUM - for TB (tuberculosis) claims"
    )
    assert result.sub_queries == (
        "RRF (reciprocal rank fusion) for TB (tuberculosis) claims",
        "CombSUM for TB (tuberculosis) claims",
    )
    assert result.expansions == ("reciprocal rank fusion", "tuberculosis")
    assert result.search_queries[0] == result.query


def test_rewrite_without_expansion() -> None:
    cfg = RewriterConfig(expand_abbreviations=False)
    result = rewrite("How does RRF work and why does it beat CombSUM?", cfg)
    assert result.query == "How does RRF work and why does it beat CombSUM?"
    assert result.expansions == ()
    assert result.sub_queries == ("How does RRF work?", "why does it beat CombSUM?")


def test_rewrite_expands_sub_queries() -> None:
    result = rewrite("Which is faster, HNSW or IVF?", RewriterConfig())
    assert result.sub_queries == (
        "is HNSW (hierarchical navigable small world) faster?",
        "is IVF (inverted file index) faster?",
    )


@pytest.mark.parametrize(
    "query",
    ["which and or " * 2000, "RAG vs LLM, " * 2000, "How does X work and why " * 1000 + "?"],
)
def test_long_inputs_are_bounded(query: str) -> None:
    # No clock here: a rule that backtracks catastrophically on these inputs would hang,
    # and the global pytest timeout fails it.
    result = rewrite(query, RewriterConfig())
    assert len(result.sub_queries) <= 4
    assert all(len(q) <= len(query) + 200 for q in result.sub_queries)


def test_rewrite_result_pickles() -> None:
    result = rewrite("What is RAG?", RewriterConfig())
    assert pickle.loads(pickle.dumps(result)) == result


@pytest.mark.parametrize("query", ["", "   ", "\u200b\x00\t\n"])
def test_rewrite_rejects_empty_query(query: str) -> None:
    with pytest.raises(InvalidRequestError, match="query is empty") as info:
        rewrite(query, RewriterConfig())
    assert info.value.param == "query"
    assert info.value.status_code == 400


def test_rewrite_rejects_non_string() -> None:
    with pytest.raises(InvalidRequestError, match="must be a string, got int") as info:
        rewrite(42, RewriterConfig())  # type: ignore[arg-type]
    assert info.value.param == "query"
