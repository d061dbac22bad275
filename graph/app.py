"""The RAG application: six deployments composed into one Serve graph.

``serve run serve_config.yaml`` calls :func:`build_app` with the YAML's ``args``;
``graph.app:app`` is the same graph on the default configuration.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ray import serve

from deployments.generator.availability import plan_generator
from deployments.generator.deployment import build_generator_deployment
from deployments.ingress.deployment import Ingress
from deployments.reranker.deployment import build_reranker_deployment
from deployments.retriever.deployment import build_retriever_deployment
from deployments.rewriter.deployment import build_rewriter_deployment
from deployments.supervisor.deployment import Supervisor
from graph.config import AppConfig, load_config
from graph.placement import check_generator_share

logger = logging.getLogger(__name__)


def build_app(args: dict[str, Any] | None = None) -> serve.Application:
    """Validate the config and bind every stage into the graph.

    Args:
        args: The application config as a dict (``AppConfig`` fields).
    """
    cfg = load_config(args)
    # GPU placement check: vLLM must not reserve more GPU memory than its num_gpus share.
    check_generator_share(cfg.generator)
    cfg = _absolute_paths(cfg)
    plan = plan_generator(cfg.generator)
    reranker = build_reranker_deployment(cfg.reranker)
    retriever = build_retriever_deployment(cfg.retriever, reranker)
    supervisor = Supervisor.bind(
        cfg.supervisor.model_dump(),
        cfg.generator.model_dump(),
        plan.kind,
        build_rewriter_deployment(cfg.rewriter),
        retriever,
        reranker,
        build_generator_deployment(cfg.generator, plan),
    )
    return Ingress.bind(supervisor, retriever)


def _absolute_paths(cfg: AppConfig) -> AppConfig:
    """Resolve a relative Milvus Lite path where the graph is built (the project root),
    so replicas with another working directory open the same file."""
    milvus = cfg.retriever.milvus
    if not milvus.is_lite or Path(milvus.uri).is_absolute():
        return cfg
    resolved = milvus.model_copy(update={"uri": milvus.resolved_uri(Path.cwd())})
    retriever = cfg.retriever.model_copy(update={"milvus": resolved})
    return cfg.model_copy(update={"retriever": retriever})


def __getattr__(name: str) -> Any:
    # ``graph.app:app`` builds the default graph on first access, not at import time.
    if name == "app":
        return build_app()
    raise AttributeError(name)
