"""Round trip through a real ferry server and a real Kafka broker: write with
SinkService.Write, read back with a bounded SourceService.Read, and compare
every record field by field."""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Tuple

import grpc

from ferry.v1 import common_pb2, service_pb2_grpc, sink_pb2, source_pb2
from kafka_partition import default_partition
from streams import BidiStream

N_RECORDS = 1200
BATCH_SIZE = 300
PARTITIONS = 3


@dataclass
class Expected:
    """What one written record must look like when read back."""

    index: int
    topic: str
    partition: Optional[int]
    key: Optional[bytes]
    value: Optional[bytes]
    headers: List[Tuple[str, Optional[bytes]]]
    # None: written without a timestamp, so the server's "now".
    timestamp_ms: Optional[int]


def _make_records(topic: str, base_ts: int) -> Tuple[List[sink_pb2.SinkRecord], List[Expected]]:
    records: List[sink_pb2.SinkRecord] = []
    expected: List[Expected] = []
    for i in range(N_RECORDS):
        # Key: absent (null) / present and empty / non-empty (binary, too).
        key: Optional[bytes]
        if i % 3 == 0:
            key = None
        elif i % 3 == 1:
            key = b""
        else:
            key = f"key-{i}".encode() + bytes([0, i % 256, 255])
        # Value: absent (tombstone) / present and empty / non-empty.
        value: Optional[bytes]
        if i % 5 == 0:
            value = None
        elif i % 5 == 1:
            value = b""
        else:
            value = f"value-{i}-".encode() * (1 + i % 7) + bytes([0, 128, 255])
        # Headers: none / a repeated key whose order matters plus a null
        # value and an empty value / a single null value / unsorted keys.
        headers: List[Tuple[str, Optional[bytes]]]
        if i % 4 == 0:
            headers = []
        elif i % 4 == 1:
            headers = [
                ("h", f"{i}-first".encode()),
                ("null", None),
                ("h", f"{i}-second".encode()),
                ("empty", b""),
                ("h", f"{i}-third".encode()),
            ]
        elif i % 4 == 2:
            headers = [("only-null", None)]
        else:
            headers = [("z", b"last-sorted"), ("a", b"first-sorted"), ("z", b"again")]
        # Partition: explicit for some records, the partitioner for the rest.
        partition: Optional[int] = i % PARTITIONS if i % 7 == 0 else None
        # Timestamp: explicit (unique per record, in the recent past so no
        # broker timestamp bound or retention touches it), except records
        # i % 50 == 49, which carry none and so get the server's "now".
        timestamp_ms: Optional[int] = None if i % 50 == 49 else base_ts + i
        if timestamp_ms is None:
            # Identified by their value when read back.
            value = f"no-timestamp-{i}".encode()

        record = sink_pb2.SinkRecord(
            # Empty topic means the spec's default topic; some name it.
            topic=topic if i % 11 == 0 else "",
            headers=[
                common_pb2.Header(key=k) if v is None else common_pb2.Header(key=k, value=v)
                for k, v in headers
            ],
        )
        if partition is not None:
            record.partition = partition
        if key is not None:
            record.key = key
        if value is not None:
            record.value = value
        if timestamp_ms is not None:
            record.timestamp_ms = timestamp_ms
        records.append(record)
        expected.append(
            Expected(
                index=i,
                topic=topic,
                partition=partition,
                key=key,
                value=value,
                headers=headers,
                timestamp_ms=timestamp_ms,
            )
        )
    return records, expected


