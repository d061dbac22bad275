"""The generated Kubernetes manifests: they parse, are up to date, validate against
Kubernetes' schemas (kubernetes-validate, pinned version) and KubeRay's RayService CRD,
and say the same thing as serve_config.yaml, the Milvus values and each other."""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlparse

import jsonschema
import kubernetes_validate
import pytest
import yaml

from deployments.errors import ConfigError
from deployments.ingress.security.keys import KeysFile
from graph.k8s import profiles
from graph.k8s.__main__ import main as k8s_cli
from graph.k8s.dashboard import STAGES, dashboard
from graph.k8s.render import K8S_DIR, generated_files, overlay_stream, ray_version, stale_files
from graph.k8s.serve_config import load_serve_config, serve_config_v2
from tests.support.shared import shared_file

ROOT = Path(__file__).resolve().parents[2]
CRD_PATH = "k8s-schemas/ray.io_rayservices.yaml"
K8S_VERSION = "1.33.0"
YAML_FILES = sorted(  # Kubernetes objects: not Helm values nor checkov's config
    p for p in K8S_DIR.rglob("*.yaml") if p.parent.name != "milvus" and p.name != "checkov.yaml"
)
HELM_VALUES = sorted((K8S_DIR / "milvus").glob("values-*.yaml"))


def docs(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def rayservice(overlay: str) -> dict:
    (obj,) = docs(K8S_DIR / "overlays" / overlay / "rayservice.yaml")
    return obj


def ray_containers(obj: dict) -> list[dict]:
    cluster = obj["spec"]["rayClusterConfig"]
    groups = [cluster["headGroupSpec"], *cluster["workerGroupSpecs"]]
    return [c for g in groups for c in g["template"]["spec"]["containers"]]


def core_objects() -> list[tuple[str, dict]]:
    out = []
    for path in YAML_FILES:
        for obj in docs(path):
            group = obj["apiVersion"].split("/")[0]
            core = "." not in group or group.endswith(".k8s.io")  # core and k8s.io groups
            if core and obj["kind"] != "Kustomization":
                out.append((f"{path.relative_to(K8S_DIR)}:{obj['kind']}", obj))
    return out


def test_the_generated_tree_is_complete():
    assert len(YAML_FILES) >= 10
    for overlay in profiles.PROFILES:
        assert (K8S_DIR / "overlays" / overlay / "kustomization.yaml").is_file()


@pytest.mark.parametrize("path", YAML_FILES, ids=lambda p: str(p.relative_to(K8S_DIR)))
def test_every_manifest_parses(path):
    objects = docs(path)
    assert objects, f"{path} holds no YAML document"
    for obj in objects:
        assert isinstance(obj, dict) and obj.get("apiVersion") and obj.get("kind"), obj
        if obj["kind"] == "Kustomization":
            for resource in obj["resources"]:
                assert (path.parent / resource).exists(), f"{path}: missing {resource}"


@pytest.mark.parametrize("path", HELM_VALUES, ids=lambda p: p.name)
def test_milvus_helm_values_parse(path):
    values = yaml.safe_load(path.read_text())
    assert values["fullnameOverride"] == "milvus"
    assert "authorizationEnabled: true" in values["extraConfigFiles"]["user.yaml"]


def test_committed_files_are_up_to_date():
    assert stale_files() == [], "run: python -m graph.k8s render"
    assert k8s_cli(["check"]) == 0


def test_check_fails_on_a_hand_edited_serve_config(tmp_path):
    copy_dir = tmp_path / "k8s"
    shutil.copytree(K8S_DIR, copy_dir)
    target = copy_dir / "overlays" / "gpu" / "rayservice.yaml"
    target.write_text(target.read_text().replace("num_gpus: 0.7", "num_gpus: 0.9"))
    assert stale_files(copy_dir) == ["overlays/gpu/rayservice.yaml"]


@pytest.mark.parametrize("path,obj", core_objects(), ids=lambda x: x if isinstance(x, str) else "")
def test_core_objects_validate_against_kubernetes_schemas(path, obj):
    kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


@pytest.mark.parametrize("overlay", sorted(profiles.PROFILES))
def test_ray_pod_templates_validate_as_core_pod_templates(overlay):
    cluster = rayservice(overlay)["spec"]["rayClusterConfig"]
    for group in [cluster["headGroupSpec"], *cluster["workerGroupSpecs"]]:
        template = {
            "apiVersion": "v1",
            "kind": "PodTemplate",
            "metadata": {"name": "check"},
            "template": group["template"],
        }
        kubernetes_validate.validate(template, K8S_VERSION, strict=True)


def test_a_schema_error_is_caught():
    bad = copy.deepcopy(generated_networkpolicy())
    bad["spec"]["policyTypes"] = "Ingress"  # must be a list
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, K8S_VERSION, strict=True)


