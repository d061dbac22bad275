"""What one benchmark run measures, handed to its child processes as JSON."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from graph.config import AppConfig, load_config
from graph.k8s.serve_config import deep_merge


class BenchSpec(BaseModel):
    """Settings shared by the baseline, the micro-benchmarks and the graph runs."""

    model_config = ConfigDict(extra="forbid")

    app: dict[str, Any] = Field(
        default_factory=dict, description="Application args (as in serve_config.yaml)."
    )
    milvus_uri: str = Field(
        description="URI of the Milvus holding the collection (the bench's milvus-lite server)."
    )
    milvus_dir: str = Field(
        default="data/bench/milvus",
        description="Its Milvus Lite data directory (the graph runs its own server on it).",
    )
    collection: str = Field(description="The collection every run searches.")
    generator_source: str | None = Field(
        default=None, description="Model directory vLLM serves; None: extractive answers."
    )
    queries: list[str] = Field(min_length=1, description="Query texts, cycled in order.")
    top_k: int = Field(default=5, ge=1, le=50, description="Passages per answer.")
    warmup: int = Field(default=2, ge=0, description="Unmeasured requests before each run.")
    baseline_requests: int = Field(default=16, ge=1, description="Baseline requests per mode.")
    concurrency: list[int] = Field(
        default_factory=lambda: [1, 8, 32], min_length=1, description="Graph client counts."
    )
    requests_per_client: int = Field(
        default=3, ge=1, description="Graph requests per level = clients x this (at least 16)."
    )
    search_concurrency: int = Field(
        default=8, ge=1, description="Clients on the retrieval-only path (/v1/search)."
    )

    @model_validator(mode="after")
    def _app_args_valid(self) -> BenchSpec:
        self.app_config()  # raises a readable ConfigError
        return self

    def app_args(self) -> dict[str, Any]:
        """The application args pointed at the benchmark's collection on its server."""
        milvus = {"uri": self.milvus_uri, "collection": self.collection, "lite": None}
        return deep_merge(self.app, {"milvus": milvus})

    def app_config(self) -> AppConfig:
        return load_config(self.app_args())

    def requests_at(self, clients: int) -> int:
        """How many requests a graph level sends.

        >>> BenchSpec(milvus_uri="http://h:1", collection="c", queries=["q"]).requests_at(32)
        96
        """
        return max(16, clients * self.requests_per_client)

    def query_cycle(self, n: int, start: int = 0) -> list[str]:
        """``n`` queries from position ``start``, cycling through ``queries``.

        >>> spec = BenchSpec(
        ...     milvus_uri="http://127.0.0.1:1", collection="c", queries=["a", "b", "c"]
        ... )
        >>> spec.query_cycle(4), spec.query_cycle(2, start=2)
        (['a', 'b', 'c', 'a'], ['c', 'a'])
        """
        return [self.queries[(start + i) % len(self.queries)] for i in range(n)]

    def generation_queries_needed(self) -> int:
        """Queries the graph's generating requests use (the warm-ups, and every level on
        ``/v1/query`` then streamed), so each can be a new one: a repeated query would find
        its whole prompt in vLLM's prefix cache and skip its prefill, which the baseline
        does not get.

        >>> BenchSpec(
        ...     milvus_uri="http://h:1", collection="c", queries=["q"], concurrency=[1, 8]
        ... ).generation_queries_needed()
        90
        """
        levels = sum(self.requests_at(c) for c in self.concurrency)
        return self.query_warmup() + self.stream_warmup() + 2 * levels

    def query_warmup(self) -> int:
        """Unmeasured ``/v1/query`` requests before the graph's first level (4 clients)."""
        return 4 * max(self.warmup, 1)

    def stream_warmup(self) -> int:
        """Unmeasured streamed requests before the graph's first streamed level (1 client:
        the chat route's first requests, not a load)."""
        return max(self.warmup, 1)
