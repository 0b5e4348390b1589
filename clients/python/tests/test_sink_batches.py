"""SinkWriter's batches, pinned message by message against a scripted
SinkService (an in-process gRPC server that, like ferry, takes client
messages up to 16 MiB), where the real server cannot show the batch
boundaries: batches end at the record count or at SinkWriter.MAX_BATCH_BYTES,
whichever comes first, keep the records in order, and a record whose
serialization fails leaves nothing behind. Also the size estimate the byte
limit counts with, which must bound a record's encoding from above."""

from __future__ import annotations

import threading
from typing import Any, Callable, Iterable, Iterator, List, Optional, Tuple

import grpc
import pytest

from ferry.flink import (
    DeliveryGuarantee,
    KafkaRecordSerializationSchema,
    KafkaRecordSerializationSchemaBuilder,
    KafkaSink,
    RawBytesSchema,
    SinkWriter,
)
from ferry.v1 import service_pb2_grpc, sink_pb2
from scripted import scripted_server

TOPIC = "t"
# Seconds any single wait may take.
WAIT_S = 10.0
# ferry's limit on one client message (server.Config.MaxRecvBytes).
MAX_RECV = 16 << 20


class ScriptedSink(service_pb2_grpc.SinkServiceServicer):
    """Answers open, checkpoint (flushed) and close like ferry under
    AT_LEAST_ONCE and keeps every WriteBatch it gets, with the size of its
    WriteRequest on the wire."""

    def __init__(self) -> None:
        self.batches: List[Tuple[sink_pb2.WriteBatch, int]] = []
        self.lock = threading.Lock()

    def Write(
        self, request_iterator: Iterator[sink_pb2.WriteRequest], context: grpc.ServicerContext
    ) -> Iterator[sink_pb2.WriteResponse]:
        written = 0
        for req in request_iterator:
            kind = req.WhichOneof("kind")
            if kind == "open":
                yield sink_pb2.WriteResponse(opened=sink_pb2.SinkOpened(session_id="scripted"))
            elif kind == "records":
                with self.lock:
                    self.batches.append((req.records, req.ByteSize()))
                written += len(req.records.records)
            elif kind == "checkpoint":
                yield sink_pb2.WriteResponse(
                    flushed=sink_pb2.CheckpointFlushed(
                        checkpoint_id=req.checkpoint.checkpoint_id, records_written=written
                    )
                )
            elif kind == "close":
                yield sink_pb2.WriteResponse(closed=sink_pb2.SinkClosed(records_written=written))
                return

    def values(self) -> List[Optional[bytes]]:
        """Every record's value in the order the batches came."""
        return [r.value if r.HasField("value") else None for b, _ in self.batches for r in b.records]

    def counts(self) -> List[int]:
        return [len(b.records) for b, _ in self.batches]


@pytest.fixture
def scripted() -> Iterator[Tuple[ScriptedSink, grpc.Channel]]:
    servicer = ScriptedSink()
    grpc_module: Any = service_pb2_grpc  # the generated code has no type hints
    with scripted_server(
        grpc_module.add_SinkServiceServicer_to_server, servicer, [("grpc.max_receive_message_length", MAX_RECV)]
    ) as channel:
        yield servicer, channel


def _raw(topic: str = TOPIC, value: Any = None) -> KafkaRecordSerializationSchemaBuilder[Any]:
    return (
        KafkaRecordSerializationSchema.builder()
        .set_topic(topic)
        .set_value_serialization_schema(value if value is not None else RawBytesSchema())
    )


def _open(
    channel: grpc.Channel, batch_size: int, serializer: Optional[KafkaRecordSerializationSchema[Any]] = None
) -> SinkWriter[Any]:
    sink = (
        KafkaSink.builder()
        .set_channel(channel)
        .set_record_serializer(serializer if serializer is not None else _raw().build())
        .set_delivery_guarantee(DeliveryGuarantee.AT_LEAST_ONCE)
        .set_batch_size(batch_size)
        .build()
    )
    return sink.open(timeout=WAIT_S)


