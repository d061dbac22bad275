"""Generator deployments: vLLM via ``ray.serve.llm.LLMServer``, or the extractive fallback.

Either way the deployment is named ``Generator``, so the graph always has the same
deployments and ``serve_config.yaml`` overrides apply to whichever runs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from ray import serve

from deployments.common.extractive import extractive_answer, extractive_sentences
from deployments.generator.availability import GeneratorPlan
from deployments.generator.config import GeneratorConfig
from deployments.types import Generation, Hit

DEPLOYMENT_NAME = "Generator"


@serve.deployment(name=DEPLOYMENT_NAME, ray_actor_options={"num_cpus": 0.1})
class ExtractiveGenerator:
    """Answers with sentences copied from the top passages; never calls an LLM."""

    async def generate(self, query: str, hits: list[Hit]) -> Generation:
        return Generation(answer=extractive_answer(query, hits), generator="extractive")

    async def stream(self, query: str, hits: list[Hit]) -> AsyncIterator[str]:
        """The same answer, a sentence (with its citation) at a time: the pieces joined
        are :meth:`generate`'s answer."""
        for piece in extractive_sentences(query, hits):
            yield piece

    def check_health(self) -> None:
        return None


def llm_config(cfg: GeneratorConfig, model_source: str):
    """The ``ray.serve.llm.LLMConfig`` for the configured model and placement."""
    from ray.serve.llm import LLMConfig

    bundle: dict[str, float] = {"CPU": cfg.num_cpus}
    if cfg.num_gpus:
        bundle["GPU"] = cfg.num_gpus
    return LLMConfig(
        model_loading_config={"model_id": cfg.served_model_id, "model_source": model_source},
        engine_kwargs=dict(cfg.engine_kwargs),
        placement_group_config={"bundles": [bundle]},
        deployment_config={
            "autoscaling_config": {"min_replicas": 1, "max_replicas": 1},
            "health_check_timeout_s": 60,
            # The engine's bundle carries the CPUs; the replica shim beside it asks for none
            # (LLMServer adds the replica's share to the first bundle).
            "ray_actor_options": {"num_cpus": 0},
        },
        log_engine_metrics=True,
        experimental_configs={"stream_batching_interval_ms": cfg.stream_batching_interval_ms},
    )


def build_generator_deployment(cfg: GeneratorConfig, plan: GeneratorPlan) -> serve.Application:
    """The deployment that ``plan`` calls for, named ``Generator``."""
    if plan.kind == "extractive" or plan.model_source is None:
        return ExtractiveGenerator.bind()
    from ray.serve.llm import build_llm_deployment

    return build_llm_deployment(
        llm_config(cfg, plan.model_source), override_serve_options={"name": DEPLOYMENT_NAME}
    )
