"""What the Locust users send: queries about the sample corpus and generated documents.

Pure data and functions (no Locust, no network), so the mix can be unit-tested and reused:

- :data:`SIMPLE_QUERIES` are single questions the query rewriter routes as ``simple``;
- :data:`COMPLEX_QUERIES` are multi-part questions (routed ``complex``) and comparisons
  (routed ``comparative``), which take the supervisor's sub-question branch;
- :func:`pick_query` draws one of them with a given share of complex queries;
- :func:`make_documents` builds an ingestion batch whose ids all start with
  ``loadtest-<run token>-``, so load-test data is identifiable and never collides with real
  documents (an id that is already stored is skipped by the graph, never overwritten);
- :func:`settings_from_env` reads and validates the ``RAG_LOCUST_*`` environment variables.

Every question is about ``graph/sample_corpus/*.md``; ingest that corpus before a run
(``python -m graph.ingest graph/sample_corpus``) so that queries have passages to cite.

Example:
    >>> import random
    >>> q = pick_query(random.Random(0), complex_share=0.0)
    >>> q.kind, q.text in SIMPLE_QUERIES
    ('simple', True)
    >>> [d["id"] for d in make_documents(random.Random(0), run_token="ab12", start=7, count=2)]
    ['loadtest-ab12-000007', 'loadtest-ab12-000008']
"""

from __future__ import annotations

import json
import logging
import random
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

logger = logging.getLogger(__name__)

QueryKind = Literal["simple", "complex"]
_Num = TypeVar("_Num", int, float)

#: Prefix of every document id the ingestion users write.
ID_PREFIX = "loadtest-"

#: Single questions, one per topic of the sample corpus (routed ``simple``).
SIMPLE_QUERIES: tuple[str, ...] = (
    "How does hybrid search fuse dense and BM25 results?",
    "What is reciprocal rank fusion?",
    "What constant k does RRF use by default?",
    "Which sentence encoder produces the dense vectors?",
    "How is the MaxSim relevance score computed?",
    "When are passage token vectors computed?",
    "How are ColBERT passage vectors compressed?",
    "What does dynamic batching do in the reranker?",
    "How many deployments make up the service?",
    "What does the ingress do with bad input?",
    "How do stages talk to each other?",
    "What happens when no model weights can be loaded?",
    "How does vLLM schedule concurrent requests?",
    "What does GET /healthz return?",
    "Where does Milvus Lite keep its data?",
    "How are abbreviations expanded by the query rewriter?",
    "What does the Ray dashboard show?",
    "How does the generator cite its passages?",
)

#: Multi-part questions (routed ``complex``) and comparisons (routed ``comparative``).
COMPLEX_QUERIES: tuple[str, ...] = (
    "Compare dense retrieval and BM25 search",
    "What is the difference between the retriever and the reranker?",
    "Compare the vLLM generator and the extractive generator",
    "BM25 vs dense vectors for rare product names",
    "How does MaxSim score a passage and why are passage vectors stored at ingestion?",
    "What does the query rewriter do? How are complex questions answered?",
    "How does hybrid search fuse results and why does RRF need no score calibration?",
    "Explain how documents are ingested and list what happens when one is added twice.",
    "How does vLLM batch requests and what does the paged KV cache store?",
    "What does serve run start? How do I check that every deployment is healthy?",
    "Which is cheaper at query time, encoding every passage or decoding stored vectors?",
    "How does the supervisor route queries and how are sub-query results merged?",
)

_TOPICS: tuple[str, ...] = (
    "hybrid search",
    "reciprocal rank fusion",
    "late interaction reranking",
    "query rewriting",
    "dense retrieval",
    "BM25 keyword search",
    "continuous batching",
    "autoscaling replicas",
)
_SENTENCES: tuple[str, ...] = (
    "Synthetic load-test note about {topic}, written by the Locust ingestion user.",
    "This paragraph exists only to exercise chunking, embedding and storage of {topic}.",
    "Measured throughput of {topic} depends on the number of replicas and their CPU share.",
    "A short passage on {topic} lets the retriever index one more chunk under load.",
    "Nothing in this text about {topic} should be cited by a real answer.",
)
_RUN_TOKEN = re.compile(r"^[a-z0-9]{1,32}$")


