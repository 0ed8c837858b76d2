"""OpenTelemetry tracing and Prometheus RED metrics, set up the same way in every process.

Traces are exported only when the standard variables ask for it (`OTEL_TRACES_EXPORTER=otlp` or
`console`, or an `OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT`). Until something exports, spans are not
recorded (they still carry trace ids into logs and downstream calls), which keeps the cost of
instrumentation near zero; `OTEL_TRACES_SAMPLER`, when set, decides instead.
"""

import os
from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI, Response
from fastapi.telemetry import TelemetryConfig
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.instrumentation.redis import RedisInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    ParentBased,
    Sampler,
    SamplingResult,
)
from opentelemetry.trace import NonRecordingSpan, SpanContext
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

_provider: TracerProvider | None = None
_exporting = False

HTTP_REQUESTS = Counter(
    "http_requests_total", "HTTP requests by route template", ["method", "route", "status"]
)
HTTP_DURATION = Histogram(
    "http_request_duration_seconds", "HTTP request duration by route template", ["method", "route"]
)
HTTP_IN_PROGRESS = Gauge("http_requests_in_progress", "HTTP requests being served", ["method"])

_UNTRACED = "livez,readyz,metrics"


def _exporter_from_env() -> SpanExporter | None:
    choice = os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    endpoint = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    if choice == "console":
        return ConsoleSpanExporter()
    if choice == "otlp" or (choice == "" and endpoint):
        protocol = os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
        if protocol == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

            return OTLPSpanExporter()
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
            OTLPSpanExporter as HttpExporter,
        )

        return HttpExporter()
    return None


class SampleWhileExporting(Sampler):
    """Record spans (respecting the parent's decision) only once an exporter is attached."""

    _on = ParentBased(ALWAYS_ON)

    def should_sample(self, *args: Any, **kwargs: Any) -> SamplingResult:
        return (self._on if _exporting else ALWAYS_OFF).should_sample(*args, **kwargs)

    def get_description(self) -> str:
        return "SampleWhileExporting"


def export_to(exporter: SpanExporter, processor: type[SpanProcessor] = BatchSpanProcessor) -> None:
    """Start exporting this process's spans (tests pass an in-memory exporter)."""
    global _exporting
    if _provider is None:
        raise RuntimeError("call setup_tracing() first")
    _provider.add_span_processor(processor(exporter))  # type: ignore[call-arg]
    if not _exporting:
        # Client spans are only worth their cost once they are recorded.
        AsyncPGInstrumentor().instrument(tracer_provider=_provider)  # type: ignore[no-untyped-call]
        HTTPXClientInstrumentor().instrument(tracer_provider=_provider)
        RedisInstrumentor().instrument(tracer_provider=_provider)
    _exporting = True


def setup_tracing(service: str) -> TracerProvider:
    """Once per process: tracer provider and, if the environment names one, an exporter."""
    global _provider
    if _provider is not None:
        return _provider
    name = os.environ.get("OTEL_SERVICE_NAME", service)
    sampler = None if "OTEL_TRACES_SAMPLER" in os.environ else SampleWhileExporting()
    _provider = TracerProvider(resource=Resource.create({"service.name": name}), sampler=sampler)
    if exporter := _exporter_from_env():
        export_to(exporter)
    trace.set_tracer_provider(_provider)
    return _provider


# FastAPI's own OpenTelemetry layer would add a second server span and operation spans to
# every request; kit's instrumentation (below) and RED metrics (Prometheus) cover both.
FASTAPI_TELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}


def recording() -> bool:
    return _exporting


_ids = RandomIdGenerator()
_TRACE_HEADERS = (b"traceparent", b"tracestate")


def request_context(headers: Iterable[tuple[bytes, bytes]]) -> Context:
    """A request's trace context while no server span is recorded: the caller's (W3C
    `traceparent`) if it sent one, else fresh ids. Logs and outbox messages carry its trace id
    at the cost of two random numbers, not a span per request."""
    carrier = {k.decode("latin-1"): v.decode("latin-1") for k, v in headers if k in _TRACE_HEADERS}
    if carrier:
        context = propagate.extract(carrier)
        if trace.get_current_span(context).get_span_context().is_valid:
            return context
    fresh = SpanContext(_ids.generate_trace_id(), _ids.generate_span_id(), is_remote=False)
    return trace.set_span_in_context(NonRecordingSpan(fresh))


def instrument_app(app: FastAPI, provider: TracerProvider) -> None:
    """Server spans when something exports them (else `kit.http` sets `request_context`)."""
    if _exporting:
        FastAPIInstrumentor.instrument_app(
            app,
            tracer_provider=provider,
            excluded_urls=_UNTRACED,
            exclude_spans=["receive", "send"],
        )

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def observe_request(method: str, route: str | None, status: int, seconds: float) -> None:
    """RED metrics labelled by the matched route template, never the raw path."""
    label = route or "<unmatched>"
    HTTP_REQUESTS.labels(method, label, str(status)).inc()
    HTTP_DURATION.labels(method, label).observe(seconds)
