"""Tracing and logs of the running graph: one request is one OpenTelemetry trace through
every deployment, and every deployment's JSON log lines carry its request id.

The graph of ``conftest.py`` runs with Serve's tracing on (this project's exporter hook,
every request sampled, spans to Ray's JSON span files since no OTLP endpoint is set) and
with serve_config.yaml's JSON ``logging_config``."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_graph_e2e import DOCS

pytestmark = pytest.mark.e2e

SERVE_LOGS = Path("/tmp/ray/session_latest/logs/serve")
STAGES = {"Ingress", "Supervisor", "QueryRewriter", "Retriever", "Reranker", "Generator"}


def read_objects(path: Path) -> list[dict]:
    """The JSON objects written one after another in ``path`` (Ray's span files)."""
    text, decoder, out, at = path.read_text(errors="replace"), json.JSONDecoder(), [], 0
    while True:
        while at < len(text) and text[at] in " \n\r\t,[]":
            at += 1
        if at >= len(text):
            return out
        try:
            obj, at = decoder.raw_decode(text, at)
        except json.JSONDecodeError:
            return out  # a file still being written
        out.append(obj)


def spans_of(request_id: str, timeout_s: float = 60.0) -> list[dict]:
    """Every span of the trace ``request_id`` belongs to, once all stages and the proxy
    have flushed theirs (each process writes its own span file, on its own schedule)."""
    deadline = time.monotonic() + timeout_s
    while True:
        spans = [s for f in SERVE_LOGS.glob("spans/*.json") for s in read_objects(f)]
        tagged = [s for s in spans if s.get("attributes", {}).get("request_id") == request_id]
        traces = {s["context"]["trace_id"] for s in tagged}
        trace = [s for s in spans if s["context"]["trace_id"] in traces]
        seen = {s["attributes"].get("deployment") for s in trace if "attributes" in s}
        # The proxy's root span ends (and is written) after the reply: wait for it too.
        rooted = any(not s.get("parent_id") for s in trace)
        if (STAGES <= seen and rooted) or time.monotonic() > deadline:
            return trace
        time.sleep(2)


def test_one_request_is_one_trace_through_every_stage(graph):
    assert httpx.post(graph.url + "/v1/documents", json={"documents": DOCS}, timeout=300)
    rid = f"trace-{uuid.uuid4().hex[:12]}"
    reply = httpx.post(
        graph.url + "/v1/query",
        json={"query": f"Which forces cause the tides? ({rid})", "top_k": 3},
        headers={"X-Request-Id": rid},
        timeout=120,
    )
    assert reply.status_code == 200, reply.text

    trace = spans_of(rid)
    assert len({s["context"]["trace_id"] for s in trace}) == 1, "one trace per request"
    roots = [s for s in trace if not s.get("parent_id")]
    assert len(roots) == 1 and roots[0]["name"].startswith("proxy_http_request")
    ids = {s["context"]["span_id"] for s in trace}
    assert all(s["parent_id"] in ids for s in trace if s.get("parent_id"))
    handled = {
        s["attributes"].get("deployment")
        for s in trace
        if s["name"].startswith("replica_handle_request")
    }
    assert STAGES <= handled, handled

    logged = set()
    for path in SERVE_LOGS.glob("replica_rag_*.log"):
        for line in path.read_text(errors="replace").splitlines():
            if rid in line:
                record = json.loads(line)  # JSON logs, one object per line
                if record.get("request_id") == rid:
                    logged.add(record.get("deployment", "").removeprefix("rag_"))
    assert STAGES <= logged, logged
