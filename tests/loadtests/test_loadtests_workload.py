"""The Locust workload: query mix, generated documents, environment settings, user classes."""

from __future__ import annotations

import doctest
import json
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

from deployments.ingress.schemas import DocumentsRequest, QueryRequest
from deployments.rewriter.config import RewriterConfig
from deployments.rewriter.core import classify
from loadtests import workload
from loadtests.workload import (
    COMPLEX_QUERIES,
    SIMPLE_QUERIES,
    Settings,
    check_run_token,
    make_documents,
    new_run_token,
    pick_query,
    settings_from_env,
)

ROOT = Path(__file__).resolve().parents[2]
MIN_WORDS = RewriterConfig().complex_min_words


def test_doctests() -> None:
    assert doctest.testmod(workload).failed == 0


@pytest.mark.parametrize("query", SIMPLE_QUERIES)
def test_simple_queries_take_the_simple_route(query: str) -> None:
    assert classify(query, complex_min_words=MIN_WORDS) == "simple"
    QueryRequest(query=query)  # valid under the HTTP contract


@pytest.mark.parametrize("query", COMPLEX_QUERIES)
def test_complex_queries_take_the_sub_question_branch(query: str) -> None:
    assert classify(query, complex_min_words=MIN_WORDS) in ("complex", "comparative")
    QueryRequest(query=query)


def test_complex_queries_cover_both_multi_part_and_comparative() -> None:
    routes = {classify(q, complex_min_words=MIN_WORDS) for q in COMPLEX_QUERIES}
    assert routes == {"complex", "comparative"}


@pytest.mark.parametrize("share", [0.0, 0.3, 1.0])
def test_pick_query_honours_the_complex_share(share: float) -> None:
    rng = random.Random(42)
    picks = [pick_query(rng, share) for _ in range(2000)]
    complex_share = sum(p.kind == "complex" for p in picks) / len(picks)
    assert complex_share == pytest.approx(share, abs=0.04)
    for p in picks:
        assert p.text in (COMPLEX_QUERIES if p.kind == "complex" else SIMPLE_QUERIES)


def test_pick_query_is_reproducible_with_a_seed() -> None:
    first = [pick_query(random.Random(7), 0.5) for _ in range(5)]
    assert first == [pick_query(random.Random(7), 0.5) for _ in range(5)]


@pytest.mark.parametrize("share", [-0.1, 1.5, float("nan")])
def test_pick_query_rejects_a_bad_share(share: float) -> None:
    with pytest.raises(ValueError, match="complex_share must be between 0 and 1"):
        pick_query(random.Random(0), share)


def test_documents_are_valid_identifiable_and_numbered() -> None:
    token = new_run_token()
    docs = make_documents(random.Random(1), run_token=token, start=10, count=3)
    assert [d["id"] for d in docs] == [f"loadtest-{token}-{n:06d}" for n in (10, 11, 12)]
    assert all(d["metadata"] == {"source": "loadtest", "run": token} for d in docs)
    assert all(d["text"].strip() and d["title"] for d in docs)
    DocumentsRequest(documents=docs)  # ids, titles and texts pass the HTTP contract


def test_run_tokens_differ_and_are_valid() -> None:
    tokens = {new_run_token() for _ in range(20)}
    assert len(tokens) == 20
    assert all(check_run_token(t) == t for t in tokens)


@pytest.mark.parametrize("token", ["", "UPPER", "a-b", "x" * 33])
def test_bad_run_tokens_are_rejected_by_name(token: str) -> None:
    with pytest.raises(ValueError, match="RAG_LOCUST_RUN_TOKEN must be 1..32"):
        check_run_token(token, "RAG_LOCUST_RUN_TOKEN")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"run_token": "bad token"}, "run_token"),
        ({"start": -1}, "start must be >= 0"),
        ({"count": 0}, "count must be between 1 and 256"),
        ({"count": 257}, "count must be between 1 and 256"),
    ],
)
def test_make_documents_rejects_bad_arguments(kwargs: dict, message: str) -> None:
    args = {"run_token": "abc", "start": 0, "count": 1, **kwargs}
    with pytest.raises(ValueError, match=message):
        make_documents(random.Random(0), **args)


