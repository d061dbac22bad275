"""OpenTelemetry spans per stage, on top of the trace Ray Serve makes of every request.

Ray Serve traces requests itself once an exporter is configured: the proxy opens a
``proxy_http_request`` span, every handle call a ``route_to_replica <Deployment> <method>``
span and every replica a ``replica_handle_request <Deployment> <method>`` span with Serve's
``request_id``; the trace context rides in each call's request metadata, so one request is
one trace through every deployment. This module adds the two pieces Serve leaves to us:

- :func:`span_processors`, the exporter hook Serve imports in each proxy and replica process
  (``RAY_SERVE_TRACING_EXPORTER_IMPORT_PATH=deployments.observability.tracing:span_processors``):
  OTLP over HTTP when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set, else JSON spans in Serve's log
  directory (``logs/serve/spans/``), written by Ray's own file exporter.
- :func:`stage_span`, a child span around part of a stage's work, tagged ``rag.stage`` and
  ``rag.request_id``; a no-op when tracing is off.

docs/OBSERVABILITY.md says how to switch it on locally and on Kubernetes.
"""

from __future__ import annotations

import os
from types import TracebackType
from typing import TYPE_CHECKING

from opentelemetry import trace
from opentelemetry.util.types import AttributeValue

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import SpanProcessor

#: What Serve's ``RAY_SERVE_TRACING_EXPORTER_IMPORT_PATH`` names to use this module's hook.
EXPORTER_IMPORT_PATH = "deployments.observability.tracing:span_processors"
#: The standard OTLP variables; either one sends spans over OTLP/HTTP.
OTLP_ENDPOINT_VARS = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")

_OFF = (trace.ProxyTracerProvider, trace.NoOpTracerProvider)
_cached: tuple[trace.TracerProvider, trace.Tracer] | None = None


def span_processors() -> list[SpanProcessor]:
    """The span processors of this process's tracer provider (Serve's exporter hook).

    Serve calls it once per proxy and replica, with no arguments, when
    ``RAY_SERVE_TRACING_EXPORTER_IMPORT_PATH`` names it.

    Returns:
        A batching OTLP/HTTP exporter when ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or
        ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) is set; it reads the endpoint, headers and
        timeout from the standard ``OTEL_EXPORTER_OTLP_*`` variables. Otherwise Ray's file
        exporter, one JSON file per process under ``<session>/logs/serve/spans/``.
    """
    if any(os.environ.get(var) for var in OTLP_ENDPOINT_VARS):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        return [BatchSpanProcessor(OTLPSpanExporter())]
    # Ray's default exporter (what Serve uses when no hook is named), under a file name
    # of our own: Serve passes its component's name to its default exporter only.
    from ray.serve._private.tracing_utils import default_tracing_exporter

    return default_tracing_exporter(f"{_process_role()}_{os.getpid()}_tracing.json")


def _process_role() -> str:
    """The deployment this replica serves, or ``proxy`` (the only other caller)."""
    from ray import serve
    from ray.serve.exceptions import RayServeException

    try:
        return serve.get_replica_context().deployment
    except RayServeException:
        return "proxy"


def stage_span(name: str, **attributes: AttributeValue | None) -> StageSpan:
    """A span named ``name`` around a stage's work, child of the current (replica) span.

    Usable as ``with`` and ``async with``; one ``with`` per call. The span carries
    ``rag.stage`` (``name``), ``rag.request_id`` (Serve's request id; in a ``@serve.batch``
    body, ``rag.request_ids`` of the batch) and every keyword as ``rag.<key>`` (``None``
    values are left out). An exception leaving the block is recorded on the span and
    re-raised. With tracing off (no tracer provider set, as outside a traced Serve
    process) it does nothing and yields an invalid span.

    Example:
        >>> with stage_span("retrieve", top_k=5) as span:
        ...     pass
        >>> span.is_recording()  # no tracer provider here
        False
    """
    return StageSpan(name, attributes)


class StageSpan:
    """The context manager :func:`stage_span` returns."""

    __slots__ = ("_name", "_attributes", "_active")

    def __init__(self, name: str, attributes: dict[str, AttributeValue | None]) -> None:
        self._name = name
        self._attributes = attributes
        self._active = None

    def __enter__(self) -> trace.Span:
        tracer = _tracer()
        if tracer is None:
            return trace.INVALID_SPAN
        self._active = tracer.start_as_current_span(self._name)
        span = self._active.__enter__()
        if span.is_recording():
            span.set_attributes(self._span_attributes())
        return span

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        active, self._active = self._active, None
        return None if active is None else active.__exit__(exc_type, exc, tb)

    async def __aenter__(self) -> trace.Span:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        return self.__exit__(exc_type, exc, tb)

    def _span_attributes(self) -> dict[str, AttributeValue]:
        attrs: dict[str, AttributeValue] = {"rag.stage": self._name, **request_attributes()}
        attrs.update({f"rag.{k}": v for k, v in self._attributes.items() if v is not None})
        return attrs


def request_attributes() -> dict[str, AttributeValue]:
    """``rag.request_id``: the id of the Serve request being handled (the client's
    ``X-Request-Id``, or the one Serve's proxy made), carried through every handle call.
    In a ``@serve.batch`` body, which serves several requests, ``rag.request_ids``.
    Empty outside a request.

    Serve has no public accessor for the request id (2.60); this reads the context its
    own log lines use.
    """
    from ray.serve import context

    request_id = context._get_serve_request_context().request_id
    if request_id:
        return {"rag.request_id": request_id}
    batch = [c.request_id for c in context._get_serve_batch_request_context() if c.request_id]
    return {"rag.request_ids": batch} if batch else {}


def _tracer() -> trace.Tracer | None:
    """A tracer of the global provider (the one Serve sets up), or None while none is set."""
    global _cached
    provider = trace.get_tracer_provider()
    if isinstance(provider, _OFF):
        return None
    if _cached is None or _cached[0] is not provider:
        _cached = (provider, provider.get_tracer(__name__))
    return _cached[1]
