"""checkov passes on the rendered manifests, the RayService's pods included (`python -m
graph.k8s scan`), with few skips, each with its reason. These tests FAIL when checkov is
missing (`bash scripts/setup.sh` installs it into .venv-tools): a skip would let CI pass
without the scan."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from graph.k8s import profiles, scan
from graph.k8s.__main__ import main as k8s_cli
from graph.k8s.expand import write_stream

ROOT = Path(__file__).resolve().parents[2]
MAX_SKIPPED_CHECKS = 4
"""Distinct check ids skipped, in the config and on objects together: "a few"."""


@pytest.fixture(scope="module")
def scan_run() -> scan.Results | scan.ScanError:
    """One checkov run over every overlay, base and monitoring. Its error is returned, not
    raised: each test then FAILS with it (``results``) instead of erroring in set-up."""
    try:
        return scan.scan()
    except scan.ScanError as exc:
        return exc


def results_of(scan_run: scan.Results | scan.ScanError) -> scan.Results:
    if isinstance(scan_run, scan.ScanError):
        pytest.fail(str(scan_run), pytrace=False)
    return scan_run


def config() -> dict:
    return yaml.safe_load(scan.CONFIG.read_text())


def test_no_check_fails(scan_run):
    results = results_of(scan_run)
    if results.failed:
        pytest.fail("checkov failed checks:\n" + scan.format_summary(results), pytrace=False)


def test_every_overlay_and_every_ray_pod_was_scanned(scan_run):
    results = results_of(scan_run)
    assert len(results.passed) > 100 and results.resource_count > 0
    scanned = results.resources()
    pods = {
        (path, f"Pod.{obj['metadata']['namespace']}.{obj['metadata']['name']}")
        for path, objects in results.scanned.items()
        for obj in objects
        if obj["kind"] == "Pod"
    }
    ray_heads = {p for p in pods if p[1].endswith(f".{profiles.RAYSERVICE}-head")}
    assert {path for path, _ in ray_heads} == {
        f"overlays/{name}/rayservice.yaml" for name in profiles.PROFILES
    }
    missing = pods - scanned
    assert not missing, f"checkov reported nothing on these expanded pods: {sorted(missing)}"


def test_the_config_is_the_one_the_scan_expects():
    cfg = config()
    assert cfg["framework"] == ["kubernetes"]
    assert cfg["compact"] is True


def test_every_skip_in_the_config_says_why_on_its_line():
    skips = config().get("skip-check", [])
    assert len(skips) <= MAX_SKIPPED_CHECKS
    text = scan.CONFIG.read_text()
    for check_id in skips:
        line = re.search(rf"^\s*-\s*{re.escape(check_id)}\b(.*)$", text, re.MULTILINE)
        assert line, f"{check_id}: not listed one per line in {scan.CONFIG}"
        reason = line.group(1).partition("#")[2].strip()
        assert len(reason.split()) >= 3, f"{check_id}: give its reason in a comment on its line"


def test_skips_on_objects_give_reasons_and_stay_few(scan_run):
    results = results_of(scan_run)
    for finding in results.skipped:
        assert finding.reason.strip(), f"{finding}: a checkov.io/skip annotation needs =reason"
    skipped = set(config().get("skip-check", [])) | {f.check_id for f in results.skipped}
    assert len(skipped) <= MAX_SKIPPED_CHECKS, f"too many checks skipped: {sorted(skipped)}"


def test_a_bad_pod_is_caught(tmp_path):
    """The same config and parsing report a privileged, root pod: the scan is not vacuous."""
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "bad", "namespace": profiles.NAMESPACE},
        "spec": {
            "containers": [
                {"name": "c", "image": "busybox", "securityContext": {"privileged": True}}
            ]
        },
    }
    write_stream([pod], tmp_path / "k8s", "bad.yaml")
    try:
        found = scan.run_checkov(tmp_path / "k8s")
    except scan.ScanError as exc:
        pytest.fail(str(exc), pytrace=False)
    failed = {f.check_id for f in found.failed if f.resource == f"Pod.{profiles.NAMESPACE}.bad"}
    assert {"CKV_K8S_16", "CKV_K8S_20", "CKV_K8S_23"} <= failed  # privileged, escalation, root
    assert all(f.file == "bad.yaml" for f in found.failed)


def test_scan_cli_prints_the_summary(capsys):
    overlay = sorted(profiles.PROFILES)[0]
    status = k8s_cli(["scan", "--overlay", overlay])
    out = capsys.readouterr().out
    assert re.search(r"Passed checks: [1-9]\d*, Failed checks: \d+", out), out
    assert status == (0 if "Failed checks: 0," in out else 1)


def test_a_missing_checkov_fails_naming_the_fix(monkeypatch, capsys):
    monkeypatch.setattr(scan, "TOOLS_CHECKOV", ROOT / "no-such-venv" / "bin" / "checkov")
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(scan.ScanError, match="scripts/setup.sh"):
        scan.checkov_binary()
    assert k8s_cli(["scan"]) == 2
    assert "checkov is not installed" in capsys.readouterr().err


def test_setup_installs_the_checkov_version_the_scan_expects():
    setup = (ROOT / "scripts" / "setup.sh").read_text()
    assert f"CHECKOV_VERSION={scan.CHECKOV_VERSION}\n" in setup
    assert scan.TOOLS_CHECKOV == ROOT / ".venv-tools" / "bin" / "checkov"
