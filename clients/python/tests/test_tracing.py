"""The facade carries the caller's OpenTelemetry trace context to ferry: a
session's call sends ``traceparent`` (and ``baggage``) in its gRPC metadata
when a span is current, nothing when none is, and nothing when
``opentelemetry`` cannot be imported. Checked against scripted servers that
keep the metadata each call arrived with (ferry's side, the spans it makes
under that context, is tested in Go: test/integration/trace_test.go)."""

from __future__ import annotations

import sys
import threading
from typing import Any, Dict, Iterator, List, Tuple

import grpc
import pytest
from opentelemetry import baggage, context
from opentelemetry.sdk.trace import TracerProvider

from ferry import _tracing
from ferry.flink import (
    DeliveryGuarantee,
    KafkaRecordSerializationSchema,
    KafkaSink,
    KafkaSource,
    RawBytesSchema,
    SimpleStringSchema,
)
from ferry.v1 import service_pb2_grpc, sink_pb2, source_pb2
from scripted import scripted_server

# Seconds any single wait may take.
WAIT_S = 10.0

Metadata = Dict[str, str]


class Recorder:
    """Keeps the metadata of every call, in order."""

    def __init__(self) -> None:
        self.calls: List[Metadata] = []
        self.lock = threading.Lock()

    def keep(self, ctx: grpc.ServicerContext) -> None:
        with self.lock:
            self.calls.append({k: v for k, v in ctx.invocation_metadata() if isinstance(v, str)})


class ScriptedSink(service_pb2_grpc.SinkServiceServicer, Recorder):
    """Answers open and close like ferry."""

    def Write(
        self, request_iterator: Iterator[sink_pb2.WriteRequest], ctx: grpc.ServicerContext
    ) -> Iterator[sink_pb2.WriteResponse]:
        self.keep(ctx)
        for req in request_iterator:
            kind = req.WhichOneof("kind")
            if kind == "open":
                yield sink_pb2.WriteResponse(opened=sink_pb2.SinkOpened(session_id="scripted"))
            elif kind == "close":
                yield sink_pb2.WriteResponse(closed=sink_pb2.SinkClosed())
                return


class ScriptedSource(service_pb2_grpc.SourceServiceServicer, Recorder):
    """Answers open, then ends the stream OK when the client closes."""

    def Read(
        self, request_iterator: Iterator[source_pb2.ReadRequest], ctx: grpc.ServicerContext
    ) -> Iterator[source_pb2.ReadResponse]:
        self.keep(ctx)
        for req in request_iterator:
            kind = req.WhichOneof("kind")
            if kind == "open":
                yield source_pb2.ReadResponse(opened=source_pb2.SourceOpened(session_id="scripted"))
            elif kind == "close":
                return


@pytest.fixture
def sink() -> Iterator[Tuple[ScriptedSink, grpc.Channel]]:
    servicer = ScriptedSink()
    stubs: Any = service_pb2_grpc  # the generated code has no type hints
    with scripted_server(stubs.add_SinkServiceServicer_to_server, servicer) as channel:
        yield servicer, channel


@pytest.fixture
def source() -> Iterator[Tuple[ScriptedSource, grpc.Channel]]:
    servicer = ScriptedSource()
    stubs: Any = service_pb2_grpc
    with scripted_server(stubs.add_SourceServiceServicer_to_server, servicer) as channel:
        yield servicer, channel


def _write_session(channel: grpc.Channel) -> None:
    serializer = (
        KafkaRecordSerializationSchema.builder().set_topic("t").set_value_serialization_schema(RawBytesSchema()).build()
    )
    sink = (
        KafkaSink.builder()
        .set_channel(channel)
        .set_record_serializer(serializer)
        .set_delivery_guarantee(DeliveryGuarantee.AT_LEAST_ONCE)
        .build()
    )
    with sink.open(timeout=WAIT_S):
        pass


def _read_session(channel: grpc.Channel) -> None:
    source = (
        KafkaSource.builder()
        .set_channel(channel)
        .set_topics("t")
        .set_value_only_deserializer(SimpleStringSchema())
        .build()
    )
    with source.open(timeout=WAIT_S):
        pass


def _traceparent(span: Any) -> str:
    """The W3C traceparent of span: version, trace id, parent id, flags."""
    sc = span.get_span_context()
    return f"00-{sc.trace_id:032x}-{sc.span_id:016x}-{sc.trace_flags:02x}"


def test_a_sink_session_carries_the_current_span(sink: Tuple[ScriptedSink, grpc.Channel]) -> None:
    servicer, channel = sink
    tracer = TracerProvider().get_tracer("test")
    token = context.attach(baggage.set_baggage("job", "copy-7"))
    try:
        with tracer.start_as_current_span("caller") as span:
            _write_session(channel)
    finally:
        context.detach(token)
    assert servicer.calls[0].get("traceparent") == _traceparent(span)
    assert servicer.calls[0].get("baggage") == "job=copy-7"


def test_a_source_session_carries_the_current_span(source: Tuple[ScriptedSource, grpc.Channel]) -> None:
    servicer, channel = source
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("caller") as span:
        _read_session(channel)
    assert servicer.calls[0].get("traceparent") == _traceparent(span)


def test_without_a_current_span_nothing_is_added(
    sink: Tuple[ScriptedSink, grpc.Channel], source: Tuple[ScriptedSource, grpc.Channel]
) -> None:
    _write_session(sink[1])
    _read_session(source[1])
    for call in sink[0].calls + source[0].calls:
        assert not {"traceparent", "tracestate", "baggage"} & call.keys()


def test_without_opentelemetry_nothing_is_added(
    sink: Tuple[ScriptedSink, grpc.Channel], monkeypatch: pytest.MonkeyPatch
) -> None:
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("caller"):
        # None in sys.modules makes importing fail as if the package were
        # not installed.
        for name in [m for m in sys.modules if m == "opentelemetry" or m.startswith("opentelemetry.")]:
            monkeypatch.setitem(sys.modules, name, None)
        monkeypatch.setattr(_tracing, "_propagate", None)
        assert _tracing.metadata() is None
        _write_session(sink[1])
    assert "traceparent" not in sink[0].calls[0]
