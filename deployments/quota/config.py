"""Configuration of the Quota stage, and the one rule its deployment options must keep."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from deployments.errors import ConfigError

DEPLOYMENT_NAME = "Quota"


class QuotaConfig(BaseModel):
    """Options of the Quota deployment. The limits themselves are per API key and come
    with each call (the Ingress owns the keys file); the Quota only keeps the buckets.

    >>> QuotaConfig().max_tracked_keys
    100000
    """

    model_config = ConfigDict(extra="forbid")

    max_tracked_keys: int = Field(
        default=100_000,
        ge=1,
        le=10_000_000,
        description="Keys whose buckets are kept at once; past it, keys idle long enough "
        "to have refilled are forgotten (a forgotten key starts full, which it was).",
    )


def check_quota_replicas(application: Mapping[str, Any]) -> None:
    """The Quota deployment keeps the buckets in memory: a second replica would split
    every key's budget in two. Raise unless ``application``'s options keep it at one.

    >>> check_quota_replicas({"deployments": [{"name": "Quota", "num_replicas": 1}]})
    >>> check_quota_replicas({"deployments": [
    ...     {"name": "Quota", "autoscaling_config": {"max_replicas": 3}}]})
    Traceback (most recent call last):
    ...
    deployments.errors.ConfigError: the Quota deployment must run one replica ...
    """
    for dep in application.get("deployments") or []:
        if dep.get("name") != DEPLOYMENT_NAME:
            continue
        replicas = dep.get("num_replicas") or 1
        scales = replicas == "auto" or "autoscaling_config" in dep
        most = "an autoscaler" if scales else f"{replicas} replicas"
        if scales or int(replicas) > 1:
            raise ConfigError(
                f"the Quota deployment must run one replica (it holds every API key's "
                f"rate-limit buckets in memory, shared by all Ingress replicas), but its "
                f"options ask for {most}; set num_replicas: 1 and remove autoscaling_config",
                param="Quota.num_replicas",
            )