@dataclass(frozen=True)
class Query:
    """One query to send.

    Attributes:
        text: The question, as posted in ``{"query": text}``.
        kind: ``"simple"`` or ``"complex"`` (multi-part or comparative); names the request
            in Locust's statistics.
    """

    text: str
    kind: QueryKind


def pick_query(rng: random.Random, complex_share: float) -> Query:
    """Draw a query: complex with probability ``complex_share``, else simple.

    Args:
        rng: Source of randomness (one per user keeps runs reproducible with a seed).
        complex_share: Fraction of complex queries, in [0, 1].

    Returns:
        The query and its kind.

    Raises:
        ValueError: ``complex_share`` is outside [0, 1].
    """
    _check_share(complex_share, "complex_share")
    if rng.random() < complex_share:
        return Query(rng.choice(COMPLEX_QUERIES), "complex")
    return Query(rng.choice(SIMPLE_QUERIES), "simple")


def new_run_token() -> str:
    """A random 8-character token that tells this run's documents from other runs'."""
    return secrets.token_hex(4)


def check_run_token(run_token: str, name: str = "run_token") -> str:
    """Return ``run_token`` if it is 1..32 lower-case letters or digits, else raise.

    Args:
        run_token: The token to check.
        name: What to call it in the error (e.g. the environment variable it came from).

    Raises:
        ValueError: The token has other characters or a bad length.
    """
    if not _RUN_TOKEN.match(run_token):
        raise ValueError(
            f"{name} must be 1..32 lower-case letters or digits (got {run_token!r}); "
            "leave it unset for a random one"
        )
    return run_token


def make_documents(
    rng: random.Random, *, run_token: str, start: int, count: int
) -> list[dict[str, Any]]:
    """A batch of small generated documents for ``POST /v1/documents``.

    Args:
        rng: Source of randomness for titles and texts.
        run_token: Per-run token (lower-case letters and digits, at most 32), see
            :func:`new_run_token`.
        start: Sequence number of the first document; ids are
            ``loadtest-<run_token>-<number:06d>``, so callers pass a running counter.
        count: Documents in the batch, 1..256 (the API's limit per call).

    Returns:
        Documents with ``id``, ``title``, ``text`` and ``metadata`` (``source`` and ``run``).

    Raises:
        ValueError: A bad ``run_token``, ``start`` or ``count``.
    """
    check_run_token(run_token)
    if start < 0:
        raise ValueError(f"start must be >= 0 (got {start!r})")
    if not 1 <= count <= 256:
        raise ValueError(f"count must be between 1 and 256, the API's batch limit (got {count!r})")
    docs = []
    for number in range(start, start + count):
        topic = rng.choice(_TOPICS)
        sentences = rng.sample(_SENTENCES, k=rng.randint(2, len(_SENTENCES)))
        docs.append(
            {
                "id": f"{ID_PREFIX}{run_token}-{number:06d}",
                "title": f"Load test {number}: {topic}",
                "text": " ".join(s.format(topic=topic) for s in sentences),
                "metadata": {"source": "loadtest", "run": run_token},
            }
        )
    return docs


@dataclass(frozen=True)
class Settings:
    """Knobs of the Locust users, read from ``RAG_LOCUST_*`` environment variables.

    Attributes:
        wait_min_s: ``RAG_LOCUST_WAIT_MIN``: shortest pause between a user's tasks.
        wait_max_s: ``RAG_LOCUST_WAIT_MAX``: longest pause between a user's tasks.
        complex_share: ``RAG_LOCUST_COMPLEX_SHARE``: fraction of complex queries.
        top_k: ``RAG_LOCUST_TOP_K``: passages to cite per query.
        ingest_batch: ``RAG_LOCUST_INGEST_BATCH``: documents per ingestion request.
        timeout_s: ``RAG_LOCUST_TIMEOUT_S``: per-request timeout; a request that takes
            longer counts as a failure.
    """

    wait_min_s: float = 0.1
    wait_max_s: float = 0.5
    complex_share: float = 0.3
    top_k: int = 5
    ingest_batch: int = 4
    timeout_s: float = 120.0