def test_settings_defaults() -> None:
    assert settings_from_env({}) == Settings(0.1, 0.5, 0.3, 5, 4, 120.0)
    assert settings_from_env({"RAG_LOCUST_WAIT_MIN": " "}) == Settings()


def test_settings_read_every_variable() -> None:
    env = {
        "RAG_LOCUST_WAIT_MIN": "0",
        "RAG_LOCUST_WAIT_MAX": "2.5",
        "RAG_LOCUST_COMPLEX_SHARE": "1",
        "RAG_LOCUST_TOP_K": "50",
        "RAG_LOCUST_INGEST_BATCH": "16",
        "RAG_LOCUST_TIMEOUT_S": "30",
    }
    assert settings_from_env(env) == Settings(0.0, 2.5, 1.0, 50, 16, 30.0)


@pytest.mark.parametrize(
    ("env", "name"),
    [
        ({"RAG_LOCUST_COMPLEX_SHARE": "1.5"}, "RAG_LOCUST_COMPLEX_SHARE"),
        ({"RAG_LOCUST_COMPLEX_SHARE": "lots"}, "RAG_LOCUST_COMPLEX_SHARE"),
        ({"RAG_LOCUST_COMPLEX_SHARE": "nan"}, "RAG_LOCUST_COMPLEX_SHARE"),
        ({"RAG_LOCUST_WAIT_MIN": "-1"}, "RAG_LOCUST_WAIT_MIN"),
        ({"RAG_LOCUST_WAIT_MAX": "soon"}, "RAG_LOCUST_WAIT_MAX"),
        ({"RAG_LOCUST_WAIT_MIN": "2", "RAG_LOCUST_WAIT_MAX": "1"}, "RAG_LOCUST_WAIT_MIN"),
        ({"RAG_LOCUST_TOP_K": "51"}, "RAG_LOCUST_TOP_K"),
        ({"RAG_LOCUST_TOP_K": "2.5"}, "RAG_LOCUST_TOP_K"),
        ({"RAG_LOCUST_INGEST_BATCH": "0"}, "RAG_LOCUST_INGEST_BATCH"),
        ({"RAG_LOCUST_TIMEOUT_S": "0"}, "RAG_LOCUST_TIMEOUT_S"),
    ],
)
def test_bad_settings_name_the_variable(env: dict[str, str], name: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(name)} "):
        settings_from_env(env)


_INSPECT_USERS = """
import json
import loadtests.locustfile as lf
print(json.dumps({
    name: {
        "weight": cls.weight,
        "tasks": [t.__name__ for t in cls.tasks],
        "wait": [cls.wait_time(cls) for _ in range(50)],
    }
    for name, cls in (("QueryUser", lf.QueryUser), ("IngestUser", lf.IngestUser))
}))
"""


def _inspect_users(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # Importing locust monkey-patches the standard library with gevent, so the locustfile is
    # imported in a child process rather than in the test session.
    return subprocess.run(
        [sys.executable, "-c", _INSPECT_USERS],
        cwd=ROOT,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("RAG_LOCUST_")}, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_locustfile_defines_both_user_classes_with_tasks() -> None:
    done = _inspect_users({"RAG_LOCUST_WAIT_MIN": "0.2", "RAG_LOCUST_WAIT_MAX": "0.3"})
    assert done.returncode == 0, done.stderr[-2000:]
    users = json.loads(done.stdout.strip().splitlines()[-1])
    assert users["QueryUser"]["tasks"] == ["query"]
    assert users["IngestUser"]["tasks"] == ["ingest"]
    assert users["QueryUser"]["weight"] > users["IngestUser"]["weight"] >= 1
    for user in users.values():
        assert all(0.2 <= w <= 0.3 for w in user["wait"])


def test_locustfile_stops_on_a_bad_variable_naming_it() -> None:
    done = _inspect_users({"RAG_LOCUST_COMPLEX_SHARE": "2"})
    assert done.returncode != 0
    assert "RAG_LOCUST_COMPLEX_SHARE must be between 0.0 and 1.0 (got '2')" in done.stderr