def generated_networkpolicy() -> dict:
    (obj,) = docs(K8S_DIR / "base" / "networkpolicy.yaml")
    return obj


def strict(schema):
    """KubeRay's CRD schema, rejecting unknown fields as the API server's strict field
    validation (and pruning) does; jsonschema alone would accept any extra key."""
    if isinstance(schema, dict):
        schema = {k: strict(v) for k, v in schema.items()}
        if (
            schema.get("type") == "object"
            and "properties" in schema
            and "additionalProperties" not in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")
        ):
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [strict(s) for s in schema]
    return schema


@pytest.fixture(scope="module")
def rayservice_validator():
    crd = yaml.safe_load(shared_file(CRD_PATH).read_text())
    version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1")
    return jsonschema.Draft7Validator(strict(version["schema"]["openAPIV3Schema"]))


@pytest.mark.parametrize("overlay", sorted(profiles.PROFILES))
def test_rayservice_validates_against_kuberay_crd(rayservice_validator, overlay):
    errors = [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in rayservice_validator.iter_errors(rayservice(overlay))
    ]
    assert errors == []


def test_the_crd_check_rejects_a_misspelt_field(rayservice_validator):
    bad = rayservice("gpu")
    bad["spec"]["rayClusterConfig"]["enableInTreeAutoscalling"] = True
    assert list(rayservice_validator.iter_errors(bad))


@pytest.mark.parametrize("overlay", sorted(profiles.PROFILES))
def test_serve_config_v2_is_what_the_generator_makes_of_serve_config_yaml(overlay):
    profile = profiles.PROFILES[overlay]
    text = rayservice(overlay)["spec"]["serveConfigV2"]
    assert text == serve_config_v2(profile)
    cluster = yaml.safe_load(text)
    base = load_serve_config()
    (app,), (base_app,) = cluster["applications"], base["applications"]
    assert app["import_path"] == base_app["import_path"] == "graph.app:build_app"
    # Every deployment of the local profile but Milvus: the cluster has its own Milvus.
    assert [d["name"] for d in app["deployments"]] == [
        d["name"] for d in base_app["deployments"] if d["name"] != "Milvus"
    ]
    assert app["args"]["milvus"]["lite"] is None
    assert cluster["http_options"] == {**base["http_options"], "host": "0.0.0.0", "port": 8000}
    # Settings the profile does not touch come from serve_config.yaml unchanged.
    assert app["args"]["retriever"]["mode"] == base_app["args"]["retriever"]["mode"]
    assert app["args"]["generator"]["model"] == base_app["args"]["generator"]["model"]


def test_milvus_uri_points_at_the_helm_releases_service():
    uri = urlparse(profiles.MILVUS_URI)
    for mode in ("standalone", "cluster"):
        values = yaml.safe_load((K8S_DIR / "milvus" / f"values-{mode}.yaml").read_text())
        assert (
            uri.hostname
            == f"{values['fullnameOverride']}.{profiles.MILVUS_NAMESPACE}.svc.cluster.local"
        )
        assert uri.port == values["service"]["port"] == 19530
        assert values["cluster"]["enabled"] is (mode == "cluster")
    for overlay in profiles.PROFILES:
        app = yaml.safe_load(rayservice(overlay)["spec"]["serveConfigV2"])["applications"][0]
        assert app["args"]["milvus"]["uri"] == profiles.MILVUS_URI
        for name in ("Retriever", "Reranker", "Ingester"):  # a server takes many clients
            stage = next(d for d in app["deployments"] if d["name"] == name)
            assert stage["autoscaling_config"]["max_replicas"] > 1


def test_ray_version_and_images_match_the_pins():
    assert ray_version() == "2.60.0"
    for name, profile in profiles.PROFILES.items():
        obj = rayservice(name)
        assert obj["spec"]["rayClusterConfig"]["rayVersion"] == ray_version()
        assert {c["image"] for c in ray_containers(obj)} == {profile.image}
        assert profile.image_tag.endswith("-cpu" if name == "cpu" else "-gpu")
        assert re.search(r"@sha256:[0-9a-f]{64}$", profile.image)  # deployed by digest


