"""One Grafana time-series panel, the building block of the dashboard's rows
(``graph.k8s.dashboard``, ``graph.k8s.vllm_panels``)."""

from __future__ import annotations

from typing import Any

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
"""The dashboard's ``datasource`` variable: whichever Prometheus the viewer picks."""


def panel(
    title: str,
    unit: str,
    targets: list[tuple[str, str]],
    description: str,
    units_by_ref: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A time-series panel of ``targets`` (PromQL, legend) pairs, refIds A, B, ... in order;
    ``units_by_ref`` gives a target its own unit (a second axis), by refId."""
    overrides = [
        {
            "matcher": {"id": "byFrameRefID", "options": ref},
            "properties": [{"id": "unit", "value": ref_unit}],
        }
        for ref, ref_unit in (units_by_ref or {}).items()
    ]
    return {
        "type": "timeseries",
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": overrides},
        "options": {"legend": {"displayMode": "list", "placement": "bottom"}},
        "targets": [
            {"datasource": DATASOURCE, "expr": expr, "legendFormat": legend, "refId": chr(65 + i)}
            for i, (expr, legend) in enumerate(targets)
        ],
    }
