"""Trace export is set with OpenTelemetry's standard variables; a service nobody asked to
trace keeps its light spans, and one that exports gets the messaging attributes and a span
per database statement."""

import http.server
import subprocess
import sys
import threading

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NonRecordingSpan, SpanKind

from coaching_kit import tracing

OTEL_VARIABLES = (
    "OTEL_TRACES_EXPORTER",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
)


@pytest.fixture(autouse=True)
def _no_otel_settings(monkeypatch):
    for name in OTEL_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("value", [None, "", "none"])
def test_nothing_is_exported_unless_asked(monkeypatch, value):
    if value is not None:
        monkeypatch.setenv("OTEL_TRACES_EXPORTER", value)
    assert tracing.span_processors() == []


def test_otlp_ships_spans_over_http_to_the_configured_endpoint(monkeypatch):
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp,console")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector.example:4318")
    otlp, console = tracing.span_processors()
    try:
        assert isinstance(otlp, BatchSpanProcessor)
        assert isinstance(console, SimpleSpanProcessor)
        exporter = otlp.span_exporter
        assert isinstance(exporter, OTLPSpanExporter)
        assert exporter._endpoint == "http://collector.example:4318/v1/traces"
    finally:
        otlp.shutdown()


@pytest.mark.parametrize(
    ("variable", "value"),
    [("OTEL_TRACES_EXPORTER", "zipkin"), ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")],
)
def test_a_setting_the_service_cannot_honour_stops_it_at_start(monkeypatch, variable, value):
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp")
    monkeypatch.setenv(variable, value)
    with pytest.raises(tracing.TracingConfigError, match=variable):
        tracing.span_processors()


def test_light_spans_carry_no_attributes_and_record_nothing():
    assert tracing.messaging_attributes("users.commands", "id-1") is None
    with tracing.span("process x", kind=SpanKind.CONSUMER) as span:
        assert isinstance(span, NonRecordingSpan)
        assert span.get_span_context().is_valid


def test_exported_spans_carry_the_messaging_attributes(monkeypatch):
    exported = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exported))
    monkeypatch.setattr(tracing, "_recording", True)
    monkeypatch.setattr(tracing, "_tracer", provider.get_tracer("test"))

    attributes = tracing.messaging_attributes("users.commands", "id-1")
    with tracing.span("process coaching.user.register.v1", attributes=attributes):
        pass

    [span] = exported.get_finished_spans()
    assert dict(span.attributes or {}) == {
        "messaging.system": "kafka",
        "messaging.destination.name": "users.commands",
        "messaging.operation.type": "process",
        "messaging.operation.name": "process",
        "messaging.message.id": "id-1",
    }


# In a fresh interpreter: configuring installs the process's tracer provider and patches
# asyncpg for good, which must not leak into the other tests.
_DATABASE_SPANS = """
import asyncpg
from coaching_kit.tracing import configure_tracing
configure_tracing("demo")
print(hasattr(asyncpg.connection.Connection.execute, "__wrapped__"))
"""


@pytest.mark.parametrize(("exporter", "instrumented"), [("console", "True"), ("none", "False")])
def test_database_statements_get_spans_only_when_spans_are_exported(exporter, instrumented):
    result = subprocess.run(  # noqa: S603 (our own interpreter and code)
        [sys.executable, "-c", _DATABASE_SPANS],
        env={"OTEL_TRACES_EXPORTER": exporter, "PATH": ""},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert result.stdout.strip() == instrumented


_EXPORT_ONE_SPAN = """
from opentelemetry import trace
from coaching_kit import tracing
tracing.configure_tracing("demo")
with tracing.span("process x", attributes=tracing.messaging_attributes("users.commands", "id-7")):
    pass
trace.get_tracer_provider().force_flush()
"""


def test_spans_reach_an_otlp_collector_over_http():
    received: list[tuple[str, bytes]] = []

    class Collector(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.path, body))
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        environment = {
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{server.server_port}",
            "PATH": "",
        }
        subprocess.run(  # noqa: S603 (our own interpreter and code)
            [sys.executable, "-c", _EXPORT_ONE_SPAN], env=environment, check=True, timeout=60
        )
    finally:
        server.shutdown()
    [(path, body)] = received
    assert path == "/v1/traces"
    for text in (b"demo", b"messaging.destination.name", b"users.commands", b"id-7"):
        assert text in body, text