def test_cluster_shape_autoscaling_and_resources():
    for name in profiles.PROFILES:
        cluster = rayservice(name)["spec"]["rayClusterConfig"]
        assert cluster["enableInTreeAutoscaling"] is True
        assert cluster["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"
        for group in cluster["workerGroupSpecs"]:
            assert 0 < group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]
        for container in ray_containers(rayservice(name)):
            res = container["resources"]
            assert res["requests"] and res["requests"] == res["limits"]
    gpu_groups = rayservice("gpu")["spec"]["rayClusterConfig"]["workerGroupSpecs"]
    by_name = {g["groupName"]: g for g in gpu_groups}
    (gpu_container,) = by_name["gpu-workers"]["template"]["spec"]["containers"]
    assert gpu_container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert by_name["cpu-workers"]["resources"] == {profiles.CPU_WORKER_RESOURCE: "1000"}


def test_secrets_reach_every_ray_container_as_files_and_are_not_applied_by_kustomize():
    secret, _keys, _redis = docs(K8S_DIR / "base" / "secret.example.yaml")
    assert set(secret["stringData"]) == {"MILVUS_TOKEN", "HF_TOKEN"}
    for overlay in profiles.PROFILES:
        obj = rayservice(overlay)
        app = yaml.safe_load(obj["spec"]["serveConfigV2"])["applications"][0]
        assert app["args"]["milvus"]["token_file"] == profiles.MILVUS_TOKEN_FILE
        cluster = obj["spec"]["rayClusterConfig"]
        for group in [cluster["headGroupSpec"], *cluster["workerGroupSpecs"]]:
            spec = group["template"]["spec"]
            volumes = {v["name"]: v for v in spec["volumes"]}
            for container in spec["containers"]:
                assert not [e for e in container["env"] if "valueFrom" in e]  # no secret env
                env = {e["name"]: e["value"] for e in container["env"]}
                assert env["HF_TOKEN_PATH"] == profiles.HF_TOKEN_FILE
                (mount,) = [m for m in container["volumeMounts"] if m["name"] == "secrets"]
                assert mount["mountPath"] == profiles.SECRETS_DIR and mount["readOnly"]
                assert profiles.MILVUS_TOKEN_FILE.startswith(mount["mountPath"] + "/")
                source = volumes["secrets"]["secret"]
                assert source["secretName"] == secret["metadata"]["name"]
                assert source["defaultMode"] & 0o222 == 0  # nobody writes
    (kustomization,) = docs(K8S_DIR / "base" / "kustomization.yaml")
    assert "secret.example.yaml" not in kustomization["resources"]


def test_api_keys_are_on_and_mounted_read_only_from_their_secret():
    _secret, keys, _redis = docs(K8S_DIR / "base" / "secret.example.yaml")
    assert keys["metadata"]["name"] == profiles.KEYS_SECRET
    (name, text) = keys["stringData"].popitem()
    assert f"{profiles.KEYS_DIR}/{name}" == profiles.KEYS_FILE
    placeholder = KeysFile.model_validate(yaml.safe_load(text))  # the real file's shape
    assert placeholder.keys[0].sha256 == "0" * 64  # matches no key: applying it locks all out
    for overlay in profiles.PROFILES:
        obj = rayservice(overlay)
        app = yaml.safe_load(obj["spec"]["serveConfigV2"])["applications"][0]
        assert app["args"]["ingress"]["security"]["api_keys"] == profiles.KEYS_FILE
        cluster = obj["spec"]["rayClusterConfig"]
        for group in cluster["workerGroupSpecs"]:  # where the Ingress replicas run
            spec = group["template"]["spec"]
            volumes = {v["name"]: v for v in spec["volumes"]}
            (container,) = spec["containers"]
            (mount,) = [m for m in container["volumeMounts"] if m["name"] == "api-keys"]
            assert mount == {"name": "api-keys", "mountPath": profiles.KEYS_DIR, "readOnly": True}
            secret = volumes[mount["name"]]["secret"]
            assert secret["secretName"] == profiles.KEYS_SECRET
            assert secret["defaultMode"] & 0o222 == 0  # nobody writes
        ingress = next(d for d in app["deployments"] if d["name"] == "Ingress")
        assert profiles.CPU_WORKER_RESOURCE in ingress["ray_actor_options"]["resources"]


