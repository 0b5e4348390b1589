"""The Flink-style facade (ferry.flink) against a real ferry server and Kafka."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Set, Tuple

import grpc
import pytest

from ferry.flink import (
    DeliveryGuarantee,
    FerryError,
    JsonSchema,
    KafkaOffsetResetStrategy,
    KafkaOffsetsInitializer,
    KafkaRecord,
    KafkaRecordSerializationSchema,
    KafkaSink,
    KafkaSource,
    KafkaSourceBuilder,
    OffsetsCommittedEvent,
    RawBytesSchema,
    SimpleStringSchema,
    SplitFinishedEvent,
    WatermarkStrategy,
)

PARTITIONS = 3
# Seconds any single wait for the server may take in these tests.
WAIT_S = 20.0


def _write(
    channel: grpc.Channel,
    topic: str,
    values: List[str],
    guarantee: DeliveryGuarantee = DeliveryGuarantee.AT_LEAST_ONCE,
    timestamp_ms: Optional[int] = None,
) -> None:
    ser = (
        KafkaRecordSerializationSchema.builder()
        .set_topic(topic)
        .set_key_serialization_schema(SimpleStringSchema())
        .set_value_serialization_schema(SimpleStringSchema())
    )
    if timestamp_ms is not None:
        ts = timestamp_ms
        ser = ser.set_timestamp_selector(lambda _v: ts)
    sink = (
        KafkaSink.builder()
        .set_channel(channel)
        .set_record_serializer(ser.build())
        .set_delivery_guarantee(guarantee)
        .build()
    )
    with sink.open(timeout=WAIT_S) as writer:
        writer.write_batch(values)
        writer.prepare(1)
        written = writer.close()
    assert written == len(values)


def _source(channel: grpc.Channel, topic: str) -> "KafkaSourceBuilder[Optional[str]]":
    return (
        KafkaSource.builder()
        .set_channel(channel)
        .set_topics(topic)
        .set_value_only_deserializer(SimpleStringSchema())
    )


def _read_all(builder: "KafkaSourceBuilder[Optional[str]]") -> List[KafkaRecord[Optional[str]]]:
    with builder.build().open(timeout=WAIT_S) as reader:
        return list(reader)


def _values(n: int, prefix: str = "v") -> List[str]:
    return [f"{prefix}-{i}" for i in range(n)]


@dataclass(frozen=True)
class Data:
    """A topic shared by the read-only tests (creating topics is slow)."""

    topic: str
    first: List[str]
    """100 records with timestamp t0."""
    second: List[str]
    """100 records with timestamp t0 + 10 s."""
    t0: int

    @property
    def values(self) -> List[str]:
        return self.first + self.second


@pytest.fixture(scope="module")
def data(channel: grpc.Channel, create_topic: Callable[..., str]) -> Data:
    """200 records written by an AT_LEAST_ONCE sink into 3 partitions."""
    topic = create_topic("py-flink-data", PARTITIONS)
    t0 = int(time.time() * 1000) - 60_000
    first = _values(100, "a")
    second = _values(100, "b")
    _write(channel, topic, first, DeliveryGuarantee.AT_LEAST_ONCE, timestamp_ms=t0)
    _write(channel, topic, second, DeliveryGuarantee.AT_LEAST_ONCE, timestamp_ms=t0 + 10_000)
    return Data(topic, first, second, t0)


def test_bounded_read_after_at_least_once_write(channel: grpc.Channel, data: Data) -> None:
    topic = data.topic
    values = data.values

    source = (
        _source(channel, topic)
        .set_starting_offsets(KafkaOffsetsInitializer.earliest())
        .set_bounded(KafkaOffsetsInitializer.latest())
        .build()
    )
    with source.open(timeout=WAIT_S) as reader:
        assert reader.bounded
        assert sorted(reader.splits) == [(topic, p) for p in range(PARTITIONS)]
        items = list(reader.with_events())
        assert reader.ended
    records = [i for i in items if isinstance(i, KafkaRecord)]
    finished = [i for i in items if isinstance(i, SplitFinishedEvent)]
    assert sorted(r.value or "" for r in records) == sorted(values)
    assert len(finished) == PARTITIONS
    # Per partition: offsets 0.. in order, key written by the key schema.
    by_part: Dict[int, List[int]] = {}
    for r in records:
        assert r.topic == topic
        assert r.key == (r.value or "").encode()
        assert r.timestamp_type == "CreateTime"
        by_part.setdefault(r.partition, []).append(r.offset)
    for offsets in by_part.values():
        assert offsets == list(range(len(offsets)))
    assert {f.partition: f.stopping_offset for f in finished} == {
        p: len(o) for p, o in by_part.items()
    } | {p: 0 for p in range(PARTITIONS) if p not in by_part}


def test_starting_offsets_variants(channel: grpc.Channel, data: Data) -> None:
    topic, first, second, t0 = data.topic, data.first, data.second, data.t0

    def bounded(start: KafkaOffsetsInitializer, group: Optional[str] = None) -> List[str]:
        b = _source(channel, topic).set_starting_offsets(start).set_bounded(
            KafkaOffsetsInitializer.latest()
        )
        if group is not None:
            b = b.set_group_id(group)
        return sorted(r.value or "" for r in _read_all(b))

    everything = sorted(first + second)
    assert bounded(KafkaOffsetsInitializer.earliest()) == everything
    assert bounded(KafkaOffsetsInitializer.latest()) == []
    # No committed offsets yet: EARLIEST reset reads everything.
    group = f"py-flink-{uuid.uuid4().hex}"
    assert (
        bounded(KafkaOffsetsInitializer.committed_offsets(KafkaOffsetResetStrategy.EARLIEST), group)
        == everything
    )
    # committed with the default NONE fails naming the partition.
    with pytest.raises(FerryError) as err:
        bounded(KafkaOffsetsInitializer.committed_offsets(), f"py-flink-{uuid.uuid4().hex}")
    assert err.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert bounded(KafkaOffsetsInitializer.timestamp(t0 + 5_000)) == sorted(second)
    assert bounded(KafkaOffsetsInitializer.timestamp(t0 + 60_000)) == []

    # Specific offsets: learn the layout first, then skip 2 of partition 0;
    # the partitions not listed use the reset strategy.
    layout: Dict[int, List[str]] = {}
    for r in _read_all(
        _source(channel, topic).set_bounded(KafkaOffsetsInitializer.latest())
    ):
        layout.setdefault(r.partition, []).append(r.value or "")
    p0 = layout[0]
    assert len(p0) >= 2
    got = bounded(KafkaOffsetsInitializer.offsets({(topic, 0): 2}, KafkaOffsetResetStrategy.LATEST))
    assert got == sorted(p0[2:])
    got = bounded(KafkaOffsetsInitializer.offsets({(topic, 0): 2}))  # EARLIEST for the rest
    assert got == sorted(v for p, vs in layout.items() for v in (vs[2:] if p == 0 else vs))


def test_committed_offsets_resume_after_checkpoint_complete(
    channel: grpc.Channel, create_topic: Callable[..., str]
) -> None:
    topic = create_topic("py-flink-commit", 1)
    values = _values(50)
    _write(channel, topic, values)
    group = f"py-flink-{uuid.uuid4().hex}"
    source = (
        _source(channel, topic)
        .set_group_id(group)
        .set_starting_offsets(KafkaOffsetsInitializer.earliest())
        .build()
    )
    with source.open(timeout=WAIT_S) as reader:
        assert reader.opened.commit_offsets, reader.opened.commit_disabled_reason
        it = iter(reader)
        taken = [next(it).value for _ in range(20)]
        state = reader.checkpoint(1)
        assert [s.next_offset for s in state.splits] == [20]
        # Deferred until iteration passed the records before the barrier,
        # so the group's offsets never run ahead of what was taken.
        reader.notify_checkpoint_complete(1)
        event: Optional[OffsetsCommittedEvent] = None
        for item in reader.with_events():
            if isinstance(item, KafkaRecord):
                taken.append(item.value)
            elif isinstance(item, OffsetsCommittedEvent):
                event = item
                break
        assert event is not None and event.checkpoint_id == 1, event
        assert event.error == "" and event.failed_commits == 0, event
        assert len(taken) == 50
    assert taken == values
    more = _values(10, "more")
    _write(channel, topic, more)
    rest = _read_all(
        _source(channel, topic)
        .set_group_id(group)
        .set_starting_offsets(KafkaOffsetsInitializer.committed_offsets())
        .set_bounded(KafkaOffsetsInitializer.latest())
    )
    assert [r.value for r in rest] == more


def test_unbounded_read_stops_at_stop_offsets(channel: grpc.Channel, data: Data) -> None:
    topic = data.topic
    source = (
        KafkaSource.builder()
        .set_channel(channel)
        .set_partitions({(topic, 0), (topic, 1)})
        .set_unbounded(KafkaOffsetsInitializer.offsets({(topic, 0): 3, (topic, 1): 5}))
        .build()
    )
    with source.open(timeout=WAIT_S) as reader:
        assert not reader.bounded
        records = list(reader)
    got = sorted((r.partition, r.offset) for r in records)
    assert got == [(0, o) for o in range(3)] + [(1, o) for o in range(5)]
    assert all(isinstance(r.value, bytes) for r in records)


@pytest.mark.parametrize(
    "guarantee", [DeliveryGuarantee.NONE, DeliveryGuarantee.AT_LEAST_ONCE, DeliveryGuarantee.EXACTLY_ONCE]
)
def test_sink_delivery_guarantees(
    channel: grpc.Channel, create_topic: Callable[..., str], guarantee: DeliveryGuarantee
) -> None:
    topic = create_topic(f"py-flink-sink-{guarantee.name.lower().replace('_', '-')}", PARTITIONS)
    docs = [{"n": i, "name": f"doc-{i}"} for i in range(1100)]
    builder = (
        KafkaSink.builder()
        .set_channel(channel)
        .set_record_serializer(
            KafkaRecordSerializationSchema.builder()
            .set_topic_selector(lambda d: topic)
            .set_value_serialization_schema(JsonSchema())
            .build()
        )
        .set_delivery_guarantee(guarantee)
        .set_partitioner("round_robin")
    )
    if guarantee == DeliveryGuarantee.EXACTLY_ONCE:
        builder = builder.set_transactional_id_prefix(f"py-flink-{uuid.uuid4().hex}")
    sink = builder.build()

    read = (
        KafkaSource.builder()
        .set_channel(channel)
        .set_topics(topic)
        .set_value_only_deserializer(JsonSchema())
        .set_property("isolation.level", "read_committed")
        .set_bounded(KafkaOffsetsInitializer.latest())
    )
    with sink.open(timeout=WAIT_S) as writer:
        writer.write_batch(docs[:700])
        state = writer.prepare(1)
        if guarantee == DeliveryGuarantee.EXACTLY_ONCE:
            assert state is not None and len(state.transactions) == 1
            assert state.transactions[0].checkpoint_id == 1
            # Prepared, not committed: read_committed sees nothing yet.
            with read.build().open(timeout=WAIT_S) as reader:
                assert list(reader) == []
            writer.commit(1)
        else:
            assert state is None
        if guarantee == DeliveryGuarantee.AT_LEAST_ONCE:
            assert writer.records_written == 700
        writer.write_batch(docs[700:])
        state = writer.prepare(2)
        writer.commit(2)
    assert writer.records_written == len(docs)

    got: List[Any] = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        # Commit markers land a moment after the commit returns.
        with read.build().open(timeout=WAIT_S) as reader:
            got = [r.value for r in reader]
        if len(got) == len(docs):
            break
        time.sleep(0.2)
    assert sorted(got, key=lambda d: d["n"]) == docs


def test_checkpoint_restore_round_trip(channel: grpc.Channel, data: Data) -> None:
    topic = data.topic
    values = data.values
    source = (
        KafkaSource.builder()
        .set_channel(channel)
        .set_topic_pattern(topic.replace("-", "[-]"))
        .set_value_only_deserializer(SimpleStringSchema())
        .set_watermark_strategy(WatermarkStrategy.for_bounded_out_of_orderness(100).with_idleness(1000))
        .build()
    )
    seen: List[Tuple[int, int, Optional[str]]] = []
    with source.open(timeout=WAIT_S) as reader:
        it = iter(reader)
        for _ in range(70):
            r = next(it)
            seen.append((r.partition, r.offset, r.value))
        state = reader.checkpoint(1)
        # The state is that of the iterator: what was taken, not what arrived.
        taken: Dict[int, int] = {}
        for p, o, _v in seen:
            taken[p] = max(taken.get(p, -1), o)
        for split in state.splits:
            assert split.next_offset == taken.get(split.partition, -1) + 1
        # Buffered records are still yielded, in order, after the checkpoint.
        r = next(it)
        assert r.offset == taken.get(r.partition, -1) + 1
    blob = state.SerializeToString()

    # Unbounded sources (a bounded one may end before a checkpoint's barrier).
    restored = (
        KafkaSource.builder()
        .set_channel(channel)
        .set_topics(topic)
        .set_value_only_deserializer(SimpleStringSchema())
        .build()
    )
    with restored.open(restore_state=blob, timeout=WAIT_S) as reader:
        for r in reader:
            seen.append((r.partition, r.offset, r.value))
            if len(seen) >= len(values):
                break
        # Its position now is the end of every partition: nothing is left.
        end_state = reader.checkpoint(2)
        assert sum(split.next_offset for split in end_state.splits) == len(values)
    keys = [(p, o) for p, o, _v in seen]
    assert len(keys) == len(set(keys)), "a record was repeated"
    assert sorted(v or "" for _p, _o, v in seen) == sorted(values), "a record was lost"


def test_invalid_spec_is_ferry_error(channel: grpc.Channel, data: Data) -> None:
    # An unknown property.
    topic = data.topic
    bad = _source(channel, topic).set_property("no.such.property", "1").build()
    with pytest.raises(FerryError) as err:
        bad.open(timeout=WAIT_S)
    assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "no.such.property" in err.value.message

    # EXACTLY_ONCE with an empty transactional id prefix (build() wants one
    # set, as Flink's; the server refuses an empty one).
    sink = (
        KafkaSink.builder()
        .set_channel(channel)
        .set_record_serializer(
            KafkaRecordSerializationSchema.builder()
            .set_topic(topic)
            .set_value_serialization_schema(RawBytesSchema())
            .build()
        )
        .set_delivery_guarantee(DeliveryGuarantee.EXACTLY_ONCE)
        .set_transactional_id_prefix("")
        .build()
    )
    with pytest.raises(FerryError) as err:
        with sink.open(timeout=WAIT_S) as writer:
            writer.write(b"x")
            writer.prepare(1)
    assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT


def test_bad_partitioner_name() -> None:
    with pytest.raises(ValueError):
        KafkaSink.builder().set_partitioner("nope")


def test_offsets_committed_inside_the_sink_transaction(
    channel: grpc.Channel, create_topic: Callable[..., str]
) -> None:
    """flush(consumed_offsets=...) commits the source's progress with the
    output, atomically: a source from the group's committed offsets then
    resumes after the last committed transaction."""
    src = create_topic("py-flink-rpw-in", PARTITIONS)
    out = create_topic("py-flink-rpw-out", PARTITIONS)
    group = f"py-rpw-{uuid.uuid4().hex[:8]}"
    _write(channel, src, _values(30, "in"))

    def from_group() -> "KafkaSourceBuilder[Optional[str]]":
        return (
            _source(channel, src)
            .set_group_id(group)
            .set_starting_offsets(KafkaOffsetsInitializer.committed_offsets(KafkaOffsetResetStrategy.EARLIEST))
            .set_bounded(KafkaOffsetsInitializer.latest())
        )

    records = _read_all(from_group())
    assert len(records) == 30
    sink = (
        KafkaSink.builder()
        .set_channel(channel)
        .set_record_serializer(
            KafkaRecordSerializationSchema.builder()
            .set_topic(out)
            .set_value_serialization_schema(SimpleStringSchema())
            .build()
        )
        .set_delivery_guarantee(DeliveryGuarantee.EXACTLY_ONCE)
        .set_transactional_id_prefix(f"py-rpw-{uuid.uuid4().hex[:8]}")
        .build()
    )
    with sink.open(timeout=WAIT_S) as writer:
        writer.write_batch("out-" + (r.value or "") for r in records)
        nxt: Dict[Tuple[str, int], int] = {}
        for r in records:
            nxt[(r.topic, r.partition)] = max(nxt.get((r.topic, r.partition), 0), r.offset + 1)
        writer.flush(consumed_offsets=(group, nxt))
        writer.prepare(1)
        writer.commit(1)
    # The group's offsets moved with the transaction: nothing is left to read.
    deadline = time.time() + 15
    while True:
        left = _read_all(from_group())
        if not left or time.time() > deadline:
            break
        time.sleep(0.1)
    assert left == []
    output = _read_all(
        _source(channel, out).set_property("isolation.level", "read_committed").set_bounded(KafkaOffsetsInitializer.latest())
    )
    assert sorted(r.value or "" for r in output) == sorted("out-" + (r.value or "") for r in records)
