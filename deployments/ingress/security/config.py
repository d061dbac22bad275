"""Typed, strict configuration of the edge's security policy (``ingress.security``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

MIB = 1024 * 1024


class RateLimits(BaseModel):
    """One API key's budgets, enforced across every Ingress replica by the Quota
    deployment; ``null`` is unlimited (a key with neither limit costs no Quota call)."""

    model_config = ConfigDict(extra="forbid")

    requests_per_min: float | None = Field(
        default=None,
        ge=1,
        le=1_000_000,
        description="Requests per minute (burst: one minute's worth); over it: 429 with "
        "Retry-After.",
    )
    tokens_per_min: float | None = Field(
        default=None,
        gt=0,
        le=1_000_000_000,
        description="Generated (completion) tokens per minute, charged after each answer; "
        "a key that spent more is refused until its budget refills.",
    )

    @property
    def unlimited(self) -> bool:
        """Neither limit is set: the key costs no Quota call.

        >>> RateLimits().unlimited, RateLimits(requests_per_min=60).unlimited
        (True, False)
        """
        return self.requests_per_min is None and self.tokens_per_min is None


class CorsConfig(BaseModel):
    """Cross-origin access for browser clients (Starlette's ``CORSMiddleware``); with no
    ``allow_origins`` no CORS header is sent and browsers keep other origins out."""

    model_config = ConfigDict(extra="forbid")

    allow_origins: list[str] = Field(
        default_factory=list,
        description="Origins allowed to call the API from a browser, e.g. "
        "'https://app.example.com'; '*' for any (not with allow_credentials).",
    )
    allow_methods: list[str] = Field(
        default_factory=lambda: ["GET", "POST"], description="Methods a preflight may allow."
    )
    allow_headers: list[str] = Field(
        default_factory=lambda: [
            "Authorization",
            "X-API-Key",
            "Content-Type",
            "X-Request-Id",
            "X-Request-Timeout",
        ],
        description="Request headers a preflight may allow.",
    )
    expose_headers: list[str] = Field(
        default_factory=lambda: ["X-Request-Id", "Retry-After"],
        description="Response headers browser code may read.",
    )
    allow_credentials: bool = Field(
        default=False,
        description="Let browsers send cookies/HTTP auth; API keys go in a header and do "
        "not need it.",
    )
    max_age_s: int = Field(
        default=600, ge=0, le=86_400, description="How long a browser caches a preflight."
    )

    @model_validator(mode="after")
    def _no_wildcard_with_credentials(self) -> CorsConfig:
        if self.allow_credentials and "*" in self.allow_origins:
            raise ValueError(
                "cors.allow_origins=['*'] with allow_credentials=true lets any site act "
                "with a visitor's credentials; list the origins, or set "
                "allow_credentials: false"
            )
        return self


class SecurityConfig(BaseModel):
    """Who may call the API, how much, and with what.

    The default is open (no keys: anyone who reaches the port may query and ingest), for
    a local machine only; the Ingress logs a loud warning. The Kubernetes profiles set
    ``api_keys`` to the file mounted from a Secret.

    >>> SecurityConfig().api_keys is None
    True
    >>> SecurityConfig(api_keys="  ")
    Traceback (most recent call last):
    ...
    pydantic_core._pydantic_core.ValidationError: 1 validation error for SecurityConfig
    ...
    """

    model_config = ConfigDict(extra="forbid")

    api_keys: str | None = Field(
        default=None,
        description="Path of the keys file (YAML or JSON, hashes only; create it with "
        "`python -m graph.keys create`); null: the API is open, with no keys and no "
        "quotas. A missing or malformed file stops the Ingress at start-up; edits are "
        "picked up within reload_interval_s.",
    )
    reload_interval_s: float = Field(
        default=10.0,
        ge=0,
        le=3600,
        description="How often the keys file is checked for changes (a revoked key stops "
        "working within this); 0 checks on every request.",
    )
    default_limits: RateLimits = Field(
        default_factory=lambda: RateLimits(requests_per_min=600, tokens_per_min=100_000),
        description="Budgets of a key whose entry sets no `limits`: a guard against a "
        "runaway client, not a fair share; size it per key in the keys file.",
    )
    quota_timeout_s: float = Field(
        default=0.25,
        gt=0,
        le=10,
        description="Longest wait for the Quota deployment per call; past it the request "
        "is let through (quotas fail open; see deployments.ingress.security.guard).",
    )
    max_body_bytes: int = Field(
        default=8 * MIB,
        ge=1024,
        le=1024 * MIB,
        description="Largest request body; larger ones get 413 before they are read "
        "whole. The largest valid POST /v1/documents (256 documents at the schema's "
        "maxima: 16 KiB metadata, 1000-character titles, 512-byte ids, 64k characters of "
        "text in all) is about 5.6 MB as compact UTF-8 JSON; 8 MiB leaves room for "
        "\\u-escaped non-ASCII text and whitespace.",
    )
    cors: CorsConfig = Field(
        default_factory=CorsConfig, description="Browser cross-origin access (off by default)."
    )

    @model_validator(mode="after")
    def _path_not_blank(self) -> SecurityConfig:
        if self.api_keys is not None and not self.api_keys.strip():
            raise ValueError(
                "api_keys is blank; give the keys file's path, or null for an open API"
            )
        return self
