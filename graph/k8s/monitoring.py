"""How a Prometheus operator install finds and scrapes the graph (k8s/monitoring/).

kube-prometheus-stack's Prometheus selects PodMonitors and PrometheusRules by the label
``release: <its Helm release name>`` (its default ``podMonitorSelector`` and
``ruleSelector``, from ``*SelectorNilUsesHelmValues: true``), in every namespace (the
default namespace selectors are empty). An object without that label is silently ignored:
no targets, no alerts. The PodMonitor and the PrometheusRule both carry it.
"""

from __future__ import annotations

PROMETHEUS_RELEASE = "kube-prometheus-stack"
"""The Helm release name of your kube-prometheus-stack: CHANGE IT to yours (``helm list -A``
shows it; ``helm install prometheus prometheus-community/kube-prometheus-stack`` makes it
``prometheus``), then ``python -m graph.k8s render``. It is the value of the ``release`` label
that release's Prometheus selects PodMonitors and PrometheusRules by."""

METRICS_PORT_NAME = "metrics"
"""The metrics agent's port (``profiles.METRICS_PORT``) on every Ray container."""

AUTOSCALER_METRICS_PORT = 44217
"""Ray's autoscaler serves its own metrics here (``AUTOSCALER_METRIC_PORT`` in
``ray/autoscaler/_private/constants.py``); on KubeRay that is the head pod's autoscaler
sidecar, on all interfaces."""
DASHBOARD_METRICS_PORT = 44227
"""Ray's dashboard serves its own metrics here (``DASHBOARD_METRIC_PORT`` in
``ray/dashboard/consts.py``), on the head container."""

HEAD_METRICS_PORTS = {"as-metrics": AUTOSCALER_METRICS_PORT, "dash-metrics": DASHBOARD_METRICS_PORT}
"""Named container ports of the head for the two metrics servers only the head runs. A
PodMonitor endpoint names a container port, and KubeRay declares neither, so the head
container must (the names are KubeRay's own, from its ``ray-cluster.embed-grafana.yaml``
sample: a port name has at most 15 characters). Worker pods have no such port, so these
endpoints make targets on the head alone."""


def release_label() -> dict[str, str]:
    """The label kube-prometheus-stack's Prometheus selects monitoring objects by."""
    return {"release": PROMETHEUS_RELEASE}
