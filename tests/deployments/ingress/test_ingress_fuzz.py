"""Schemathesis against the ingress app over fake stages, in process (no network, no Ray):
the OpenAPI document the app serves, every operation, every phase (examples, coverage,
fuzzing, stateful) and every check, at least 50 generated examples per operation,
deterministic. The document must say what the server answers, and the server must answer
what the document says: with the API open, and with API keys on."""

from __future__ import annotations

from pathlib import Path

import schemathesis

from deployments.ingress.config import IngressConfig
from deployments.ingress.security import SecurityConfig
from deployments.ingress.security.keys import (
    KeyEntry,
    KeysFile,
    hash_key,
    new_key,
    write_keys_file,
)
from tests.deployments.ingress.fakes import FakeSupervisor, fake_api
from tests.support.fuzzing import EXAMPLES, fuzz_config, hold_to_contract, run_all_phases

ROUTES = (
    "POST /v1/query",
    "POST /v1/search",
    "POST /v1/documents",
    "POST /v1/chat/completions",
    "GET /v1/documents",
    "GET /v1/documents/{doc_id}",
    "PUT /v1/documents/{doc_id}",
    "POST /v1/ingest/jobs",
    "GET /v1/ingest/jobs",
    "GET /v1/ingest/jobs/{job_id}",
)
DELETES = ("DELETE /v1/documents/{doc_id}", "DELETE /v1/ingest/jobs/{job_id}")
"""Fuzzed with the ids schemathesis has seen (a few cases), then in the stateful phase."""


# Coverage phases that would repeat another's: /v1/search's body is /v1/query's (a
# `filter`, a recursive schema, takes schemathesis over a minute), and PUT
# /v1/documents/{doc_id}'s is one document of POST /v1/documents (~3,800 cases each).
SAME_AS_QUERY = ["/v1/search"]
SAME_AS_ANOTHER = [*SAME_AS_QUERY, "/v1/documents/{doc_id}"]


def test_the_ingress_keeps_its_openapi_contract():
    config = fuzz_config(max_response_time_s=10.0, no_coverage=SAME_AS_ANOTHER)
    schema = hold_to_contract(
        schemathesis.openapi.from_asgi("/openapi.json", fake_api(), config=config)
    )
    problems, cases = run_all_phases(schema)
    assert problems == [], "\n".join(problems)
    assert all(cases[route] >= EXAMPLES for route in ROUTES), cases
    assert all(cases[route] >= 1 for route in DELETES), cases
    assert cases["GET /healthz"] >= 1  # no input to vary


def test_with_api_keys_on_the_contract_holds_too(tmp_path: Path):
    key = new_key()
    keys = tmp_path / "keys.yaml"
    write_keys_file(
        keys, KeysFile(keys=[KeyEntry(id="fuzz", sha256=hash_key(key), scopes=["admin"])])
    )
    supervisor = FakeSupervisor()
    api = fake_api(supervisor, config=IngressConfig(security=SecurityConfig(api_keys=str(keys))))
    # These coverage phases add nothing about keys to the run above (~3,800 cases each for
    # POST /v1/documents and PUT /v1/documents/{doc_id}; a minute for a `filter`).
    no_coverage = [
        "/v1/documents",
        "/v1/documents/{doc_id}",
        "/v1/query",
        "/v1/chat/completions",
        *SAME_AS_QUERY,
    ]
    config = fuzz_config(max_response_time_s=10.0, no_coverage=no_coverage)
    schema = hold_to_contract(schemathesis.openapi.from_asgi("/openapi.json", api, config=config))
    schema.config.update(headers={"Authorization": f"Bearer {key}"})
    problems, cases = run_all_phases(schema)
    assert problems == [], "\n".join(problems)
    assert all(cases[route] >= EXAMPLES for route in ROUTES), cases
    assert all(cases[route] >= 1 for route in DELETES), cases
    assert supervisor.answer.calls and supervisor.search.calls  # the key let them through