def test_the_quota_runs_one_replica_on_cpu_workers():
    for overlay in profiles.PROFILES:
        app = yaml.safe_load(rayservice(overlay)["spec"]["serveConfigV2"])["applications"][0]
        quota = next(d for d in app["deployments"] if d["name"] == "Quota")
        assert quota["num_replicas"] == 1 and "autoscaling_config" not in quota
        assert profiles.CPU_WORKER_RESOURCE in quota["ray_actor_options"]["resources"]


def test_a_scaled_quota_is_refused_when_rendering():
    base = load_serve_config()
    quota = next(d for d in base["applications"][0]["deployments"] if d["name"] == "Quota")
    quota["num_replicas"] = 2
    with pytest.raises(ConfigError, match="Quota deployment must run one replica"):
        serve_config_v2(profiles.PROFILES["cpu"], base)


def test_serve_config_v2_carries_the_json_logging_config():
    base = load_serve_config()
    assert base["logging_config"]["encoding"] == "JSON"
    for overlay in profiles.PROFILES:
        cluster = yaml.safe_load(rayservice(overlay)["spec"]["serveConfigV2"])
        assert cluster["logging_config"] == base["logging_config"]


def test_every_ray_container_traces_to_the_collector_service():
    collector = {
        (o["kind"], o["metadata"]["name"]): o
        for o in docs(K8S_DIR / "monitoring" / "otel-collector.yaml")
    }
    service = collector[("Service", profiles.OTEL_COLLECTOR)]
    deployment = collector[("Deployment", profiles.OTEL_COLLECTOR)]
    endpoint = urlparse(profiles.OTLP_ENDPOINT)
    assert endpoint.hostname == (
        f"{service['metadata']['name']}.{service['metadata']['namespace']}.svc.cluster.local"
    )
    (port,) = service["spec"]["ports"]
    assert endpoint.port == port["port"] == profiles.OTLP_HTTP_PORT
    pod = deployment["spec"]["template"]
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    (container,) = pod["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports[port["targetPort"]] == profiles.OTLP_HTTP_PORT
    # The collector's own config: OTLP/HTTP in on that port, the debug exporter out.
    config_map = collector[("ConfigMap", f"{profiles.OTEL_COLLECTOR}-config")]
    config = yaml.safe_load(config_map["data"]["collector.yaml"])
    http = config["receivers"]["otlp"]["protocols"]["http"]["endpoint"]
    assert http == f"0.0.0.0:{profiles.OTLP_HTTP_PORT}"
    assert config["service"]["pipelines"]["traces"]["exporters"] == ["debug"]
    (kustomization,) = docs(K8S_DIR / "monitoring" / "kustomization.yaml")
    assert "otel-collector.yaml" in kustomization["resources"]
    # Not one of the Ray pods: their NetworkPolicy and PodMonitor leave it alone.
    assert pod["metadata"]["labels"]["app.kubernetes.io/name"] != profiles.APP_LABEL
    for overlay in profiles.PROFILES:
        for ray_container in ray_containers(rayservice(overlay)):  # head runs a proxy too
            env = {e["name"]: e.get("value") for e in ray_container["env"]}
            assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == profiles.OTLP_ENDPOINT
            assert env["RAY_SERVE_TRACING_EXPORTER_IMPORT_PATH"] == (
                "deployments.observability.tracing:span_processors"
            )
            assert float(env["RAY_SERVE_TRACING_SAMPLING_RATIO"]) == 1.0


def test_network_policy_opens_only_the_serve_port_to_everyone():
    policy = generated_networkpolicy()
    pod_labels = rayservice("gpu")["spec"]["rayClusterConfig"]["headGroupSpec"]["template"]
    selector = policy["spec"]["podSelector"]["matchLabels"]
    assert selector.items() <= pod_labels["metadata"]["labels"].items()
    open_rules = [r for r in policy["spec"]["ingress"] if "from" not in r]
    assert open_rules == [{"ports": [{"protocol": "TCP", "port": profiles.SERVE_PORT}]}]
    assert policy["spec"]["policyTypes"] == ["Ingress"]


def test_pod_monitor_scrapes_the_metrics_port_of_every_ray_pod():
    (monitor,) = docs(K8S_DIR / "monitoring" / "podmonitor.yaml")
    spec = monitor["spec"]
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert {"selector", "podMetricsEndpoints"} <= spec.keys()  # the CRD's required fields
    endpoint = spec["podMetricsEndpoints"][0]  # the head's own ones: test_k8s_alerts.py
    for overlay in profiles.PROFILES:
        cluster = rayservice(overlay)["spec"]["rayClusterConfig"]
        for group in [cluster["headGroupSpec"], *cluster["workerGroupSpecs"]]:
            labels = group["template"]["metadata"]["labels"]
            assert spec["selector"]["matchLabels"].items() <= labels.items()
            (container,) = group["template"]["spec"]["containers"]
            ports = {p["name"]: p["containerPort"] for p in container["ports"]}
            assert ports[endpoint["port"]] == profiles.METRICS_PORT
            assert ports["serve"] == profiles.SERVE_PORT  # KubeRay's worker readiness probe


def test_dashboard_has_the_edge_generation_vllm_ingestion_then_one_row_per_stage():
    board = dashboard()
    rows = [p for p in board["panels"] if p["type"] == "row"]
    assert [r["title"] for r in rows] == ["Edge", "Generation", "vLLM", "Ingestion", *STAGES]
    panels = [p for p in board["panels"] if p["type"] != "row"]
    assert len(panels) == 3 + 2 + 6 + 2 + 5 * len(STAGES)
    by_title = {p["title"]: p for p in panels}
    edge = " ".join(t["expr"] for p in panels[:3] for t in p["targets"])
    assert "ray_rag_admission_decisions_total" in edge  # deployments.metrics' counter
    shed = by_title["Edge: shed share"]
    assert shed["fieldConfig"]["defaults"]["unit"] == "percentunit"
    assert all('outcome="shed"' in t["expr"] for t in shed["targets"])
    ttft = by_title["Generation: time to first token"]
    assert [t["legendFormat"] for t in ttft["targets"]] == ["p50 {{route}}", "p95 {{route}}"]
    assert all("ray_rag_time_to_first_token_seconds_bucket" in t["expr"] for t in ttft["targets"])
    (tokens,) = by_title["Generation: tokens/s"]["targets"]
    assert "rate(ray_rag_generated_tokens_total" in tokens["expr"]
    (docs,) = by_title["Ingestion: documents/s"]["targets"]
    assert "ray_rag_ingested_documents_total" in docs["expr"] and "outcome" in docs["expr"]
    (chunks,) = by_title["Ingestion: chunks/s"]["targets"]
    assert "rate(ray_rag_ingested_chunks_total" in chunks["expr"]
    for stage in STAGES:
        titles = {p["title"] for p in panels if p["title"].startswith(f"{stage}:")}
        assert titles == {
            f"{stage}: {t}" for t in ("latency", "throughput", "replicas", "queue", "GPU share")
        }
    committed = json.loads((K8S_DIR / "monitoring" / "rag-serve-dashboard.json").read_text())
    assert committed == board
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))


