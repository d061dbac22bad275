"""Typed, strict configuration of the HTTP edge: admission control and deadlines."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from deployments.ingress.security.config import SecurityConfig


class AdmissionConfig(BaseModel):
    """How the Ingress admits, degrades or sheds queries (see ``deployments.ingress.admission``).

    Deadlines: a query runs against ``default_deadline_s`` unless its
    ``X-Request-Timeout`` header asks for less (or more, up to ``max_deadline_s``); every
    stage call made for it is cancelled when the deadline passes.
    """

    model_config = ConfigDict(extra="forbid")

    default_deadline_s: float = Field(
        default=30.0, gt=0, le=3600, description="Deadline of a query without a header."
    )
    max_deadline_s: float = Field(
        default=120.0,
        gt=0,
        le=3600,
        description="Longest deadline a client may ask for; keep it below Serve's "
        "http_options.request_timeout_s so the graph's own error body answers first.",
    )
    latency_objective_s: float | None = Field(
        default=None,
        gt=0,
        le=3600,
        description="Longest latency the edge admits a query into: a query whose estimated "
        "latency under every plan exceeds it (or its deadline) is shed. None: "
        "objective_factor times the latency the route has when it runs alone, as this "
        "replica measures it (so an LLM on CPU and an extractive answer each get theirs).",
    )
    objective_factor: float = Field(
        default=3.0,
        ge=1.0,
        le=100.0,
        description="With latency_objective_s None: the objective as a multiple of the "
        "route's latency alone (3: admitted queries stay within 3x a lone user's).",
    )
    max_in_flight: int = Field(
        default=64,
        ge=1,
        le=100_000,
        description="Backstop: queries one Ingress replica lets into the graph at once, "
        "whatever the estimates say (bounds the burst before anything is measured).",
    )
    degrade: bool = Field(
        default=True,
        description="Serve a cheaper plan (shallow rerank; then no rerank and an extractive "
        "answer) before shedding; replies say what they gave up in `degraded`.",
    )
    shallow_rerank_depth: int = Field(
        default=10, ge=1, le=1000, description="Candidates the shallow plan reranks."
    )
    prior_cost_ratios: dict[str, float] = Field(
        default_factory=lambda: {"shallow": 0.8, "light": 0.45},
        description="Demand of a cheaper plan relative to the full one, used until the "
        "plan has been measured on this replica (defaults: p50 of /v1/search's path on "
        "SciFact train, 179 and 97 ms vs 215 ms; docs/RELIABILITY.md).",
    )
    max_retry_after_s: float = Field(
        default=120.0,
        ge=1,
        le=3600,
        description="Longest Retry-After a shed query is given. The edge steers Retry-After "
        "(from 1 s) so that arrivals come down to about 1.5x what it admits: 1000 users "
        "against a graph serving ~8 queries/s need about two minutes between tries.",
    )
    steer_from_sheds_per_s: int = Field(
        default=20,
        ge=0,
        description="Refusals per second (per Ingress replica) from which Retry-After is "
        "steered up; below, it stays near 1 s. A handful of clients shed while a stage "
        "restarts should retry soon and get in within their deadline; only a crowd's "
        "refusals cost the edge CPU worth slowing it down for.",
    )

    @model_validator(mode="after")
    def _default_within_max(self) -> AdmissionConfig:
        if self.default_deadline_s > self.max_deadline_s:
            raise ValueError(
                f"default_deadline_s={self.default_deadline_s} exceeds max_deadline_s="
                f"{self.max_deadline_s}; lower the default or raise the maximum"
            )
        return self


class ChatConfig(BaseModel):
    """The OpenAI-compatible routes (``/v1/chat/completions``, ``/v1/models``)."""

    model_config = ConfigDict(extra="forbid")

    model_id: str = Field(
        default="rag",
        min_length=1,
        max_length=128,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/-]*$",
        description="The model name clients send (`model`) and `/v1/models` lists: the "
        "whole graph, retrieval and generation, answering with citations.",
    )
    top_k: int = Field(
        default=5,
        ge=1,
        le=50,
        description="Passages an answer cites unless the request's "
        "`top_k` extension says otherwise.",
    )
    max_messages: int = Field(
        default=64,
        ge=1,
        le=1024,
        description="Most messages one request may carry; the rewriter reads the last few "
        "turns only, so longer conversations gain nothing.",
    )


class IngressConfig(BaseModel):
    """The Ingress: admission control (this module) and the edge's security policy."""

    model_config = ConfigDict(extra="forbid")

    admission: AdmissionConfig = Field(
        default_factory=AdmissionConfig, description="Deadlines and load shedding."
    )
    security: SecurityConfig = Field(
        default_factory=SecurityConfig,
        description="API keys and scopes, per-key quotas, body size limit, CORS.",
    )
    chat: ChatConfig = Field(
        default_factory=ChatConfig, description="The OpenAI-compatible chat routes."
    )
