"""Stage spans and the exporter hook, without Ray: an SDK tracer provider with an in-memory
exporter stands in for the one Ray Serve sets up in each replica (``setup_tracing``), and
a local HTTP server for an OpenTelemetry Collector."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ParentBasedTraceIdRatio
from opentelemetry.trace import StatusCode
from ray.serve import context as serve_context

from deployments.observability import tracing
from deployments.observability.tracing import EXPORTER_IMPORT_PATH, span_processors, stage_span


def use_provider(monkeypatch: pytest.MonkeyPatch, provider: TracerProvider) -> None:
    """Make ``provider`` the global one for this test only (Serve sets it once per process)."""
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: provider)


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    use_provider(monkeypatch, provider)
    yield exporter
    provider.shutdown()


def test_a_stage_span_carries_the_stage_the_request_id_and_its_keywords(spans, request_id):
    with stage_span("retrieve", top_k=5, mode="hybrid", cached=None) as span:
        assert span.is_recording()
    (done,) = spans.get_finished_spans()
    assert done.name == "retrieve"
    assert dict(done.attributes) == {
        "rag.stage": "retrieve",
        "rag.request_id": request_id,
        "rag.top_k": 5,
        "rag.mode": "hybrid",
    }


def test_async_and_nested_stage_spans_join_the_replica_span_in_one_trace(spans, request_id):
    tracer = trace.get_tracer_provider().get_tracer("serve")

    async def handle() -> None:
        async with stage_span("rerank"):
            with stage_span("rerank.maxsim"):
                await asyncio.sleep(0)

    # What Serve's replica does around a call: a span made current in the call's context.
    with tracer.start_as_current_span("replica_handle_request Reranker rerank"):
        asyncio.run(handle())
    by_name = {s.name: s for s in spans.get_finished_spans()}
    replica = by_name["replica_handle_request Reranker rerank"]
    rerank, maxsim = by_name["rerank"], by_name["rerank.maxsim"]
    assert {s.context.trace_id for s in by_name.values()} == {replica.context.trace_id}
    assert rerank.parent.span_id == replica.context.span_id
    assert maxsim.parent.span_id == rerank.context.span_id
    assert maxsim.attributes["rag.request_id"] == request_id


def test_concurrent_requests_keep_their_own_request_id(spans):
    async def call(rid: str) -> None:
        serve_context._serve_request_context.set(serve_context._RequestContext(request_id=rid))
        async with stage_span("retrieve"):
            await asyncio.sleep(0.01)  # the other request runs meanwhile

    async def both() -> None:
        await asyncio.gather(call("a"), call("b"))  # each task has its own context

    asyncio.run(both())
    ids = sorted(s.attributes["rag.request_id"] for s in spans.get_finished_spans())
    assert ids == ["a", "b"]


def test_a_batch_body_names_every_request_of_its_batch(spans):
    contexts = [serve_context._RequestContext(request_id=r) for r in ("a", "b", "c")]
    token = serve_context._serve_batch_request_context.set(contexts)
    try:
        with stage_span("embed", batch_size=3):
            pass
    finally:
        serve_context._serve_batch_request_context.reset(token)
    (done,) = spans.get_finished_spans()
    assert done.attributes["rag.request_ids"] == ("a", "b", "c")
    assert "rag.request_id" not in done.attributes


def test_an_exception_is_recorded_on_the_span_and_raised(spans, request_id):
    with pytest.raises(ValueError, match="bad top_k"):
        with stage_span("retrieve"):
            raise ValueError("bad top_k")
    (done,) = spans.get_finished_spans()
    assert done.status.status_code is StatusCode.ERROR
    assert [e.name for e in done.events] == ["exception"]


def test_with_tracing_off_it_does_nothing(monkeypatch, request_id):
    # No tracer provider is set in this process (as in a replica without an exporter hook).
    assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
    monkeypatch.setattr(tracing, "request_attributes", lambda: pytest.fail("read the request"))
    with stage_span("retrieve", top_k=5) as span:
        assert span is trace.INVALID_SPAN


def test_an_unsampled_request_gets_no_stage_span(monkeypatch, request_id):
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=ParentBasedTraceIdRatio(0.0))  # Serve's sampler
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    use_provider(monkeypatch, provider)
    monkeypatch.setattr(tracing, "request_attributes", lambda: pytest.fail("read the request"))
    with provider.get_tracer("serve").start_as_current_span("replica_handle_request"):
        with stage_span("retrieve") as span:
            assert not span.is_recording()
    assert exporter.get_finished_spans() == ()


class Collector(BaseHTTPRequestHandler):
    """An OTLP/HTTP receiver: keeps every ``POST /v1/traces`` body it is sent."""

    received: list[tuple[str, ExportTraceServiceRequest]] = []

    def do_POST(self) -> None:  # noqa: N802 (BaseHTTPRequestHandler's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, ExportTraceServiceRequest.FromString(body)))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), Collector)
    Collector.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_with_an_otlp_endpoint_spans_go_to_it_over_http(monkeypatch, collector, request_id):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector)
    monkeypatch.setenv("OTEL_SERVICE_NAME", "rag-serve")
    processors = span_processors()
    assert [type(p) for p in processors] == [BatchSpanProcessor]
    provider = TracerProvider()
    for processor in processors:
        provider.add_span_processor(processor)
    use_provider(monkeypatch, provider)
    with stage_span("generate", route="/v1/query"):
        pass
    provider.shutdown()  # flushes the batch
    ((path, request),) = Collector.received
    assert path == "/v1/traces"
    (resource_spans,) = request.resource_spans
    service = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
    assert service["service.name"] == "rag-serve"
    ((span,),) = [s.spans for s in resource_spans.scope_spans]
    attrs = {a.key: a.value.string_value for a in span.attributes}
    assert span.name == "generate"
    assert attrs == {
        "rag.stage": "generate",
        "rag.request_id": request_id,
        "rag.route": "/v1/query",
    }


def test_without_an_endpoint_spans_go_to_rays_span_files(monkeypatch, tmp_path: Path):
    for var in tracing.OTLP_ENDPOINT_VARS:
        monkeypatch.delenv(var, raising=False)
    from ray.serve._private import logging_utils

    monkeypatch.setattr(logging_utils, "get_serve_logs_dir", lambda: str(tmp_path))
    processors = span_processors()
    provider = TracerProvider()
    for processor in processors:
        provider.add_span_processor(processor)
    use_provider(monkeypatch, provider)
    with stage_span("rewrite"):
        pass
    provider.shutdown()
    (path,) = (tmp_path / "spans").iterdir()
    assert path.name.startswith("proxy_") and path.name.endswith("_tracing.json")  # no replica
    span = json.loads(path.read_text())
    assert span["name"] == "rewrite" and span["attributes"] == {"rag.stage": "rewrite"}


def test_ray_serve_accepts_the_hook(monkeypatch):
    """What Serve runs on ``RAY_SERVE_TRACING_EXPORTER_IMPORT_PATH``: import, check that it
    takes no arguments and returns span processors."""
    from ray.serve._private.tracing_utils import _load_span_processors

    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")
    processors = _load_span_processors(EXPORTER_IMPORT_PATH, "unused_tracing.json")
    assert [type(p) for p in processors] == [BatchSpanProcessor]
    for processor in processors:
        processor.shutdown()
