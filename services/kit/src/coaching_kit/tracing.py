"""OpenTelemetry trace context carried in message headers, end to end (docs/operations.md).

A consumed message's `traceparent` is the parent of the span its handler runs in; every
message the handler emits carries that span's context. Spans are exported as OpenTelemetry's
standard variables say (`OTEL_TRACES_EXPORTER`, `OTEL_EXPORTER_OTLP_*`), except that unset
means `none`, not the SDK's `otlp`: a service nobody asked to trace pays nothing for it.

Without an exporter a span is only a context to pass on, so it is made without the SDK: the
SDK's span (attributes, events, timing, processors) cost more than the rest of a handler's
bookkeeping, for nothing anyone could read.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from contextlib import AbstractContextManager

from opentelemetry import context, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider, export
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.trace import NonRecordingSpan, Span, SpanContext, SpanKind, TraceFlags
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from coaching_contracts.envelope import HEADER_TRACEPARENT, HEADER_TRACESTATE

_PROPAGATOR = TraceContextTextMapPropagator()
_IDS = RandomIdGenerator()
_tracer = trace.get_tracer("coaching_kit")
_recording = False  # spans are recorded for an exporter (configure_tracing), else light


class TracingConfigError(ValueError):
    """An OTEL_* setting this service cannot honour; raised at start, naming it."""


def span_processors() -> list[SpanProcessor]:
    """What OTEL_TRACES_EXPORTER asks for; empty when nothing is exported."""
    names = [n.strip() for n in os.environ.get("OTEL_TRACES_EXPORTER", "").split(",")]
    processors: list[SpanProcessor] = []
    for name in filter(None, names):
        if name == "otlp":
            processors.append(_otlp_processor())
        elif name == "console":
            processors.append(export.SimpleSpanProcessor(export.ConsoleSpanExporter()))
        elif name != "none":
            raise TracingConfigError(f"OTEL_TRACES_EXPORTER: {name!r} is not otlp, console or none")
    return processors


def _otlp_processor() -> export.BatchSpanProcessor:
    # Imported only here: a service that exports nothing never loads protobuf and friends.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    protocol = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or os.environ.get(
        "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"
    )
    if protocol != "http/protobuf":
        raise TracingConfigError(
            f"OTEL_EXPORTER_OTLP_PROTOCOL: {protocol!r} is not supported, use http/protobuf"
        )
    return export.BatchSpanProcessor(OTLPSpanExporter())  # it reads OTEL_EXPORTER_OTLP_*


def configure_tracing(service: str) -> None:
    """Install the SDK's tracer provider (once per process) when spans are exported."""
    global _recording
    processors = span_processors()
    if not processors:
        return
    _recording = True
    if isinstance(trace.get_tracer_provider(), TracerProvider):
        return
    name = os.environ.get("OTEL_SERVICE_NAME") or service
    provider = TracerProvider(resource=Resource.create({"service.name": name}))
    for processor in processors:
        provider.add_span_processor(processor)
    trace.set_tracer_provider(provider)
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor

    AsyncPGInstrumentor().instrument(tracer_provider=provider)  # type: ignore[no-untyped-call]


def messaging_attributes(topic: str, message_id: str) -> dict[str, str] | None:
    """A consumed record's span's messaging attributes; None (nothing would read them) unless
    spans are exported."""
    if not _recording:
        return None
    return {
        "messaging.system": "kafka",
        "messaging.destination.name": topic,
        "messaging.operation.type": "process",
        "messaging.operation.name": "process",
        "messaging.message.id": message_id,
    }


def parent_from(traceparent: str | None, tracestate: str | None) -> context.Context:
    carrier = {HEADER_TRACEPARENT: traceparent or "", HEADER_TRACESTATE: tracestate or ""}
    return _PROPAGATOR.extract({k: v for k, v in carrier.items() if v})


def span(
    name: str,
    *,
    parent: context.Context | None = None,
    kind: SpanKind = SpanKind.INTERNAL,
    attributes: Mapping[str, str] | None = None,
) -> AbstractContextManager[Span]:
    if not _recording:
        return trace.use_span(_light_span(parent), end_on_exit=False)
    return _tracer.start_as_current_span(name, context=parent, kind=kind, attributes=attributes)


def _light_span(parent: context.Context | None) -> Span:
    """A child of `parent` (or of the current span) that records nothing: the SDK's ids, the
    parent's flags and state."""
    above = trace.get_current_span(parent).get_span_context()
    span_id = _IDS.generate_span_id()
    if above.is_valid:
        ids = SpanContext(above.trace_id, span_id, False, above.trace_flags, above.trace_state)
    else:
        ids = SpanContext(_IDS.generate_trace_id(), span_id, False, TraceFlags(TraceFlags.SAMPLED))
    return NonRecordingSpan(ids)


def current_headers() -> dict[str, bytes]:
    """The current span's context as Kafka headers (empty outside any recording span)."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return {name: value.encode() for name, value in carrier.items()}


def current_trace_id() -> str | None:
    span_context = trace.get_current_span().get_span_context()
    return format(span_context.trace_id, "032x") if span_context.is_valid else None