def settings_from_env(environ: Mapping[str, str]) -> Settings:
    """Read :class:`Settings` from ``environ``; unset variables keep their defaults.

    Args:
        environ: Usually ``os.environ``.

    Returns:
        The validated settings.

    Raises:
        ValueError: A value is not a number or out of range; the message names the variable.

    Example:
        >>> settings_from_env({"RAG_LOCUST_COMPLEX_SHARE": "0.5"}).complex_share
        0.5
    """
    default = Settings()
    wait_min = _number(environ, "RAG_LOCUST_WAIT_MIN", default.wait_min_s, float, 0.0, 3600.0)
    wait_max = _number(environ, "RAG_LOCUST_WAIT_MAX", default.wait_max_s, float, 0.0, 3600.0)
    if wait_min > wait_max:
        raise ValueError(
            f"RAG_LOCUST_WAIT_MIN ({wait_min!r}) must not exceed RAG_LOCUST_WAIT_MAX "
            f"({wait_max!r}); set RAG_LOCUST_WAIT_MIN <= RAG_LOCUST_WAIT_MAX"
        )
    return Settings(
        wait_min_s=wait_min,
        wait_max_s=wait_max,
        complex_share=_number(
            environ, "RAG_LOCUST_COMPLEX_SHARE", default.complex_share, float, 0.0, 1.0
        ),
        top_k=_number(environ, "RAG_LOCUST_TOP_K", default.top_k, int, 1, 50),
        ingest_batch=_number(environ, "RAG_LOCUST_INGEST_BATCH", default.ingest_batch, int, 1, 256),
        timeout_s=_number(environ, "RAG_LOCUST_TIMEOUT_S", default.timeout_s, float, 0.1, 3600.0),
    )


def _number(
    environ: Mapping[str, str], name: str, default: _Num, kind: type[_Num], low: _Num, high: _Num
) -> _Num:
    raw = environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = kind(raw.strip())
    except ValueError:
        raise ValueError(
            f"{name} must be {'an integer' if kind is int else 'a number'} between {low} and "
            f"{high} (got {raw!r}); fix or unset it"
        ) from None
    if not low <= value <= high:  # also rejects NaN
        raise ValueError(f"{name} must be between {low} and {high} (got {raw!r}); fix or unset it")
    return value


def _check_share(value: float, name: str) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be between 0 and 1 (got {value!r})")


def outcome_of(status: int, body: object) -> str:
    """What a ``/v1/query`` reply counts as in a load test: ``full``, ``degraded`` (a 200
    with a cheaper plan), ``shed`` (503 overloaded), ``limited`` (429), ``timeout`` (no
    reply) or ``error`` (anything else).

    >>> outcome_of(200, {"degraded": ["no_rerank"]})
    'degraded'
    >>> outcome_of(503, {"error": {"type": "overloaded"}}), outcome_of(504, None)
    ('shed', 'error')
    """
    if status == 200:
        return "degraded" if isinstance(body, dict) and body.get("degraded") else "full"
    kind = body.get("error", {}).get("type") if isinstance(body, dict) else None
    if status == 503 and kind == "overloaded":
        return "shed"
    if status == 429:
        return "limited"
    return "timeout" if status == 0 else "error"


def reply_outcome(status: int, text: str) -> tuple[str, object]:
    """(:func:`outcome_of`, the parsed body) of a reply given as its status and text; a
    body that is not JSON is None.

    >>> reply_outcome(503, '{"error": {"type": "overloaded"}}')[0]
    'shed'
    >>> reply_outcome(502, "<html>bad gateway</html>")
    ('error', None)
    """
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    return outcome_of(status, body), body