def _write(channel: grpc.Channel, topic: str, records: List[sink_pb2.SinkRecord]) -> None:
    stub = service_pb2_grpc.SinkServiceStub(channel)
    with BidiStream[sink_pb2.WriteRequest, sink_pb2.WriteResponse](stub.Write, deadline_s=60) as stream:
        stream.send(
            sink_pb2.WriteRequest(
                open=sink_pb2.OpenSink(spec=sink_pb2.SinkSpec(default_topic=topic))
            )
        )
        opened = stream.recv(what="SinkOpened")
        assert opened.WhichOneof("kind") == "opened", f"first sink response: {opened}"
        assert opened.opened.session_id, f"SinkOpened without session_id: {opened}"

        for seq, start in enumerate(range(0, len(records), BATCH_SIZE), start=1):
            stream.send(
                sink_pb2.WriteRequest(
                    records=sink_pb2.WriteBatch(
                        sequence=seq, records=records[start : start + BATCH_SIZE]
                    )
                )
            )
        stream.send(sink_pb2.WriteRequest(close=common_pb2.Close()))

        closed = stream.recv(timeout=30, what="SinkClosed")
        assert closed.WhichOneof("kind") == "closed", f"expected closed, got: {closed}"
        assert closed.closed.records_written == len(records), (
            f"SinkClosed.records_written = {closed.closed.records_written}, "
            f"wrote {len(records)}"
        )
        end = stream.expect_end(what="the sink stream to end after SinkClosed")
        assert end.code == grpc.StatusCode.OK, f"sink stream ended with {end}"


def _read(
    channel: grpc.Channel, topic: str
) -> Tuple[source_pb2.SourceOpened, List[common_pb2.Record], Dict[int, int]]:
    """Reads the topic from earliest to latest; returns the opened message,
    the records, and the stopping offset of each finished split."""
    stub = service_pb2_grpc.SourceServiceStub(channel)
    records: List[common_pb2.Record] = []
    finished: Dict[int, int] = {}
    with BidiStream[source_pb2.ReadRequest, source_pb2.ReadResponse](stub.Read, deadline_s=60) as stream:
        stream.send(
            source_pb2.ReadRequest(
                open=source_pb2.OpenSource(
                    spec=source_pb2.SourceSpec(
                        topics=source_pb2.TopicList(topics=[topic]),
                        boundedness=source_pb2.BOUNDEDNESS_BOUNDED,
                    )
                )
            )
        )
        first = stream.recv(what="SourceOpened")
        assert first.WhichOneof("kind") == "opened", f"first source response: {first}"
        opened = first.opened

        while True:
            msg = stream.recv(what=f"records or end_of_input (have {len(records)} records)")
            kind = msg.WhichOneof("kind")
            if kind == "records":
                records.extend(msg.records.records)
            elif kind == "split_finished":
                sf = msg.split_finished
                assert sf.topic == topic, f"split_finished of another topic: {msg}"
                assert sf.partition not in finished, f"split finished twice: {msg}"
                finished[sf.partition] = sf.stopping_offset
            elif kind == "end_of_input":
                break
            else:
                raise AssertionError(f"unexpected source response {kind}: {msg}")

        end = stream.expect_end(what="the source stream to end after end_of_input")
        assert end.code == grpc.StatusCode.OK, f"source stream ended with {end}"
    return opened, records, finished


def _headers(record: common_pb2.Record) -> List[Tuple[str, Optional[bytes]]]:
    return [(h.key, h.value if h.HasField("value") else None) for h in record.headers]


