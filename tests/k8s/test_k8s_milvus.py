"""Milvus on Kubernetes: the NetworkPolicies around Milvus, etcd and MinIO, the Helm values
(no default credentials, MinIO's keys and root's password from Secrets, the pinned chart's
own image) and the pinned chart versions in the install commands.

The pod labels and ports below are copied from the charts' templates (each with the file it
comes from), so that a change to the policies' selectors has to agree with what the charts
really put on their pods: a selector that matches no pod opens nothing and closes nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from graph.k8s import milvus_policies as mp
from graph.k8s.profiles import APP_LABEL, MILVUS_NAMESPACE, NAMESPACE
from graph.k8s.render import K8S_DIR

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
VALUES = {mode: K8S_DIR / "milvus" / f"values-{mode}.yaml" for mode in ("standalone", "cluster")}
POLICY_FILE = K8S_DIR / "milvus" / "networkpolicy.yaml"
K8S_VERSION = "1.33.0"  # as in test_k8s_manifests.py
MINIO_SECRET = "milvus-minio-credentials"
ROOT_SECRET = "milvus-root-credentials"
KUBERAY_CHART_VERSION = "1.7.0"
"""kuberay-operator chart whose CRD is ../shared/k8s-schemas (kuberay v1.7.0 and v1.7.0-rc.0
carry the same ray.io_rayservices.yaml as commit feeaf72f, the schema's source)."""

# Pod labels, as read in the chart templates (milvus-helm 98324768, chart 5.0.19: the newest
# the sources held; unchanged since 2020 / across MinIO chart 8.0.17-8.0.19).
CHART_LABELS = {
    # charts/milvus/templates/_helpers.tpl: milvus.matchLabels, in every component's template
    "milvus": {"app.kubernetes.io/name": "milvus", "app.kubernetes.io/instance": "milvus"},
    # bitnami etcd 8.12.0 statefulset.yaml -> common.labels.standard (common 2.4.0)
    "etcd": {"app.kubernetes.io/name": "etcd", "app.kubernetes.io/instance": "milvus"},
    # milvus-helm minio 8.0.17 statefulset.yaml / deployment.yaml: app, release
    "minio": {"app": "minio", "release": "milvus"},
}
# Ports: milvus standalone/proxy containerPorts; etcd values containerPorts; minio templates.
CHART_PORTS = {"milvus": 19530, "metrics": 9091, "client": 2379, "peer": 2380, "http": 9000}


@dataclass(frozen=True)
class Pod:
    namespace: str
    labels: dict[str, str]


RAG_POD = Pod(NAMESPACE, {"app.kubernetes.io/name": APP_LABEL, "app.kubernetes.io/component": "x"})
MILVUS_POD = Pod(MILVUS_NAMESPACE, CHART_LABELS["milvus"] | {"component": "proxy"})
ETCD_POD = Pod(MILVUS_NAMESPACE, CHART_LABELS["etcd"] | {"helm.sh/chart": "etcd-8.12.0"})
MINIO_POD = Pod(MILVUS_NAMESPACE, CHART_LABELS["minio"])
PROMETHEUS = Pod("monitoring", {"app.kubernetes.io/name": "prometheus"})
STRANGER = Pod(MILVUS_NAMESPACE, {"app.kubernetes.io/name": "something-else"})
RAG_LABEL_ELSEWHERE = Pod("default", {"app.kubernetes.io/name": APP_LABEL})


def _matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    assert set(selector) <= {"matchLabels"}, "the evaluator knows matchLabels only"
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def _peer_admits(peer: dict[str, Any], policy_ns: str, src: Pod) -> bool:
    """NetworkPolicy peer semantics: a podSelector alone means the policy's namespace."""
    ns_labels = {"kubernetes.io/metadata.name": src.namespace}
    if "namespaceSelector" in peer:
        if not _matches(peer["namespaceSelector"], ns_labels):
            return False
    elif src.namespace != policy_ns:
        return False
    return "podSelector" not in peer or _matches(peer["podSelector"], src.labels)


def allowed(dst: Pod, src: Pod, port: int) -> bool:
    """Whether the policies let ``src`` open ``port`` on ``dst`` (unselected pods: open)."""
    selecting = [
        p
        for p in mp.objects()
        if p["metadata"]["namespace"] == dst.namespace
        and _matches(p["spec"]["podSelector"], dst.labels)
    ]
    if not selecting:
        return True
    for policy in selecting:
        for rule in policy["spec"].get("ingress", []):
            ports = {p["port"] for p in rule.get("ports", [])}
            if ports and port not in ports:
                continue
            peers = rule.get("from")
            if not peers or any(
                _peer_admits(peer, policy["metadata"]["namespace"], src) for peer in peers
            ):
                return True
    return False


def values(mode: str) -> dict[str, Any]:
    return yaml.safe_load(VALUES[mode].read_text())


def helm_commands(text: str) -> list[str]:
    """Every ``helm install``/``helm upgrade`` command, its continuation lines joined."""
    lines = [re.sub(r"^\s*#\s?", "", line) for line in text.splitlines()]
    joined = re.sub(r"\\\n\s*", " ", "\n".join(lines))
    commands = [" ".join(line.split()) for line in joined.splitlines()]
    return [c for c in commands if re.match(r"helm (install|upgrade) ", c)]


def test_the_label_data_is_what_the_charts_put_on_their_pods():
    assert mp.MILVUS_PODS.labels == CHART_LABELS["milvus"]
    assert mp.ETCD_PODS.labels == CHART_LABELS["etcd"]
    assert mp.MINIO_PODS.labels == CHART_LABELS["minio"]
    assert mp.RAG_PODS.labels == {"app.kubernetes.io/name": APP_LABEL}
    assert "_helpers.tpl" in mp.MILVUS_PODS.source
    assert "etcd 8.12.0" in mp.ETCD_PODS.source and "common.labels.standard" in mp.ETCD_PODS.source
    assert "minio 8.0.17" in mp.MINIO_PODS.source
    assert mp.RELEASE == "milvus"


def test_the_ports_are_the_charts_ports():
    ports = [mp.MILVUS_GRPC, mp.MILVUS_METRICS, mp.ETCD_CLIENT, mp.ETCD_PEER, mp.MINIO_API]
    assert {p.name: p.number for p in ports} == CHART_PORTS
    assert all(p.source for p in ports)
    for mode in VALUES:
        assert values(mode)["service"]["port"] == mp.MILVUS_GRPC.number


def test_each_policy_selects_one_charts_pods_and_only_opens_its_ports():
    policies = {p["metadata"]["name"]: p for p in mp.objects()}
    expected = {
        "milvus-ingress": ("milvus", {19530, 9091}),
        "milvus-etcd-ingress": ("etcd", {2379, 2380}),
        "milvus-minio-ingress": ("minio", {9000}),
    }
    assert set(policies) == set(expected)
    for name, (chart, ports) in expected.items():
        spec = policies[name]["spec"]
        assert policies[name]["metadata"]["namespace"] == MILVUS_NAMESPACE
        assert spec["podSelector"] == {"matchLabels": CHART_LABELS[chart]}
        assert spec["policyTypes"] == ["Ingress"]  # selected => everything else refused
        opened = {p["port"] for rule in spec["ingress"] for p in rule.get("ports", [])}
        assert opened == ports
        for rule in spec["ingress"]:
            assert rule.get("from"), f"{name}: a rule without `from` opens to every pod"
            assert all(p["protocol"] == "TCP" for p in rule.get("ports", []))


@pytest.mark.parametrize("policy", mp.objects(), ids=lambda p: p["metadata"]["name"])
def test_policies_validate_against_kubernetes_schemas(policy):
    kubernetes_validate.validate(policy, K8S_VERSION, strict=True)


@pytest.mark.parametrize(
    ("dst", "src", "port", "ok"),
    [
        (MILVUS_POD, RAG_POD, 19530, True),
        (MILVUS_POD, RAG_POD, 9091, False),
        (MILVUS_POD, STRANGER, 19530, False),
        (MILVUS_POD, RAG_LABEL_ELSEWHERE, 19530, False),
        (MILVUS_POD, MILVUS_POD, 53100, True),  # components reach each other on any port
        (MILVUS_POD, PROMETHEUS, 9091, True),
        (MILVUS_POD, PROMETHEUS, 19530, False),
        (ETCD_POD, MILVUS_POD, 2379, True),
        (ETCD_POD, MILVUS_POD, 2380, False),
        (ETCD_POD, ETCD_POD, 2380, True),
        (ETCD_POD, ETCD_POD, 2379, True),
        (ETCD_POD, RAG_POD, 2379, False),
        (ETCD_POD, PROMETHEUS, 2379, False),
        (MINIO_POD, MILVUS_POD, 9000, True),
        (MINIO_POD, MINIO_POD, 9000, True),
        (MINIO_POD, RAG_POD, 9000, False),
        (MINIO_POD, ETCD_POD, 9000, False),
        (MINIO_POD, STRANGER, 9000, False),
    ],
)
def test_who_reaches_what(dst, src, port, ok):
    assert allowed(dst, src, port) is ok


def test_the_rendered_file_holds_the_policies():
    if not POLICY_FILE.is_file():
        pytest.skip("k8s/milvus/networkpolicy.yaml not rendered yet (graph/k8s/render.py)")
    docs = [d for d in yaml.safe_load_all(POLICY_FILE.read_text()) if d is not None]
    assert docs == mp.objects()


@pytest.mark.parametrize("mode", VALUES)
def test_values_carry_no_default_credentials_and_read_minio_keys_from_the_secret(mode):
    text = VALUES[mode].read_text()
    assert "minioadmin" not in text.lower()
    minio = values(mode)["minio"]
    assert minio["existingSecret"] == MINIO_SECRET
    assert minio["accessKey"] == minio["secretKey"] == ""  # nothing in the chart's ConfigMap


def milvus_config_key(name: str) -> str:
    """How Milvus compares a config key or an environment variable's name (milvus-io/milvus
    pkg/config/config.go formatKey, and the env formatter in paramtable/base_table.go)."""
    return re.sub(r"[/_.]", "", name.lower().removeprefix("milvus."))


@pytest.mark.parametrize(
    ("env", "key"),
    [
        ("MINIO_ACCESS_KEY_ID", "minio.accessKeyID"),
        ("MINIO_SECRET_ACCESS_KEY", "minio.secretAccessKey"),
        ("COMMON_SECURITY_DEFAULTROOTPASSWORD", "common.security.defaultRootPassword"),
    ],
)
def test_the_env_names_are_the_milvus_config_keys(env, key):
    assert milvus_config_key(env) == milvus_config_key(key)
    assert milvus_config_key("MINIO_ACCESS_KEY") != milvus_config_key("minio.accessKeyID")


def _env(component: dict[str, Any]) -> dict[str, dict[str, str]]:
    return {e["name"]: e["valueFrom"]["secretKeyRef"] for e in component.get("extraEnv", [])}


@pytest.mark.parametrize(
    ("mode", "components"),
    [
        ("standalone", ["standalone"]),
        ("cluster", ["proxy", "mixCoordinator", "queryNode", "dataNode", "streamingNode"]),
    ],
)
def test_every_milvus_component_takes_minio_keys_from_the_secret(mode, components):
    """Milvus matches env names to config keys lower-cased without `_`/`.`: these two are
    minio.accessKeyID and minio.secretAccessKey; the keys are the ones MinIO's chart reads."""
    vals = values(mode)
    for name in components:
        env = _env(vals[name])
        assert env["MINIO_ACCESS_KEY_ID"] == {"name": MINIO_SECRET, "key": "accesskey"}, name
        assert env["MINIO_SECRET_ACCESS_KEY"] == {"name": MINIO_SECRET, "key": "secretkey"}, name


@pytest.mark.parametrize(
    ("mode", "component"), [("standalone", "standalone"), ("cluster", "mixCoordinator")]
)
def test_roots_first_password_comes_from_a_secret(mode, component):
    vals = values(mode)
    env = _env(vals[component])
    assert env["COMMON_SECURITY_DEFAULTROOTPASSWORD"] == {"name": ROOT_SECRET, "key": "password"}
    others = [c for c in ("proxy", "queryNode", "dataNode", "streamingNode") if c in vals]
    assert all("COMMON_SECURITY_DEFAULTROOTPASSWORD" not in _env(vals[c]) for c in others)
    assert "authorizationEnabled: true" in vals["extraConfigFiles"]["user.yaml"]


@pytest.mark.parametrize("mode", VALUES)
def test_values_use_the_pinned_charts_own_image(mode):
    """No image override: the chart's default is the Milvus it was made for (v3.0.1)."""
    assert "image" not in values(mode)
    assert f"v{mp.MILVUS_APP_VERSION}" in VALUES[mode].read_text()


@pytest.mark.parametrize("mode", VALUES)
def test_values_headers_carry_the_pinned_install_command_and_secrets(mode):
    text = VALUES[mode].read_text()
    assert f"helm repo add zilliztech {mp.MILVUS_CHART_REPO}" in text
    (command,) = helm_commands(text)
    assert re.search(
        rf"helm upgrade --install {mp.RELEASE} zilliztech/milvus --version "
        rf"{re.escape(mp.MILVUS_CHART_VERSION)} -n {MILVUS_NAMESPACE} "
        rf"-f k8s/milvus/values-{mode}.yaml",
        command,
    ), command
    for secret in (MINIO_SECRET, ROOT_SECRET):
        assert f"kubectl -n {MILVUS_NAMESPACE} create secret generic {secret}" in text
    assert "--from-literal=accesskey=" in text and "--from-literal=secretkey=" in text
    assert "kubectl apply -f k8s/milvus/networkpolicy.yaml" in text


def test_readme_helm_commands_are_pinned():
    section = README.read_text().split("## Deploy on Kubernetes", 1)[1].split("\n## ", 1)[0]
    commands = helm_commands(section)
    assert len(commands) >= 2
    for command in commands:
        assert re.search(r"--version \d+\.\d+\.\d+", command), command
    assert any(f"kuberay/kuberay-operator --version {KUBERAY_CHART_VERSION}" in c for c in commands)
    assert any(
        f"install {mp.RELEASE} zilliztech/milvus --version {mp.MILVUS_CHART_VERSION} "
        f"-n {MILVUS_NAMESPACE}" in c
        for c in commands
    )
    assert "kubectl apply -f k8s/milvus/networkpolicy.yaml" in section
    assert f"create secret generic {MINIO_SECRET}" in section
    assert "Minimum versions" in section
