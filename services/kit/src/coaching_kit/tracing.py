"""OpenTelemetry trace context carried in message headers, end to end.

A consumed message's `traceparent` (W3C Trace Context) is the parent of the span its handler
runs in; every message the handler emits carries that span's context in its own
`traceparent`. So a command published with a trace, and everything it causes across the
services (the saga's events, the stats snapshot), share one trace id. A message without one
starts a new trace. Exporting spans is the deployment's choice: with no exporter configured
they only name the context; `OTEL_TRACES_EXPORTER=console` prints them.

Without an exporter a span is only a context to pass on, so it is made without the SDK: a
new span id under the parent's trace (or a new trace), as a non-recording span. The SDK's
span (attributes, events, timing, processors) cost more than the rest of a handler's
bookkeeping, for nothing anyone could read.
"""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Iterator, Mapping

from opentelemetry import context, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor
from opentelemetry.trace import NonRecordingSpan, Span, SpanContext, SpanKind, TraceFlags
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"
_PROPAGATOR = TraceContextTextMapPropagator()
_tracer = trace.get_tracer("coaching_kit")
# Whether spans are recorded for an exporter (configure_tracing); if not, they are light.
_recording = False


def configure_tracing(service: str) -> None:
    """Install the SDK's tracer provider (once per process) when spans are exported."""
    global _recording
    if os.environ.get("OTEL_TRACES_EXPORTER") != "console":
        return
    _recording = True
    if isinstance(trace.get_tracer_provider(), TracerProvider):
        return
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
    trace.set_tracer_provider(provider)


def parent_from(traceparent: str | None, tracestate: str | None) -> context.Context:
    carrier = {TRACEPARENT: traceparent or "", TRACESTATE: tracestate or ""}
    return _PROPAGATOR.extract({k: v for k, v in carrier.items() if v})


@contextlib.contextmanager
def span(
    name: str,
    *,
    parent: context.Context | None = None,
    kind: SpanKind = SpanKind.INTERNAL,
    attributes: Mapping[str, str] | None = None,
) -> Iterator[Span]:
    if not _recording:
        with trace.use_span(_light_span(parent), end_on_exit=False) as current:
            yield current
        return
    with _tracer.start_as_current_span(
        name, context=parent, kind=kind, attributes=dict(attributes or {})
    ) as current:
        yield current


def _light_span(parent: context.Context | None) -> Span:
    """A child of `parent` (or of the current span) that records nothing; the ids are drawn
    as the SDK's generator draws them, the flags and state are the parent's."""
    above = trace.get_current_span(parent).get_span_context()
    span_id = random.getrandbits(64) or 1
    if above.is_valid:
        ids = SpanContext(above.trace_id, span_id, False, above.trace_flags, above.trace_state)
    else:
        ids = SpanContext(
            random.getrandbits(128) or 1, span_id, False, TraceFlags(TraceFlags.SAMPLED)
        )
    return NonRecordingSpan(ids)


def current_headers() -> dict[str, bytes]:
    """The current span's context as Kafka headers (empty outside any recording span)."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return {name: value.encode() for name, value in carrier.items()}


def current_trace_id() -> str | None:
    span_context = trace.get_current_span().get_span_context()
    return format(span_context.trace_id, "032x") if span_context.is_valid else None