def test_round_trip(channel: grpc.Channel, create_topic: Callable[..., str]) -> None:
    topic = create_topic("py-roundtrip", PARTITIONS)
    base_ts = int(time.time() * 1000) - 10 * 60 * 1000
    records, expected = _make_records(topic, base_ts)

    write_started_ms = int(time.time() * 1000)
    _write(channel, topic, records)
    write_ended_ms = int(time.time() * 1000)

    opened, got, finished = _read(channel, topic)

    # --- SourceOpened -----------------------------------------------------
    assert opened.session_id, f"SourceOpened without session_id: {opened}"
    assert opened.bounded is True, f"bounded source not marked bounded: {opened}"
    split_partitions = sorted(s.partition for s in opened.splits)
    assert split_partitions == list(range(PARTITIONS)), f"splits: {opened.splits}"
    assert all(s.topic == topic for s in opened.splits), f"splits: {opened.splits}"
    # Starting offsets default to earliest: 0 on a fresh topic.
    assert all(s.next_offset == 0 for s in opened.splits), f"splits: {opened.splits}"

    # --- match every record read to the record written --------------------
    by_ts = {e.timestamp_ms: e for e in expected if e.timestamp_ms is not None}
    by_value = {e.value: e for e in expected if e.timestamp_ms is None}
    seen: Dict[int, common_pb2.Record] = {}
    per_partition: Dict[int, List[common_pb2.Record]] = defaultdict(list)
    for r in got:
        assert r.topic == topic, f"record of another topic: {r}"
        assert 0 <= r.partition < PARTITIONS, f"record of unknown partition: {r}"
        per_partition[r.partition].append(r)
        exp = by_ts.get(r.timestamp_ms)
        if exp is None:
            exp = by_value.get(r.value if r.HasField("value") else None)
        assert exp is not None, f"a record that was never written: {r}"
        assert exp.index not in seen, (
            f"record {exp.index} read twice: {seen[exp.index]} and {r}"
        )
        seen[exp.index] = r

        where = f"record {exp.index} (partition {r.partition}, offset {r.offset})"
        if exp.partition is not None:
            assert r.partition == exp.partition, f"{where}: explicit partition {exp.partition} not kept"
        elif exp.key is not None:
            # Default partitioner, keyed (an empty key too): the Java client's
            # murmur2 placement. Null keys are sticky: any partition.
            want = default_partition(exp.key, PARTITIONS)
            assert r.partition == want, (
                f"{where}: key {exp.key!r} placed on partition {r.partition}, "
                f"Kafka's default partitioner (murmur2) places it on {want}"
            )
        if exp.key is None:
            assert not r.HasField("key"), f"{where}: null key read as {r.key!r}"
        else:
            assert r.HasField("key"), f"{where}: key {exp.key!r} read as null"
            assert r.key == exp.key, f"{where}: key {exp.key!r} read as {r.key!r}"
        if exp.value is None:
            assert not r.HasField("value"), f"{where}: tombstone read with value {r.value!r}"
        else:
            assert r.HasField("value"), f"{where}: value {exp.value!r} read as null"
            assert r.value == exp.value, f"{where}: value {exp.value!r} read as {r.value!r}"
        assert _headers(r) == exp.headers, f"{where}: headers {exp.headers} read as {_headers(r)}"
        if exp.timestamp_ms is not None:
            assert r.timestamp_ms == exp.timestamp_ms
        else:
            assert write_started_ms - 1000 <= r.timestamp_ms <= write_ended_ms + 1000, (
                f"{where}: written without a timestamp, so 'now' in "
                f"[{write_started_ms}, {write_ended_ms}], read {r.timestamp_ms}"
            )
        assert r.timestamp_type == common_pb2.TIMESTAMP_TYPE_CREATE_TIME, (
            f"{where}: timestamp_type {common_pb2.TimestampType.Name(r.timestamp_type)}"
        )
        assert r.leader_epoch >= -1, f"{where}: leader_epoch {r.leader_epoch}"

    missing = sorted(set(range(N_RECORDS)) - set(seen))
    assert not missing, f"{len(missing)} records never read, e.g. {missing[:10]}"
    assert len(got) == N_RECORDS, f"read {len(got)} records, wrote {N_RECORDS}"

    # --- offsets and per-partition order ----------------------------------
    for partition, recs in per_partition.items():
        offsets = [r.offset for r in recs]
        assert all(a < b for a, b in zip(offsets, offsets[1:])), (
            f"partition {partition}: offsets not strictly increasing: {offsets[:20]}..."
        )
        # One non-transactional producer session: offsets 0..n-1, and records
        # keep the order they were written in within a partition.
        assert offsets == list(range(len(recs))), (
            f"partition {partition}: offsets {offsets[:10]}... not 0..{len(recs) - 1}"
        )
        order = [int(r.timestamp_ms - base_ts) if r.timestamp_ms in by_ts else -1 for r in recs]
        explicit = [i for i in order if i >= 0]
        assert explicit == sorted(explicit), f"partition {partition}: write order not kept"

    # --- stopping offsets: latest at open, each split finished there ------
    counts = {p: len(per_partition.get(p, [])) for p in range(PARTITIONS)}
    for s in opened.splits:
        assert s.HasField("stopping_offset"), (
            f"bounded split {s.topic}/{s.partition} opened without its stopping offset: {s}"
        )
        assert s.stopping_offset == counts[s.partition], (
            f"split {s.partition}: stopping offset {s.stopping_offset}, "
            f"{counts[s.partition]} records in the partition"
        )
    assert finished == counts, (
        f"split_finished stopping offsets {finished}, partition record counts {counts}"
    )
