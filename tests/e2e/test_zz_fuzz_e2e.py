"""Schemathesis against the live graph: the OpenAPI document the running Ingress serves,
every operation, every phase and every check, at least 50 generated examples per
operation, deterministic.

The same run as ``tests/deployments/ingress/test_ingress_fuzz.py``, with the real stages
behind the Ingress: queries reach vLLM, and document bodies are ingested for real. The
operations that take a body skip the coverage phase here (it enumerates boundary values of
every keyword: ~3,800 cases per document body, hundreds per query, each one ingesting or
generating; the in-process test runs them all against fakes) and keep the examples,
fuzzing (50) and stateful phases. A reply may take up to the default deadline (30 s) plus
its grace, hence the response-time limit.
"""

from __future__ import annotations

import pytest
import schemathesis

from tests.support.fuzzing import EXAMPLES, fuzz_config, hold_to_contract, run_all_phases

pytestmark = pytest.mark.e2e

MAX_RESPONSE_TIME_S = 45.0
WITH_BODIES = [
    "/v1/documents",
    "/v1/documents/{doc_id}",
    "/v1/ingest/jobs",
    "/v1/query",
    "/v1/search",
    "/v1/chat/completions",
]


def test_the_live_graph_keeps_its_openapi_contract(graph):
    schema = hold_to_contract(
        schemathesis.openapi.from_url(
            graph.url + "/openapi.json",
            config=fuzz_config(max_response_time_s=MAX_RESPONSE_TIME_S, no_coverage=WITH_BODIES),
            timeout=30,
        )
    )
    problems, cases = run_all_phases(schema)
    assert problems == [], "\n".join(problems)
    for operation in (
        "POST /v1/query",
        "POST /v1/search",
        "POST /v1/documents",
        "POST /v1/chat/completions",
    ):
        assert cases[operation] >= EXAMPLES, cases
