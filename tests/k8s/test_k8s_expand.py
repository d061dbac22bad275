"""graph/k8s/expand.py: a RayService becomes the Pods KubeRay makes of it (head with the
autoscaler sidecar, one per worker group); everything else passes through unchanged."""

from __future__ import annotations

import copy

import kubernetes_validate
import pytest
import yaml

from graph.k8s import profiles
from graph.k8s.expand import (
    AUTOSCALER,
    AUTOSCALER_DEFAULT_RESOURCES,
    RAY_LOGS_MOUNT,
    expand,
    ray_pods,
    write_stream,
)
from graph.k8s.render import base_objects, monitoring_objects, rayservice

K8S_VERSION = "1.33.0"
OVERLAYS = sorted(profiles.PROFILES)


def tiny_rayservice(**cluster_extra) -> dict:
    """A RayService reduced to what expand reads."""

    def template(component: str, image: str) -> dict:
        return {
            "metadata": {"labels": {"app": component}, "annotations": {"note": component}},
            "spec": {"containers": [{"name": component, "image": image}]},
        }

    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayService",
        "metadata": {"name": "svc", "namespace": "ns"},
        "spec": {
            "rayClusterConfig": {
                "headGroupSpec": {"template": template("head", "img:head")},
                "workerGroupSpecs": [
                    {"groupName": "a", "template": template("a", "img:a")},
                    {"groupName": "b", "template": template("b", "img:b")},
                ],
                **cluster_extra,
            }
        },
    }


def containers(pod: dict) -> dict[str, dict]:
    return {c["name"]: c for c in pod["spec"]["containers"]}


def test_one_pod_per_template_named_after_the_rayservice_and_group():
    pods = ray_pods(tiny_rayservice())
    assert [p["metadata"]["name"] for p in pods] == ["svc-head", "svc-a", "svc-b"]
    for pod, component in zip(pods, ["head", "a", "b"], strict=True):
        assert pod["apiVersion"] == "v1" and pod["kind"] == "Pod"
        assert pod["metadata"]["namespace"] == "ns"
        # Labels for graph checks (NetworkPolicy selectors), annotations for checkov's skips.
        assert pod["metadata"]["labels"] == {"app": component}
        assert pod["metadata"]["annotations"] == {"note": component}
        assert list(containers(pod)) == [component]


def test_without_in_tree_autoscaling_the_head_gets_no_sidecar():
    head, *_ = ray_pods(tiny_rayservice(enableInTreeAutoscaling=False))
    assert list(containers(head)) == ["head"]
    assert "volumes" not in head["spec"]


def test_the_autoscaler_is_modelled_from_autoscaler_options():
    options = {
        "resources": {"limits": {"cpu": "1", "memory": "1Gi"}},
        "securityContext": {"readOnlyRootFilesystem": True},
        "env": [{"name": "HOME", "value": "/tmp/home"}],
        "envFrom": [{"configMapRef": {"name": "cm"}}],
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
        "idleTimeoutSeconds": 60,  # an autoscaler setting, not a container field
    }
    service = tiny_rayservice(enableInTreeAutoscaling=True, autoscalerOptions=options)
    head, *workers = ray_pods(service)
    autoscaler = containers(head)[AUTOSCALER]
    assert autoscaler["image"] == "img:head"  # KubeRay's default: the head's image
    assert autoscaler["imagePullPolicy"] == "IfNotPresent"
    assert autoscaler["resources"] == options["resources"]
    assert autoscaler["securityContext"] == options["securityContext"]
    assert autoscaler["envFrom"] == options["envFrom"]
    env = {e["name"]: e for e in autoscaler["env"]}
    assert env["HOME"] == {"name": "HOME", "value": "/tmp/home"}
    assert {"RAY_CLUSTER_NAME", "RAY_CLUSTER_NAMESPACE", "RAY_HEAD_POD_NAME"} <= set(env)
    assert autoscaler["volumeMounts"] == [options["volumeMounts"][0], RAY_LOGS_MOUNT]
    assert "idleTimeoutSeconds" not in autoscaler
    # KubeRay shares the ray-logs emptyDir between the Ray container and the autoscaler.
    assert containers(head)["head"]["volumeMounts"] == [RAY_LOGS_MOUNT]
    assert head["spec"]["volumes"] == [{"name": "ray-logs", "emptyDir": {}}]
    for worker in workers:
        assert AUTOSCALER not in containers(worker)


