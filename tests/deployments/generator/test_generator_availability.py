"""Deciding between vLLM and the extractive fallback, without the network."""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

import huggingface_hub
import pytest

from deployments.errors import ConfigError
from deployments.generator import availability
from deployments.generator.availability import locate_weights, plan_generator
from deployments.generator.config import GeneratorConfig

UNCACHED = "nobody-here/not-a-real-model-7f3a"


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    d = tmp_path / "tiny-model"
    d.mkdir()
    (d / "config.json").write_text("{}")
    return d


@pytest.fixture
def vllm_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``find_spec('vllm')`` succeed whether or not vLLM imports here."""
    real = importlib.util.find_spec

    def find_spec(name, *args, **kwargs):
        return object() if name == "vllm" else real(name, *args, **kwargs)

    monkeypatch.setattr(availability.importlib.util, "find_spec", find_spec)


@pytest.fixture
def vllm_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec

    def find_spec(name, *args, **kwargs):
        return None if name == "vllm" else real(name, *args, **kwargs)

    monkeypatch.setattr(availability.importlib.util, "find_spec", find_spec)


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Fail loudly if the hub is asked anything."""
    asked: list[str] = []

    def model_info(repo_id, *args, **kwargs):
        asked.append(repo_id)
        raise AssertionError(f"the hub was contacted for {repo_id}")

    monkeypatch.setattr(huggingface_hub, "model_info", model_info)
    return asked


def test_local_dir_with_config_is_found(model_dir: Path) -> None:
    source, why = locate_weights(str(model_dir))
    assert source == str(model_dir.resolve())
    assert "local model directory" in why


def test_local_dir_without_config_is_rejected(tmp_path: Path) -> None:
    source, why = locate_weights(str(tmp_path))
    assert source is None
    assert "has no config.json" in why


@pytest.mark.parametrize("path", ["./no/such/model", "/no/such/model", "~/no-such-model-7f3a"])
def test_missing_path_is_not_looked_up_on_the_hub(path: str, no_network) -> None:
    source, why = locate_weights(path)
    assert source is None
    assert f"no directory at {path!r}" == why
    assert no_network == []


def test_offline_uncached_hub_id_does_not_touch_the_network(
    monkeypatch: pytest.MonkeyPatch, no_network
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    source, why = locate_weights(UNCACHED)
    assert source is None
    assert "HF_HUB_OFFLINE is set" in why
    assert no_network == []


def test_online_unreachable_hub_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)

    def model_info(repo_id, *args, **kwargs):
        raise ConnectionError("no route to host")

    monkeypatch.setattr(huggingface_hub, "model_info", model_info)
    source, why = locate_weights(UNCACHED)
    assert source is None
    assert "hub is unreachable (ConnectionError)" in why


def test_local_dir_plans_vllm(model_dir: Path, vllm_installed) -> None:
    plan = plan_generator(GeneratorConfig(model=str(model_dir)))
    assert (plan.kind, plan.model_source) == ("vllm", str(model_dir.resolve()))
    strict = plan_generator(GeneratorConfig(mode="vllm", model=str(model_dir)))
    assert strict.kind == "vllm"


def test_missing_dir_plans_extractive_with_reason(
    tmp_path: Path, vllm_installed, caplog: pytest.LogCaptureFixture
) -> None:
    missing = str(tmp_path / "gone")
    with caplog.at_level(logging.WARNING, logger=availability.__name__):
        plan = plan_generator(GeneratorConfig(model=missing))
    assert (plan.kind, plan.model_source) == ("extractive", None)
    assert plan.reason == f"no directory at {missing!r}"
    assert "EXTRACTIVE" in caplog.text and plan.reason in caplog.text


def test_vllm_mode_with_missing_weights_is_a_config_error(tmp_path: Path, vllm_installed) -> None:
    missing = str(tmp_path / "gone")
    with pytest.raises(ConfigError) as info:
        plan_generator(GeneratorConfig(mode="vllm", model=missing))
    assert info.value.param == "generator.model"
    assert f"generator.model={missing!r} cannot be loaded" in info.value.message
    assert "generator.mode to 'auto'" in info.value.message


def test_extractive_mode_never_looks_for_weights(model_dir: Path, vllm_installed, no_network):
    plan = plan_generator(GeneratorConfig(mode="extractive", model=str(model_dir)))
    assert plan.kind == "extractive"
    assert plan.reason == "generator.mode is 'extractive'"


def test_offline_hub_id_plans_extractive(monkeypatch, vllm_installed, no_network) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    plan = plan_generator(GeneratorConfig(model=UNCACHED))
    assert plan.kind == "extractive"
    assert "HF_HUB_OFFLINE" in plan.reason


def test_without_vllm_auto_falls_back_and_vllm_mode_fails(model_dir: Path, vllm_missing) -> None:
    plan = plan_generator(GeneratorConfig(model=str(model_dir)))
    assert (plan.kind, plan.reason) == ("extractive", "vLLM is not installed")
    with pytest.raises(ConfigError, match="vLLM is not installed"):
        plan_generator(GeneratorConfig(mode="vllm", model=str(model_dir)))