def _value(i: int, size: int) -> bytes:
    return bytes([65 + i % 26]) * size


@pytest.mark.parametrize("batched", [False, True], ids=["write", "write_batch"])
def test_large_records_split_below_the_server_limit(
    scripted: Tuple[ScriptedSink, grpc.Channel], batched: bool
) -> None:
    """40 records of 1 MiB with 1000 records per batch: one message would be
    40 MiB, which ferry refuses; the byte limit sends them in batches that
    each fit."""
    server, channel = scripted
    values = [_value(i, 1 << 20) for i in range(40)]
    with _open(channel, 1000) as writer:
        if batched:
            writer.write_batch(values)
        else:
            for v in values:
                writer.write(v)
    assert writer.records_written == 40
    assert server.values() == values
    for batch, wire in server.batches:
        assert wire < MAX_RECV
        assert batch.ByteSize() <= SinkWriter.MAX_BATCH_BYTES
    assert server.counts() == [7, 7, 7, 7, 7, 5]  # 8 MiB of estimate holds 7 such records
    assert [b.sequence for b, _ in server.batches] == [1, 2, 3, 4, 5, 6]


def test_batches_end_at_the_byte_limit_or_the_record_count(
    scripted: Tuple[ScriptedSink, grpc.Channel], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, channel = scripted
    # A record of a 3000-byte value counts 3046: three fit in 10000, four do not.
    monkeypatch.setattr(SinkWriter, "MAX_BATCH_BYTES", 10_000)
    values = [_value(i, 3000) for i in range(10)] + [b"x"] * 7
    with _open(channel, 5) as writer:
        writer.write_batch(values)
        writer.prepare(1)  # flushes the tail
        assert server.counts() == [3, 3, 3, 5, 3]
    assert server.values() == values
    for batch, _ in server.batches:
        assert batch.ByteSize() <= 10_000


def test_a_record_larger_than_the_limit_goes_alone(
    scripted: Tuple[ScriptedSink, grpc.Channel], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, channel = scripted
    monkeypatch.setattr(SinkWriter, "MAX_BATCH_BYTES", 10_000)
    values = [b"a", b"b", _value(2, 20_000), b"d", _value(4, 20_000), _value(5, 20_000), b"g"]
    with _open(channel, 100) as writer:
        for v in values:
            writer.write(v)
    assert server.counts() == [2, 1, 1, 1, 1, 1]
    assert server.values() == values


def test_consumed_offsets_go_with_the_flushed_batch(scripted: Tuple[ScriptedSink, grpc.Channel]) -> None:
    server, channel = scripted
    with _open(channel, 100) as writer:
        writer.write(b"a")
        writer.flush(("g", {(TOPIC, 1): 7, (TOPIC, 0): 5}))
        writer.flush(("g", {}))  # no records, still a batch
        writer.write(b"b")
    batches = [b for b, _ in server.batches]
    assert [len(b.records) for b in batches] == [1, 0, 1]
    assert [(o.topic, o.partition, o.offset) for o in batches[0].consumed_offsets.offsets] == [
        (TOPIC, 0, 5),
        (TOPIC, 1, 7),
    ]
    assert batches[0].consumed_offsets.group_id == "g"
    assert batches[1].HasField("consumed_offsets") and batches[1].consumed_offsets.group_id == "g"
    assert not batches[2].HasField("consumed_offsets")


class _Failing:
    """A value schema that refuses b"bad" (and passes a str through, which
    the record then refuses)."""

    def serialize(self, value: Any) -> Optional[bytes]:
        if value == b"bad":
            raise ValueError("bad value")
        return value  # type: ignore[no-any-return]


def _bad_headers(value: bytes) -> Iterable[Tuple[str, Optional[bytes]]]:
    yield "h", b"1"
    if value == b"bad-header":
        raise ValueError("bad header")


@pytest.mark.parametrize(
    "make",
    [
        lambda: _raw(value=_Failing()).build(),
        lambda: _raw(value=_Failing())
        .set_key_serialization_schema(RawBytesSchema())
        .build(),
        lambda: _raw(value=_Failing()).set_headers_provider(_bad_headers).build(),
        lambda: _raw(value=_Failing())
        .set_topic_selector(lambda v: None if v == b"no-topic" else TOPIC)  # type: ignore[arg-type, return-value]
        .build(),
    ],
    ids=["value", "key-value", "headers", "topic"],
)
def test_a_failed_serialization_leaves_no_record(
    scripted: Tuple[ScriptedSink, grpc.Channel], make: Callable[[], KafkaRecordSerializationSchema[Any]]
) -> None:
    server, channel = scripted
    serializer = make()
    bad = [b"bad", "str"] + ([b"bad-header"] if serializer._headers_provider else [])
    bad += [b"no-topic"] if serializer._topic_selector else []
    with _open(channel, 3, serializer) as writer:
        writer.write(b"a")
        for value in bad:
            with pytest.raises((ValueError, TypeError)):
                writer.write(value)
        with pytest.raises((ValueError, TypeError)):
            writer.write_batch([b"b", b"bad", b"c"])
        writer.write(b"d")
    assert server.values() == [b"a", b"b", b"d"]
    assert server.counts() == [3]


def test_records_of_the_default_topic_leave_it_to_the_spec(scripted: Tuple[ScriptedSink, grpc.Channel]) -> None:
    """The sink spec's default topic is the serializer's; records name a
    topic only when the selector picks another one (the server fills in the
    spec's for an empty one)."""
    server, channel = scripted
    selector = _raw().set_topic_selector(lambda v: "other" if v == b"o" else TOPIC).build()
    for serializer in (_raw().build(), selector):
        server.batches.clear()
        with _open(channel, 10, serializer) as writer:
            writer.write_batch([b"a", b"o", None])
        assert [(r.topic, r.HasField("value")) for b, _ in server.batches for r in b.records] == [
            ("", True),
            ("other" if serializer is selector else "", True),
            ("", False),
        ]
    # serialize() still names the topic, as Flink's serialize does.
    assert _raw().build().serialize(b"a").topic == TOPIC


@pytest.mark.parametrize(
    "builder, value",
    [
        (_raw("ünïcødé-tøpic"), b""),
        (_raw("ünïcødé-tøpic"), None),
        (_raw("ünïcødé-tøpic"), b"v" * 300_000),
        (_raw("ünïcødé-tøpic").set_key_serialization_schema(RawBytesSchema()), b"k" * 200),
        (
            _raw("ünïcødé-tøpic")
            .set_topic_selector(lambda v: "ünïcødé-tøpic-" + "é" * 100)
            .set_key_serialization_schema(RawBytesSchema())
            .set_partition_selector(lambda v: -1)
            .set_headers_provider(lambda v: [("é" * 50, None), ("", b""), ("k", v), ("ü", b"x" * 200)])
            .set_timestamp_selector(lambda v: -(2**63)),
            b"v" * 130,
        ),
    ],
    ids=["empty", "null", "large", "key", "everything"],
)
@pytest.mark.parametrize("default_topic", ["", "ünïcødé-tøpic"])
def test_the_size_estimate_bounds_the_encoding(
    builder: KafkaRecordSerializationSchemaBuilder[Any], value: Optional[bytes], default_topic: str
) -> None:
    """With default_topic "" records name their topic; with the serializer's
    own they leave it to the spec (the fast paths do)."""
    serializer = builder.build()
    batch = sink_pb2.WriteBatch()
    estimate = serializer._appender(default_topic)(value, batch.records)
    assert len(batch.records) == 1
    assert batch.ByteSize() <= estimate
    # The record itself is what serialize() builds, but for the default topic.
    expected = serializer.serialize(value)
    if expected.topic == default_topic:
        expected.ClearField("topic")
    assert batch.records[0] == expected


def test_close_after_a_checkpoint_sends_nothing_more(scripted: Tuple[ScriptedSink, grpc.Channel]) -> None:
    server, channel = scripted
    with _open(channel, 2) as writer:
        writer.write_batch([b"a", b"b", b"c"])
        writer.prepare(1)
    assert writer.close() == 3
    assert server.counts() == [2, 1]