def test_the_autoscaler_falls_back_to_kuberays_defaults_and_honours_overrides():
    head, *_ = ray_pods(tiny_rayservice(enableInTreeAutoscaling=True))
    autoscaler = containers(head)[AUTOSCALER]
    assert autoscaler["resources"] == AUTOSCALER_DEFAULT_RESOURCES
    assert "securityContext" not in autoscaler
    options = {"image": "img:autoscaler", "imagePullPolicy": "Always"}
    head, *_ = ray_pods(tiny_rayservice(enableInTreeAutoscaling=True, autoscalerOptions=options))
    autoscaler = containers(head)[AUTOSCALER]
    assert (autoscaler["image"], autoscaler["imagePullPolicy"]) == ("img:autoscaler", "Always")


def test_a_path_already_mounted_is_not_mounted_again():
    options = {"volumeMounts": [{"name": "logs", "mountPath": RAY_LOGS_MOUNT["mountPath"]}]}
    head, *_ = ray_pods(tiny_rayservice(enableInTreeAutoscaling=True, autoscalerOptions=options))
    assert containers(head)[AUTOSCALER]["volumeMounts"] == options["volumeMounts"]
    # The head container still gets it, and the volume is added once.
    assert head["spec"]["volumes"] == [{"name": "ray-logs", "emptyDir": {}}]


def test_expand_replaces_rayservices_only_and_mutates_nothing():
    objects = [*base_objects(), rayservice(profiles.PROFILES[OVERLAYS[0]]), *monitoring_objects()]
    before = copy.deepcopy(objects)
    out = expand(objects)
    assert objects == before
    assert all(o["kind"] != "RayService" for o in out)
    others = [o for o in objects if o["kind"] != "RayService"]
    assert [o for o in out if o not in others] == ray_pods(objects[len(base_objects())])
    assert [o for o in out if o in others] == others  # unchanged, in order


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_pod_template_of_the_overlay_becomes_a_pod(overlay):
    service = rayservice(profiles.PROFILES[overlay])
    cluster = service["spec"]["rayClusterConfig"]
    pods = ray_pods(service)
    name = service["metadata"]["name"]
    groups = [g["groupName"] for g in cluster["workerGroupSpecs"]]
    assert [p["metadata"]["name"] for p in pods] == [f"{name}-head"] + [
        f"{name}-{g}" for g in groups
    ]
    templates = [cluster["headGroupSpec"]["template"]] + [
        g["template"] for g in cluster["workerGroupSpecs"]
    ]
    for pod, template in zip(pods, templates, strict=True):
        assert pod["metadata"]["namespace"] == service["metadata"]["namespace"]
        assert pod["metadata"]["labels"] == template["metadata"]["labels"]
        ray = template["spec"]["containers"][0]
        assert containers(pod)[ray["name"]]["image"] == ray["image"]
    head = containers(pods[0])
    assert (AUTOSCALER in head) == bool(cluster.get("enableInTreeAutoscaling"))


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_expanded_pods_validate_against_kubernetes_schemas(overlay):
    # The modelled autoscaler must be a valid container, or the scan judges a fiction.
    for pod in ray_pods(rayservice(profiles.PROFILES[overlay])):
        kubernetes_validate.validate(pod, K8S_VERSION, strict=True)


def test_write_stream_round_trips(tmp_path):
    objects = expand([rayservice(profiles.PROFILES[OVERLAYS[0]]), *base_objects()])
    path = write_stream(objects, tmp_path, "overlays/x/rayservice.yaml")
    assert path == tmp_path / "overlays" / "x" / "rayservice.yaml"
    assert list(yaml.safe_load_all(path.read_text())) == objects
