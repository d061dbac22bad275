"""Replica rules that Serve's deployment options can break but ``build_app`` cannot see
(``serve_config.yaml`` applies them after the app is built); checked wherever a serve
config is written or rendered."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from deployments.common.store.config import MilvusConfig
from deployments.errors import ConfigError
from deployments.milvus.deployment import DEPLOYMENT_NAME as MILVUS


def check_store_replicas(application: Mapping[str, Any]) -> None:
    """One Milvus Lite server per data directory: the ``Milvus`` deployment must not scale.

    >>> check_store_replicas({"args": {}, "deployments": [{"name": "Milvus", "num_replicas": 1}]})
    >>> check_store_replicas({"args": {}, "deployments": [
    ...     {"name": "Milvus", "autoscaling_config": {"max_replicas": 2}}]})
    Traceback (most recent call last):
    ...
    deployments.errors.ConfigError: the Milvus deployment may run one replica ...
    """
    milvus = MilvusConfig.model_validate((application.get("args") or {}).get("milvus") or {})
    for dep in application.get("deployments") or []:
        if dep.get("name") != MILVUS:
            continue
        autoscaling = dep.get("autoscaling_config") or {}
        most = max(int(dep.get("num_replicas") or 1), int(autoscaling.get("max_replicas") or 1))
        if most > 1 and milvus.lite is not None:
            raise ConfigError(
                f"the Milvus deployment may run one replica (it runs milvus-lite server on "
                f"milvus.lite.data_dir, which one process may open), but its options allow "
                f"{most}; remove its num_replicas/autoscaling_config from the serve config. "
                "Scale the Retriever, Reranker and Ingester instead: they all share it",
                param="Milvus.num_replicas",
            )
