"""The RAG application: the stages' builders composed into one Serve graph.

``serve run serve_config.yaml`` calls :func:`build_app` with the YAML's ``args``;
``graph.app:app`` is the same graph on the default configuration.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ray import serve

from deployments.generator.availability import plan_generator
from deployments.generator.deployment import build_generator_deployment
from deployments.ingester.deployment import build_ingester_deployment
from deployments.ingress.deployment import build_ingress_deployment
from deployments.milvus.deployment import build_milvus_deployment
from deployments.quota.deployment import build_quota_deployment
from deployments.reranker.deployment import build_reranker_deployment
from deployments.retriever.deployment import build_retriever_deployment
from deployments.rewriter.deployment import build_rewriter_deployment
from deployments.supervisor.deployment import build_supervisor_deployment
from graph.config import AppConfig, load_config
from graph.placement import check_generator_share


def build_app(args: dict[str, Any] | None = None) -> serve.Application:
    """Validate the config, then bind every stage into the graph.

    Args:
        args: The application config as a dict (``AppConfig`` fields).
    """
    cfg = resolve_paths(load_config(args))
    check_generator_share(cfg.generator)  # vLLM must fit its num_gpus share
    plan = plan_generator(cfg.generator)
    milvus, encoder = cfg.milvus, cfg.reranker.token_encoder()
    supervisor = build_supervisor_deployment(
        cfg.supervisor,
        cfg.generator,
        plan.kind,
        rewriter=build_rewriter_deployment(cfg.rewriter),
        retriever=build_retriever_deployment(cfg.retriever, milvus),
        reranker=build_reranker_deployment(cfg.reranker, milvus),
        generator=build_generator_deployment(cfg.generator, plan),
        milvus=milvus,
    )
    return build_ingress_deployment(
        cfg.ingress,
        supervisor=supervisor,
        ingester=build_ingester_deployment(cfg.ingester, milvus, cfg.retriever.embedder, encoder),
        milvus=build_milvus_deployment(milvus) if milvus.lite is not None else None,
        quotas=build_quota_deployment(),  # idle (never called) while API keys are off
    )


def resolve_paths(cfg: AppConfig, base: Path | None = None) -> AppConfig:
    """Make the Lite data directory and the API keys file absolute where the graph is
    built (the directory ``serve run`` starts in), so a replica with another working
    directory uses them too."""
    security = cfg.ingress.security
    if security.api_keys is not None and not Path(security.api_keys).is_absolute():
        keys = str((base or Path.cwd()) / security.api_keys)
        ingress = cfg.ingress.model_copy(
            update={"security": security.model_copy(update={"api_keys": keys})}
        )
        cfg = cfg.model_copy(update={"ingress": ingress})
    lite = cfg.milvus.lite
    if lite is None:
        return cfg
    data_dir = str(lite.resolved_data_dir(base))
    milvus = cfg.milvus.model_copy(update={"lite": lite.model_copy(update={"data_dir": data_dir})})
    return cfg.model_copy(update={"milvus": milvus})


def __getattr__(name: str) -> Any:
    # ``graph.app:app`` builds the default graph on first access, not at import time.
    if name == "app":
        return build_app()
    raise AttributeError(name)
