"""The application's one typed configuration, validated when the graph is built."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from deployments.common.store.config import MilvusConfig
from deployments.errors import ConfigError
from deployments.generator.config import GeneratorConfig
from deployments.ingester.config import IngesterConfig
from deployments.ingress.config import IngressConfig
from deployments.ingress.schemas import MAX_TOP_K
from deployments.reranker.config import RerankerConfig
from deployments.retriever.config import RetrieverConfig
from deployments.rewriter.config import RewriterConfig
from deployments.supervisor.config import SupervisorConfig


class AppConfig(BaseModel):
    """Every stage's settings; ``serve_config.yaml`` passes this as the app's ``args``."""

    model_config = ConfigDict(extra="forbid")

    milvus: MilvusConfig = Field(
        default_factory=MilvusConfig, description="The store every stage reaches by URI."
    )
    ingress: IngressConfig = Field(
        default_factory=IngressConfig, description="HTTP edge: admission, deadlines, security."
    )
    rewriter: RewriterConfig = Field(default_factory=RewriterConfig, description="Rewriter.")
    retriever: RetrieverConfig = Field(default_factory=RetrieverConfig, description="Retriever.")
    ingester: IngesterConfig = Field(default_factory=IngesterConfig, description="Ingestion.")
    reranker: RerankerConfig = Field(default_factory=RerankerConfig, description="Reranker.")
    generator: GeneratorConfig = Field(default_factory=GeneratorConfig, description="LLM.")
    supervisor: SupervisorConfig = Field(
        default_factory=SupervisorConfig, description="Agent supervisor."
    )

    @model_validator(mode="after")
    def _depth_covers_top_k(self) -> AppConfig:
        if self.retriever.candidates < MAX_TOP_K:
            raise ValueError(
                f"retriever.candidates={self.retriever.candidates} is below the largest "
                f"top_k a query may ask for ({MAX_TOP_K}); raise it to at least {MAX_TOP_K}"
            )
        if self.supervisor.rerank_depth > self.retriever.candidates:
            raise ValueError(
                f"supervisor.rerank_depth={self.supervisor.rerank_depth} exceeds "
                f"retriever.candidates={self.retriever.candidates}: the reranker cannot score "
                "more candidates than the retriever fetches; lower rerank_depth"
            )
        return self


def load_config(args: dict[str, Any] | None) -> AppConfig:
    """Validate ``args`` into an :class:`AppConfig`, or raise one readable ConfigError.

    >>> load_config({"retriever": {"mode": "sparse"}})
    Traceback (most recent call last):
    ...
    deployments.errors.ConfigError: invalid application config:
      - retriever.mode: Input should be 'dense', 'bm25' or 'hybrid' (got 'sparse')
    """
    try:
        return AppConfig.model_validate(args or {})
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "config"
            shown = err["type"] != "missing" and not isinstance(err.get("input", {}), dict)
            got = f" (got {err['input']!r})" if shown else ""
            if err["type"] == "extra_forbidden":
                lines.append(f"  - {where}: unknown setting; check its spelling")
            else:
                lines.append(f"  - {where}: {err['msg']}{got}")
        raise ConfigError("invalid application config:\n" + "\n".join(lines)) from None
