"""``serveConfigV2`` of the RayService: ``serve_config.yaml`` plus one profile's changes.

The result is validated three ways before it is written: Ray Serve's own
``ServeDeploySchema``, the application's ``AppConfig`` (the checks ``build_app`` runs at
start-up) and the GPU placement check over every deployment.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from deployments.milvus.deployment import DEPLOYMENT_NAME as MILVUS
from deployments.quota.config import check_quota_replicas
from graph.config import load_config
from graph.k8s.profiles import SERVE_PORT, Profile
from graph.placement import check_gpu_placement
from graph.replicas import check_store_replicas

ROOT = Path(__file__).resolve().parents[2]
SERVE_CONFIG = ROOT / "serve_config.yaml"


def deep_merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``changes`` merged in: nested dicts merge, everything else replaces.

    >>> deep_merge({"a": {"b": 1, "c": 2}, "d": [1]}, {"a": {"c": 3}, "d": [2]})
    {'a': {'b': 1, 'c': 3}, 'd': [2]}
    """
    merged = copy.deepcopy(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def load_serve_config(path: Path = SERVE_CONFIG) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def cluster_serve_config(base: dict[str, Any], profile: Profile) -> dict[str, Any]:
    """The serve config a RayService of ``profile`` runs, validated.

    Raises:
        ValueError: the file has not exactly one application, or names a deployment the
            profile changes but the file does not have.
        ConfigError: the application config or the GPU placement is invalid.
    """
    config = copy.deepcopy(base)
    # Every Ray pod's proxy listens on the pod IP; KubeRay's "serve" port is 8000.
    config["http_options"] = {**config.get("http_options", {}), "host": "0.0.0.0"}
    config["http_options"]["port"] = SERVE_PORT
    config["proxy_location"] = "EveryNode"
    apps = config.get("applications") or []
    if len(apps) != 1:
        raise ValueError(f"serve_config.yaml must hold one application, found {len(apps)}")
    app = apps[0]
    app["args"] = deep_merge(app.get("args") or {}, profile.args)
    by_name = {d["name"]: d for d in app.get("deployments") or []}
    unknown = sorted(set(profile.deployments) - set(by_name))
    if unknown:
        raise ValueError(
            f"profile {profile.name!r} changes deployments {unknown} that serve_config.yaml "
            f"does not list (it has {sorted(by_name)})"
        )
    # The Milvus deployment exists only where the graph runs Milvus Lite itself.
    runs_lite = (app["args"].get("milvus") or {}).get("lite", True) is not None
    app["deployments"] = [
        deep_merge(d, profile.deployments.get(d["name"], {}))
        for d in app["deployments"]
        if runs_lite or d["name"] != MILVUS
    ]
    validate(config, profile)
    return config


def validate(config: dict[str, Any], profile: Profile) -> None:
    """Serve's schema, the app config, the one-replica stages, and the GPU placement of
    ``profile``."""
    from ray.serve.schema import ServeDeploySchema

    ServeDeploySchema.model_validate(config)
    app = config["applications"][0]
    load_config(app["args"])
    check_store_replicas(app)
    check_quota_replicas(app)
    check_gpu_placement(app, gpus_available=profile.gpus_available)


def serve_config_v2(profile: Profile, base: dict[str, Any] | None = None) -> str:
    """The ``serveConfigV2`` string of ``profile``'s RayService."""
    config = cluster_serve_config(base if base is not None else load_serve_config(), profile)
    header = (
        f"# GENERATED from serve_config.yaml by `python -m graph.k8s render` ({profile.name}).\n"
        "# Do not edit: change serve_config.yaml or graph/k8s/profiles.py, then re-render.\n"
    )
    return header + yaml.safe_dump(config, sort_keys=False, width=100)
