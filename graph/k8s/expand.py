"""The RayService's pod templates written out as plain Pods, for manifest scanners.

checkov (like most Kubernetes scanners) checks Pods, Deployments and the other built-in
workloads, not custom resources: inside a RayService it sees no container at all, so the
Ray pods, the ones that matter, would pass unscanned. ``expand`` replaces each RayService
with the Pods KubeRay makes of it: the head, one per worker group, and on the head the
autoscaler sidecar KubeRay injects, built from ``autoscalerOptions``.

Only what the manifests decide is modelled. What KubeRay adds to the Ray containers on its
own (probes, ``/dev/shm``, the ``ray start`` command, auth-token and Redis-password
environment) is left out: the scan judges the manifests, and the operator's additions are
not theirs to change (the skips in ``k8s/checkov.yaml`` say which checks that leaves).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

Manifest = dict[str, Any]

AUTOSCALER = "autoscaler"
"""The container name KubeRay gives the autoscaler sidecar."""
AUTOSCALER_START = (
    "ray kuberay-autoscaler --cluster-name $(RAY_CLUSTER_NAME) "
    "--cluster-namespace $(RAY_CLUSTER_NAMESPACE)"
)
AUTOSCALER_DEFAULT_RESOURCES = {
    "requests": {"cpu": "500m", "memory": "512Mi"},
    "limits": {"cpu": "500m", "memory": "512Mi"},
}
"""KubeRay's own, used when ``autoscalerOptions.resources`` is unset."""
RAY_LOGS_MOUNT = {"name": "ray-logs", "mountPath": "/tmp/ray"}
"""The emptyDir KubeRay shares between the Ray head and the autoscaler (the autoscaler's
event log). Modelled because it is where the autoscaler writes: with a read-only root
filesystem, this mount and those in ``autoscalerOptions.volumeMounts`` are all it has."""


def _field_env(name: str, path: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": path}}}


def autoscaler_container(cluster: dict[str, Any], head_image: str) -> dict[str, Any]:
    """The sidecar KubeRay appends to the head pod when in-tree autoscaling is on.

    Modelled on KubeRay's ``BuildAutoscalerContainer`` and ``mergeAutoscalerOverrides``: the
    head's image and KubeRay's defaults, overridden field by field by ``autoscalerOptions``.
    Its resources and securityContext are what the manifests control, so they are what a
    scan of this container tests.
    """
    options = cluster.get("autoscalerOptions") or {}
    env = [
        _field_env("RAY_CLUSTER_NAME", "metadata.labels['ray.io/cluster']"),
        _field_env("RAY_CLUSTER_NAMESPACE", "metadata.namespace"),
        _field_env("RAY_HEAD_POD_NAME", "metadata.name"),
        {"name": "KUBERAY_CRD_VER", "value": "v1"},
        {"name": "KUBERAY_GEN_AUTOSCALER_START_CMD", "value": AUTOSCALER_START},
    ]
    container: dict[str, Any] = {
        "name": AUTOSCALER,
        "image": options.get("image", head_image),
        "imagePullPolicy": options.get("imagePullPolicy", "IfNotPresent"),
        "command": options.get("command", ["/bin/bash", "-c", "--"]),
        "args": options.get("args", [AUTOSCALER_START]),
        "env": env + copy.deepcopy(options.get("env", [])),
        "resources": copy.deepcopy(options.get("resources", AUTOSCALER_DEFAULT_RESOURCES)),
    }
    for key in ("envFrom", "volumeMounts", "securityContext"):
        if key in options:
            container[key] = copy.deepcopy(options[key])
    return container


def _pod(rayservice: Manifest, name: str, template: dict[str, Any]) -> Manifest:
    """A Pod from a pod template, in the RayService's namespace.

    The template's labels and annotations are kept: checkov reads its per-resource skips
    (``checkov.io/skip*`` annotations) there, and graph checks match labels to selectors.
    """
    metadata = copy.deepcopy(template.get("metadata", {}))
    metadata |= {"name": name, "namespace": rayservice["metadata"].get("namespace", "default")}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata,
        "spec": copy.deepcopy(template["spec"]),
    }


def _share_ray_logs(pod_spec: dict[str, Any], container: dict[str, Any]) -> None:
    """Mount KubeRay's ``ray-logs`` emptyDir in ``container``, as its ``addEmptyDir`` does:
    not over a path already mounted, and the volume only added once."""
    mounts = container.setdefault("volumeMounts", [])
    if any(m.get("mountPath") == RAY_LOGS_MOUNT["mountPath"] for m in mounts):
        return
    volumes = pod_spec.setdefault("volumes", [])
    if all(v.get("name") != RAY_LOGS_MOUNT["name"] for v in volumes):
        volumes.append({"name": RAY_LOGS_MOUNT["name"], "emptyDir": {}})
    mounts.append(dict(RAY_LOGS_MOUNT))


def ray_pods(rayservice: Manifest) -> list[Manifest]:
    """One Pod per pod template of the RayService: ``<name>-head``, then ``<name>-<group>``."""
    name = rayservice["metadata"]["name"]
    cluster = rayservice["spec"]["rayClusterConfig"]
    head = _pod(rayservice, f"{name}-head", cluster["headGroupSpec"]["template"])
    if cluster.get("enableInTreeAutoscaling"):
        spec = head["spec"]
        ray_container = spec["containers"][0]  # KubeRay's Ray container is the first one
        autoscaler = autoscaler_container(cluster, ray_container["image"])
        spec["containers"].append(autoscaler)
        for container in (ray_container, autoscaler):
            _share_ray_logs(spec, container)
    workers = [
        _pod(rayservice, f"{name}-{group['groupName']}", group["template"])
        for group in cluster.get("workerGroupSpecs", [])
    ]
    return [head, *workers]


def expand(objects: Iterable[Manifest]) -> list[Manifest]:
    """The objects to scan: each RayService replaced by its Pods, everything else as is."""
    out: list[Manifest] = []
    for obj in objects:
        out.extend(ray_pods(obj) if obj.get("kind") == "RayService" else [obj])
    return out


def write_stream(objects: Iterable[Manifest], directory: Path, name: str) -> Path:
    """Write ``objects`` as one YAML stream to ``directory/name`` (``name`` may hold
    subdirectories, e.g. ``overlays/cpu/rayservice.yaml``, so results name their file)."""
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump_all(list(objects), sort_keys=False, width=100))
    return path
