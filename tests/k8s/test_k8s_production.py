"""What the cluster profiles promise for production: highly available (GCS fault tolerance,
spread replicas, disruption budgets), no silent downgrade to extractive answers, models
from a cache volume, and every pod within Pod Security "restricted"."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from graph.k8s import availability, model_cache, pods, profiles
from graph.k8s.render import K8S_DIR, overlay_stream

OVERLAYS = sorted(profiles.PROFILES)
ONE_REPLICA = {"Quota"}  # the rate-limit ledger: two replicas would halve every limit


def docs(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def stream(overlay: str) -> list[dict]:
    return [d for d in yaml.safe_load_all(overlay_stream(overlay)) if d is not None]


def rayservice(overlay: str) -> dict:
    (obj,) = [o for o in stream(overlay) if o["kind"] == "RayService"]
    return obj


def app(overlay: str) -> dict:
    return yaml.safe_load(rayservice(overlay)["spec"]["serveConfigV2"])["applications"][0]


def pod_specs() -> list[tuple[str, dict]]:
    """Every pod spec the manifests make, named: Ray groups, Redis, the download Job, the
    collector."""
    found = []
    for overlay in OVERLAYS:
        cluster = rayservice(overlay)["spec"]["rayClusterConfig"]
        for group in [cluster["headGroupSpec"], *cluster["workerGroupSpecs"]]:
            found.append((f"{overlay}/{group.get('groupName', 'head')}", group["template"]))
        for obj in docs(K8S_DIR / "overlays" / overlay / "model-cache.yaml"):
            if obj["kind"] == "Job":
                found.append((f"{overlay}/job", obj["spec"]["template"]))
    for path in (K8S_DIR / "base" / "redis.yaml", K8S_DIR / "monitoring" / "otel-collector.yaml"):
        for obj in docs(path):
            if obj["kind"] in ("StatefulSet", "Deployment"):
                found.append((f"{path.name}/{obj['kind']}", obj["spec"]["template"]))
    return found


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_cluster_profiles_require_the_llm(overlay):
    assert app(overlay)["args"]["generator"]["mode"] == "vllm"


def test_prod_runs_every_stage_twice_on_different_nodes():
    deployments = {d["name"]: d for d in app("prod")["deployments"]}
    for name, stage in deployments.items():
        if name in ONE_REPLICA:
            assert stage.get("num_replicas", 1) == 1
            continue
        assert stage["autoscaling_config"]["min_replicas"] >= 2, name
        assert stage["max_replicas_per_node"] == 1, name
    assert set(deployments) - ONE_REPLICA >= {
        "Ingress",
        "Supervisor",
        "QueryRewriter",
        "Retriever",
        "Reranker",
        "Ingester",
        "Generator",
    }
    groups = rayservice("prod")["spec"]["rayClusterConfig"]["workerGroupSpecs"]
    for group in groups:
        assert group["minReplicas"] >= 2, group["groupName"]  # a node lost leaves one
        spread = group["template"]["spec"]["topologySpreadConstraints"]
        by_key = {c["topologyKey"]: c for c in spread}
        assert by_key["kubernetes.io/hostname"]["whenUnsatisfiable"] == "DoNotSchedule"
        selected = by_key["kubernetes.io/hostname"]["labelSelector"]["matchLabels"]
        assert selected.items() <= group["template"]["metadata"]["labels"].items()
    gpus = sum(int(g["maxReplicas"]) for g in groups if g["groupName"] == "gpu-workers")
    generator = deployments["Generator"]["autoscaling_config"]
    assert generator["max_replicas"] <= gpus  # one per node: never more than the nodes


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_gcs_fault_tolerance_points_at_the_redis_the_base_runs(overlay):
    cluster = rayservice(overlay)["spec"]["rayClusterConfig"]
    options = cluster["gcsFaultToleranceOptions"]
    objects = {o["kind"]: o for o in docs(K8S_DIR / "base" / "redis.yaml")}
    service = objects["Service"]
    host, port = options["redisAddress"].rsplit(":", 1)
    assert (
        host
        == f"{service['metadata']['name']}.{service['metadata']['namespace']}.svc.cluster.local"
    )
    assert int(port) == service["spec"]["ports"][0]["port"]
    ref = options["redisPassword"]["valueFrom"]["secretKeyRef"]
    *_, redis_secret = docs(K8S_DIR / "base" / "secret.example.yaml")
    assert (
        ref["name"] == redis_secret["metadata"]["name"] and ref["key"] in redis_secret["stringData"]
    )
    conf = objects["ConfigMap"]["data"]["redis.conf"]
    assert f"include {availability.REDIS_SECRET_DIR}/requirepass.conf" in conf
    assert "appendonly yes" in conf  # a Redis restart keeps the GCS's state
    assert "requirepass.conf" in redis_secret["stringData"]
    assert cluster["authOptions"] == {"mode": "token"}
    assert "redis.yaml" in docs(K8S_DIR / "base" / "kustomization.yaml")[0]["resources"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_worker_group_has_a_disruption_budget_and_the_head_none(overlay):
    budgets = [o for o in stream(overlay) if o["kind"] == "PodDisruptionBudget"]
    groups = rayservice(overlay)["spec"]["rayClusterConfig"]["workerGroupSpecs"]
    assert len(budgets) == len(groups)
    for group, budget in zip(groups, budgets, strict=True):
        labels = group["template"]["metadata"]["labels"]
        assert budget["spec"]["selector"]["matchLabels"].items() <= labels.items()
        assert budget["spec"]["maxUnavailable"] == 1
    (kustomization,) = docs(K8S_DIR / "overlays" / overlay / "kustomization.yaml")
    assert "disruption-budgets.yaml" in kustomization["resources"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_models_load_offline_from_the_cache_the_job_fills(overlay):
    claim, job = docs(K8S_DIR / "overlays" / overlay / "model-cache.yaml")
    assert claim["metadata"]["name"] == profiles.MODEL_CACHE_PVC
    (download,) = job["spec"]["template"]["spec"]["containers"]
    models = model_cache.hub_models(profiles.PROFILES[overlay])
    assert models == [app(overlay)["args"]["generator"]["model"]]
    assert all(f"hf download {m}" in download["command"][-1] for m in models)
    mounts = {m["name"]: m for m in download["volumeMounts"]}
    assert mounts["models"]["mountPath"] == profiles.MODELS_DIR and not mounts["models"]["readOnly"]
    (kustomization,) = docs(K8S_DIR / "overlays" / overlay / "kustomization.yaml")
    assert "model-cache.yaml" not in kustomization["resources"]  # applied and awaited first
    for group in rayservice(overlay)["spec"]["rayClusterConfig"]["workerGroupSpecs"]:
        spec = group["template"]["spec"]
        volumes = {v["name"]: v for v in spec["volumes"]}
        assert volumes["models"]["persistentVolumeClaim"]["claimName"] == profiles.MODEL_CACHE_PVC
        (container,) = spec["containers"]
        env = {e["name"]: e["value"] for e in container["env"]}
        assert env["HF_HOME"] == profiles.HF_HOME and env["HF_HUB_OFFLINE"] == "1"
        (mount,) = [m for m in container["volumeMounts"] if m["name"] == "models"]
        assert profiles.HF_HOME.startswith(mount["mountPath"]) and mount["readOnly"]


@pytest.mark.parametrize(
    "name,template", pod_specs(), ids=lambda x: x if isinstance(x, str) else ""
)
def test_every_pod_is_restricted_with_a_read_only_root(name, template):
    spec = template["spec"]
    pod = spec["securityContext"]
    assert pod["runAsNonRoot"] is True and pod["runAsUser"] >= 10000
    assert pod["seccompProfile"] == {"type": "RuntimeDefault"}
    writable = {
        m["mountPath"]
        for c in spec["containers"]
        for m in c.get("volumeMounts", [])
        if not m.get("readOnly")
    }
    for container in spec["containers"]:
        security = container["securityContext"]
        assert security["allowPrivilegeEscalation"] is False
        assert security["capabilities"] == {"drop": ["ALL"]}
        assert security["readOnlyRootFilesystem"] is True
        resources = container["resources"]
        assert resources["requests"] == resources["limits"], container["name"]
        assert "ephemeral-storage" in resources["requests"], container["name"]
        for var in container.get("env", []):  # every directory the app writes is a volume
            if var["name"] in ("HOME", "XDG_CACHE_HOME", "VLLM_CACHE_ROOT"):
                assert any(var["value"].startswith(w + "/") for w in writable), var
    kinds = {v["name"]: next(k for k in v if k != "name") for v in spec.get("volumes", [])}
    assert not {"hostPath"} & set(kinds.values())
    assert spec["automountServiceAccountToken"] is False


def test_only_the_autoscaler_holds_an_api_token():
    for overlay in OVERLAYS:
        cluster = rayservice(overlay)["spec"]["rayClusterConfig"]
        head = cluster["headGroupSpec"]["template"]["spec"]
        volumes = {v["name"]: v for v in head["volumes"]}
        token = volumes["kube-api-access"]["projected"]["sources"][0]["serviceAccountToken"]
        assert token["expirationSeconds"] <= 3607  # short-lived, rotated by the kubelet
        mounts = cluster["autoscalerOptions"]["volumeMounts"]
        assert pods.api_token_mount() in mounts
        assert pods.api_token_mount()["mountPath"] == pods.SERVICE_ACCOUNT_DIR
        for container in head["containers"]:  # the Ray container runs user code: no token
            assert all(m["name"] != "kube-api-access" for m in container["volumeMounts"])


def test_the_namespace_enforces_restricted_and_no_overlay_owns_it():
    namespaces = {n["metadata"]["name"]: n for n in docs(K8S_DIR / "namespace" / "namespace.yaml")}
    enforced = {
        name: n["metadata"]["labels"]["pod-security.kubernetes.io/enforce"]
        for name, n in namespaces.items()
    }
    # The graph's pods are "restricted"; the Milvus chart's are not all, so they live apart.
    assert enforced == {profiles.NAMESPACE: "restricted", profiles.MILVUS_NAMESPACE: "baseline"}
    assert all(
        n["metadata"]["labels"]["pod-security.kubernetes.io/warn"] == "restricted"
        for n in namespaces.values()
    )
    for kustomization in K8S_DIR.rglob("kustomization.yaml"):
        if kustomization.parent.name == "namespace":
            continue
        for obj in docs(kustomization.parent / "kustomization.yaml"):
            for resource in obj["resources"]:
                target = (kustomization.parent / resource).resolve()
                files = [target] if target.is_file() else list(target.glob("*.yaml"))
                for path in files:
                    assert all(o["kind"] != "Namespace" for o in docs(path)), path


def test_ray_scratch_is_sized_from_the_pod():
    assert pods.scratch_volumes(tmp="1Gi", shm="2Gi")[1]["emptyDir"]["medium"] == "Memory"
    for overlay in OVERLAYS:
        for group in rayservice(overlay)["spec"]["rayClusterConfig"]["workerGroupSpecs"]:
            spec = group["template"]["spec"]
            (container,) = spec["containers"]
            shm = next(v for v in spec["volumes"] if v["name"] == "shm")["emptyDir"]["sizeLimit"]
            memory = container["resources"]["limits"]["memory"]
            assert int(shm.removesuffix("Gi")) < int(memory.removesuffix("Gi"))
