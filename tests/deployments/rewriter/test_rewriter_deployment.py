"""The Serve shim, constructed without starting Ray."""

from __future__ import annotations

import asyncio
import pickle

import pytest
from ray.serve import Application

from deployments.errors import ConfigError, InvalidRequestError
from deployments.rewriter import RewriterConfig
from deployments.rewriter.deployment import QueryRewriter, build_rewriter_deployment

QueryRewriterImpl = QueryRewriter.func_or_class


def test_deployment_options() -> None:
    assert QueryRewriter.name == "QueryRewriter"
    assert QueryRewriter.ray_actor_options["num_cpus"] == 0.1


@pytest.mark.parametrize("config", [RewriterConfig(), RewriterConfig().model_dump()])
def test_rewrite_accepts_model_or_dict(config: dict | RewriterConfig) -> None:
    rewriter = QueryRewriterImpl(config)
    result = asyncio.run(rewriter.rewrite("How does RRF work?"))
    assert result.query == "How does RRF (reciprocal rank fusion) work?"
    assert result.route == "simple"
    rewriter.check_health()


def test_invalid_dict_config_raises_picklable_config_error() -> None:
    with pytest.raises(ConfigError, match="max_sub_queries") as info:
        QueryRewriterImpl({"max_sub_queries": 0})
    restored = pickle.loads(pickle.dumps(info.value))
    assert isinstance(restored, ConfigError)
    assert restored.param == "rewriter"


def test_empty_query_error_survives_pickling() -> None:
    rewriter = QueryRewriterImpl(RewriterConfig())
    with pytest.raises(InvalidRequestError) as info:
        asyncio.run(rewriter.rewrite(" "))
    restored = pickle.loads(pickle.dumps(info.value))
    assert restored.param == "query"
    assert restored.to_dict()["error"]["type"] == "invalid_request_error"


def test_builder_binds_dumped_config() -> None:
    cfg = RewriterConfig(max_sub_queries=2)
    app = build_rewriter_deployment(cfg)
    assert isinstance(app, Application)
