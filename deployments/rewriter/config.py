"""Configuration of the query-rewriter stage."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

#: Built-in abbreviation table. Acronyms that are search terms themselves (RAG, BM25, DNA)
#: stay in the query; the rewriter appends their expansion in parentheses. Keys with an
#: upper-case letter match case-sensitively; all-lower-case keys ("k8s", "vs") match any case.
DEFAULT_ABBREVIATIONS: dict[str, str] = {
    # Retrieval and serving.
    "RAG": "retrieval-augmented generation",
    "LLM": "large language model",
    "NLP": "natural language processing",
    "GPU": "graphics processing unit",
    "CPU": "central processing unit",
    "ANN": "approximate nearest neighbor",
    "HNSW": "hierarchical navigable small world",
    "IVF": "inverted file index",
    "RRF": "reciprocal rank fusion",
    "TF-IDF": "term frequency-inverse document frequency",
    "KV": "key-value",
    "OOM": "out of memory",
    "LoRA": "low-rank adaptation",
    "TTFT": "time to first token",
    "QPS": "queries per second",
    "k8s": "kubernetes",
    "vs": "versus",
    "vs.": "versus",
    # Biomedical claims.
    "DNA": "deoxyribonucleic acid",
    "RNA": "ribonucleic acid",
    "mRNA": "messenger RNA",
    "miRNA": "microRNA",
    "HIV": "human immunodeficiency virus",
    "AIDS": "acquired immunodeficiency syndrome",
    "TB": "tuberculosis",
    "COVID-19": "coronavirus disease 2019",
    "PCR": "polymerase chain reaction",
    "CRISPR": "clustered regularly interspaced short palindromic repeats",
    "BMI": "body mass index",
    "MRI": "magnetic resonance imaging",
    "ROS": "reactive oxygen species",
    "CNS": "central nervous system",
}


class RewriterConfig(BaseModel):
    """Options of the rule-based query rewriter.

    Example:
        >>> cfg = RewriterConfig(abbreviations={"RRF": "reciprocal rank fusion"})
        >>> cfg.max_sub_queries
        4
        >>> RewriterConfig(max_sub_queries=0)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        pydantic_core._pydantic_core.ValidationError: 1 validation error for RewriterConfig
        ...
    """

    model_config = ConfigDict(extra="forbid")

    abbreviations: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_ABBREVIATIONS),
        description=(
            "Abbreviation -> expansion. The abbreviation is kept and its expansion appended in "
            "parentheses after its first occurrence. Keys containing an upper-case letter match "
            "case-sensitively as whole words; all-lower-case keys match in any case."
        ),
    )
    expand_abbreviations: bool = Field(
        True, description="Append abbreviation expansions to the query and its sub-queries."
    )
    max_sub_queries: int = Field(
        4, ge=1, le=8, description="Upper bound on sub-queries produced for one query."
    )
    complex_min_words: int = Field(
        18,
        ge=2,
        le=512,
        description=(
            "A query at least this many words long that splits into two or more clauses is "
            "routed as 'complex' even when it asks a single question."
        ),
    )

    @field_validator("abbreviations")
    @classmethod
    def _check_abbreviations(cls, table: dict[str, str]) -> dict[str, str]:
        for key, value in table.items():
            if not key.strip() or key != key.strip():
                raise ValueError(
                    f"abbreviations: key {key!r} is empty or padded with whitespace; "
                    "use the bare abbreviation, e.g. 'RRF'"
                )
            if not value.strip():
                raise ValueError(
                    f"abbreviations[{key!r}] is {value!r}; give a non-empty expansion "
                    "or remove the entry"
                )
        return {key: value.strip() for key, value in table.items()}
