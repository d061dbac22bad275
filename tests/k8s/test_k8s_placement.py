"""The GPU placement check (graph/placement.py): accepts the shipped configs, rejects an
over-committed GPU and a vLLM reservation larger than the generator's share, with
messages that name the deployments, the numbers and the fix; runs at start-up and in
the render command."""

from __future__ import annotations

import copy
import dataclasses

import pytest

from deployments.errors import ConfigError
from deployments.generator.config import GeneratorConfig
from graph.k8s import profiles
from graph.k8s import render as render_module
from graph.k8s.__main__ import main as k8s_cli
from graph.k8s.serve_config import cluster_serve_config, load_serve_config
from graph.placement import check_generator_share, check_gpu_placement, gpu_demands


def gpu_app() -> dict:
    config = cluster_serve_config(load_serve_config(), profiles.GPU)
    return copy.deepcopy(config["applications"][0])


def deployment(app: dict, name: str) -> dict:
    return next(d for d in app["deployments"] if d["name"] == name)


def test_the_laptop_serve_config_asks_for_no_gpu():
    (app,) = load_serve_config()["applications"]
    assert check_gpu_placement(app) == []


@pytest.mark.parametrize("name", sorted(profiles.PROFILES))
def test_the_shipped_overlays_pass(name):
    profile = profiles.PROFILES[name]
    app = cluster_serve_config(load_serve_config(), profile)["applications"][0]
    check_gpu_placement(app, gpus_available=profile.gpus_available)


def test_the_gpu_overlay_shares_one_gpu_between_four_stages():
    shares = {d.deployment: d.per_replica for d in gpu_demands(gpu_app())}
    assert shares == {"Retriever": 0.1, "Reranker": 0.1, "Ingester": 0.1, "Generator": 0.7}
    assert sum(shares.values()) <= 1
    generator = GeneratorConfig.model_validate(gpu_app()["args"]["generator"])
    assert generator.engine_kwargs["gpu_memory_utilization"] <= generator.num_gpus


def test_an_over_committed_gpu_is_rejected_naming_each_stage():
    app = gpu_app()
    deployment(app, "Reranker")["ray_actor_options"]["num_gpus"] = 0.5
    with pytest.raises(ConfigError) as err:
        check_gpu_placement(app)
    message = err.value.message
    assert "GPU over-committed" in message and "1.4 GPUs" in message
    for part in (
        "Retriever 0.1",
        "Reranker 0.5",
        "Ingester 0.1",
        "Generator 0.7",
        "generator.num_gpus 0.7",
    ):
        assert part in message
    assert "sum to at most 1" in message


def test_vllm_reserving_more_than_the_generator_share_is_rejected():
    app = gpu_app()
    app["args"]["generator"]["engine_kwargs"]["gpu_memory_utilization"] = 0.9
    with pytest.raises(ConfigError) as err:
        check_gpu_placement(app)
    assert err.value.param == "generator.engine_kwargs.gpu_memory_utilization"
    assert "=0.9 is more than the generator's GPU share 0.7" in err.value.message
    assert "at most 0.7" in err.value.message


def test_vllm_default_reservation_counts_when_engine_kwargs_omit_it():
    with pytest.raises(ConfigError, match=r"0\.9 \(vLLM's default\)"):
        check_generator_share(GeneratorConfig(num_gpus=0.7, engine_kwargs={}))
    check_generator_share(GeneratorConfig(mode="extractive", num_gpus=0.7, engine_kwargs={}))
    check_generator_share(GeneratorConfig(num_gpus=0, engine_kwargs={}))  # CPU: host memory


def test_the_generator_deployments_own_gpus_add_to_its_share():
    app = gpu_app()
    deployment(app, "Generator")["ray_actor_options"]["num_gpus"] = 0.2
    with pytest.raises(ConfigError, match=r"Generator 0.9 \(Generator ray_actor_options"):
        check_gpu_placement(app)


def test_more_replicas_than_gpu_workers_can_hold_are_rejected():
    app = gpu_app()
    with pytest.raises(ConfigError, match="need 2 GPUs .* offer 1"):
        check_gpu_placement(app, gpus_available=1)


def test_a_share_above_one_gpu_is_rejected():
    app = gpu_app()
    deployment(app, "Reranker")["ray_actor_options"]["num_gpus"] = 2
    with pytest.raises(ConfigError, match="Reranker asks for 2 GPUs per replica"):
        check_gpu_placement(app)


def test_build_app_runs_the_check_at_start_up():
    from graph.app import build_app

    args = {"generator": {"num_gpus": 0.5, "engine_kwargs": {"gpu_memory_utilization": 0.8}}}
    with pytest.raises(ConfigError, match="more than the generator's GPU share 0.5"):
        build_app(args)


def test_render_refuses_an_over_committed_profile(monkeypatch, capsys):
    bad = dataclasses.replace(
        profiles.GPU,
        deployments={
            **profiles.GPU.deployments,
            "Reranker": {"ray_actor_options": {"num_gpus": 0.4}},
        },
    )
    monkeypatch.setitem(render_module.PROFILES, "gpu", bad)
    assert k8s_cli(["render", "--overlay", "gpu"]) == 2
    assert "GPU over-committed" in capsys.readouterr().err
