"""checkov over the rendered manifests, the Ray pods included (``python -m graph.k8s scan``).

What is scanned is what ``render`` generates, rendered afresh (a stale k8s/ cannot hide a
finding): every manifest file, with each RayService replaced by its Pods (``expand``),
written to a temporary tree that mirrors k8s/ so each finding names its file. checkov runs
with ``k8s/checkov.yaml`` and reports JSON, which is parsed here: the summary printed, and
the findings returned to the test that requires none to fail.

checkov lives in its own venv, ``.venv-tools`` (``scripts/setup.sh``): its pins
(``packaging<24``, ``networkx<2.7``) break ray's and llama-index-core's in ``.venv``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from graph.k8s.expand import Manifest, expand, write_stream
from graph.k8s.render import K8S_DIR, generated_files
from graph.k8s.serve_config import ROOT

CHECKOV_VERSION = "3.3.30"
"""The version the config and the test are written for; scripts/setup.sh installs it."""
CONFIG = K8S_DIR / "checkov.yaml"
TOOLS_CHECKOV = ROOT / ".venv-tools" / "bin" / "checkov"
INSTALL_HINT = (
    f"run `bash scripts/setup.sh` (it installs checkov=={CHECKOV_VERSION} into .venv-tools), "
    f"or `python3.11 -m venv .venv-tools && .venv-tools/bin/pip install "
    f"checkov=={CHECKOV_VERSION}`; not into .venv, where its pins break ray's"
)


class ScanError(Exception):
    """checkov is missing, is another version, or produced no results."""


@dataclass(frozen=True)
class Finding:
    """One check on one resource: ``file`` is relative to k8s/, ``resource`` checkov's id
    (``Kind.namespace.name``); ``reason`` is a skip's comment."""

    check_id: str
    name: str
    file: str
    resource: str
    reason: str = ""


@dataclass(frozen=True)
class Results:
    """checkov's findings, and the objects it was given (path under k8s/ -> objects)."""

    passed: list[Finding]
    failed: list[Finding]
    skipped: list[Finding]
    resource_count: int
    scanned: dict[str, list[Manifest]] = field(default_factory=dict)

    def resources(self) -> set[tuple[str, str]]:
        """(file, resource) of every resource any check ran on."""
        return {(f.file, f.resource) for f in self.passed + self.failed + self.skipped}


def scan_tree(overlay: str | None = None) -> dict[str, list[Manifest]]:
    """Path under k8s/ -> objects to scan: every generated manifest, RayServices expanded.

    With ``overlay``, the other overlays' files are left out (base, namespace and
    monitoring stay: the overlay is applied with them, and graph checks such as "a
    NetworkPolicy selects this pod" need them).
    """
    tree: dict[str, list[Manifest]] = {}
    for path, text in generated_files().items():
        if not path.endswith(".yaml"):
            continue
        if overlay and path.startswith("overlays/") and not path.startswith(f"overlays/{overlay}/"):
            continue
        objects = [d for d in yaml.safe_load_all(text) if d and d.get("kind") != "Kustomization"]
        if objects:
            tree[path] = expand(objects)
    return tree


def checkov_binary() -> Path:
    """.venv-tools' checkov, else one on PATH (its version is checked against the results)."""
    if TOOLS_CHECKOV.is_file():
        return TOOLS_CHECKOV
    found = shutil.which("checkov")
    if found:
        return Path(found)
    raise ScanError(f"checkov is not installed: {INSTALL_HINT}")


def _findings(checks: list[dict[str, Any]], root: Path) -> list[Finding]:
    return [
        Finding(
            check_id=c["check_id"],
            name=c["check_name"],
            file=str(Path(c["file_abs_path"]).resolve().relative_to(root.resolve())),
            resource=c["resource"],
            reason=(c.get("check_result") or {}).get("suppress_comment", ""),
        )
        for c in checks
    ]


def run_checkov(directory: Path) -> Results:
    """Run checkov with ``k8s/checkov.yaml`` over ``directory`` and parse its JSON report."""
    binary = checkov_binary()
    out = directory.parent / f"{directory.name}-checkov"
    shutil.rmtree(out, ignore_errors=True)  # never read an earlier run's report
    command = [str(binary), "--config-file", str(CONFIG), "-d", str(directory)]
    command += ["-o", "json", "--output-file-path", str(out)]
    # No request to PyPI for a newer version on every run.
    env = os.environ | {"CKV_SKIP_PACKAGE_UPDATE_CHECK": "true"}
    proc = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
    report = out / "results_json.json"
    if proc.returncode not in (0, 1) or not report.is_file():
        raise ScanError(
            f"{binary} exited {proc.returncode} without a report: {proc.stderr[-2000:]}"
        )
    data = json.loads(report.read_text())
    reports = data if isinstance(data, list) else [data]
    kubernetes = [r for r in reports if r.get("check_type") == "kubernetes"]
    if not kubernetes:
        raise ScanError(f"checkov found no Kubernetes manifest under {directory}")
    (k8s,) = kubernetes
    version = k8s["summary"].get("checkov_version")
    if version != CHECKOV_VERSION:
        raise ScanError(
            f"{binary} is checkov {version}; k8s/checkov.yaml and the test are written for "
            f"{CHECKOV_VERSION}: {INSTALL_HINT}"
        )
    results = k8s["results"]
    return Results(
        passed=_findings(results.get("passed_checks", []), directory),
        failed=_findings(results.get("failed_checks", []), directory),
        skipped=_findings(results.get("skipped_checks", []), directory),
        resource_count=k8s["summary"]["resource_count"],
    )


def scan(overlay: str | None = None) -> Results:
    """Render, expand and scan every overlay (or only ``overlay``) with base and monitoring."""
    checkov_binary()  # a missing checkov fails before the rendering
    tree = scan_tree(overlay)
    with tempfile.TemporaryDirectory(prefix="rag-checkov-") as tmp:
        directory = Path(tmp) / "k8s"
        for path, objects in tree.items():
            write_stream(objects, directory, path)
        results = run_checkov(directory)
    return replace(results, scanned=tree)


def _grouped(findings: list[Finding], label: str) -> list[str]:
    by_check: dict[tuple[str, str], list[Finding]] = defaultdict(list)
    for f in findings:
        by_check[(f.check_id, f.name)].append(f)
    lines = []
    for (check_id, name), group in sorted(by_check.items()):
        lines.append(f"{label} {check_id}: {name}")
        for f in sorted(group, key=lambda f: (f.file, f.resource)):
            lines.append(f"  {f.file}  {f.resource}" + (f"  ({f.reason})" if f.reason else ""))
    return lines


def format_summary(results: Results) -> str:
    """checkov's summary line, then the failed and skipped checks grouped by check."""
    lines = [
        f"checkov {CHECKOV_VERSION} with {CONFIG.relative_to(ROOT)}: "
        f"{results.resource_count} resources in {len(results.scanned)} files",
        f"Passed checks: {len(results.passed)}, Failed checks: {len(results.failed)}, "
        f"Skipped checks: {len(results.skipped)}",
    ]
    lines += _grouped(results.failed, "FAILED") + _grouped(results.skipped, "SKIPPED")
    return "\n".join(lines)