def test_kustomize_builds_what_the_generator_streams():
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed; the generator's stream is checked instead")
    for overlay in profiles.PROFILES:
        out = subprocess.run(
            [kubectl, "kustomize", str(K8S_DIR / "overlays" / overlay)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if out.returncode != 0 and "unknown command" in out.stderr:
            pytest.skip(f"this kubectl has no kustomize: {out.stderr[:200]}")
        assert out.returncode == 0, out.stderr
        built = sorted(
            yaml.safe_load_all(out.stdout), key=lambda o: (o["kind"], o["metadata"]["name"])
        )
        ours = sorted(
            yaml.safe_load_all(overlay_stream(overlay)),
            key=lambda o: (o["kind"], o["metadata"]["name"]),
        )
        assert built == ours


def test_render_overlay_sets_the_image(tmp_path, capsys):
    out = tmp_path / "gpu.yaml"
    image = "r.io/x@sha256:" + "ab" * 32
    assert k8s_cli(["render", "--overlay", "gpu", "--image", image, "--output", str(out)]) == 0
    objects = list(yaml.safe_load_all(out.read_text()))
    (svc,) = [o for o in objects if o["kind"] == "RayService"]
    assert {c["image"] for c in ray_containers(svc)} == {image}
    assert k8s_cli(["render", "--overlay", "gpu", "--image", "r.io/x:1"]) == 2  # a tag only
    assert "names no digest" in capsys.readouterr().err
    assert set(generated_files()) >= {"overlays/gpu/rayservice.yaml", "base/kustomization.yaml"}
