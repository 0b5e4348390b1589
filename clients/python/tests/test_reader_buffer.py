"""SourceReader's buffering, pinned message by message against a scripted
SourceService (an in-process gRPC server), where the real server cannot
choose the batch boundaries: a reader keeps each server message's records
as one batch with a cursor, and checkpoints, barrier marks, deferred
completions, poll() and values() must see exactly the records iteration has
taken. Also KafkaRecord, which readers build through a fast path."""

from __future__ import annotations

import copy
import dataclasses
import pickle
import queue
import threading
import time
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import grpc
import pytest

from ferry.flink import (
    FerryError,
    IdleEvent,
    KafkaRecord,
    KafkaSource,
    SimpleStringSchema,
    SourceReader,
    SplitFinishedEvent,
    WatermarkEvent,
)
from ferry.v1 import common_pb2, service_pb2_grpc, source_pb2
from scripted import scripted_server

TOPIC = "t"
# Seconds any single wait may take.
WAIT_S = 10.0


def _rec(
    partition: int,
    offset: int,
    value: Optional[bytes] = b"v",
    key: Optional[bytes] = None,
    headers: Sequence[Tuple[str, Optional[bytes]]] = (),
) -> common_pb2.Record:
    return _wire(TOPIC, partition, offset, 1000 + offset, common_pb2.TIMESTAMP_TYPE_CREATE_TIME, key, value, headers, 7)


def _batch(*records: common_pb2.Record) -> source_pb2.ReadResponse:
    return source_pb2.ReadResponse(records=source_pb2.RecordBatch(records=records))


def _split_states(next_offsets: Dict[int, int]) -> source_pb2.SourceState:
    return source_pb2.SourceState(
        splits=[
            source_pb2.SplitState(topic=TOPIC, partition=p, next_offset=o)
            for p, o in sorted(next_offsets.items())
        ]
    )


class ScriptedSource(service_pb2_grpc.SourceServiceServicer):
    """Sends ``opened``, then whatever the test puts in ``send``; answers a
    checkpoint with a barrier carrying ``server_state`` (queued after what
    was sent before, as the real server does); ends the stream on close or
    when None is sent. ``requests`` records every request kind in order."""

    def __init__(self) -> None:
        self.send: "queue.Queue[Optional[source_pb2.ReadResponse]]" = queue.Queue()
        self.server_state = source_pb2.SourceState()
        self.requests: List[Tuple[str, int]] = []
        self._lock = threading.Condition()

    def Read(
        self, request_iterator: Iterator[source_pb2.ReadRequest], context: grpc.ServicerContext
    ) -> Iterator[source_pb2.ReadResponse]:
        def drain() -> None:
            for req in request_iterator:
                kind = req.WhichOneof("kind")
                with self._lock:
                    if kind == "checkpoint":
                        cid = req.checkpoint.checkpoint_id
                        self.requests.append((kind, cid))
                        self.send.put(
                            source_pb2.ReadResponse(
                                barrier=source_pb2.Barrier(checkpoint_id=cid, state=self.server_state)
                            )
                        )
                    elif kind == "checkpoint_complete":
                        self.requests.append((kind, req.checkpoint_complete.checkpoint_id))
                    else:
                        self.requests.append((kind, 0))
                    self._lock.notify_all()
                if kind == "close":
                    self.send.put(None)

        threading.Thread(target=drain, daemon=True).start()
        yield source_pb2.ReadResponse(opened=source_pb2.SourceOpened(session_id="scripted"))
        while True:
            msg = self.send.get(timeout=WAIT_S)
            if msg is None:
                return
            yield msg

    def wait_for(self, request: Tuple[str, int]) -> List[Tuple[str, int]]:
        """The requests so far, once ``request`` is among them."""
        with self._lock:
            if not self._lock.wait_for(lambda: request in self.requests, timeout=WAIT_S):
                pytest.fail(f"the server never got {request}; got {self.requests}")
            return list(self.requests)


@pytest.fixture
def scripted() -> Iterator[Tuple[ScriptedSource, grpc.Channel]]:
    servicer = ScriptedSource()
    grpc_module: Any = service_pb2_grpc  # the generated code has no type hints
    with scripted_server(grpc_module.add_SourceServiceServicer_to_server, servicer) as channel:
        yield servicer, channel


def _open(channel: grpc.Channel) -> SourceReader[Optional[str]]:
    source = (
        KafkaSource.builder()
        .set_channel(channel)
        .set_topics(TOPIC)
        .set_value_only_deserializer(SimpleStringSchema())
        .build()
    )
    return source.open(timeout=WAIT_S)


def _offsets(records: Sequence[KafkaRecord[Optional[str]]]) -> List[Tuple[int, int]]:
    return [(r.partition, r.offset) for r in records]


def _next_offsets(state: source_pb2.SourceState) -> Dict[int, int]:
    return {s.partition: s.next_offset for s in state.splits}


def test_checkpoint_in_the_middle_of_a_batch(scripted: Tuple[ScriptedSource, grpc.Channel]) -> None:
    server, channel = scripted
    server.send.put(_batch(_rec(0, 0), _rec(0, 1), _rec(0, 2), _rec(0, 3)))
    server.send.put(_batch(_rec(1, 0), _rec(1, 1), _rec(0, 4)))
    server.server_state = _split_states({0: 5, 1: 2})
    with _open(channel) as reader:
        it = iter(reader)
        assert _offsets([next(it), next(it)]) == [(0, 0), (0, 1)]
        # Both batches arrived before the barrier: each split restarts at
        # its first record not taken, inside the first batch for split 0.
        state = reader.checkpoint(1)
        assert _next_offsets(state) == {0: 2, 1: 0}

        # Deferred: iteration has not passed the barrier.
        reader.notify_checkpoint_complete(1)
        assert _offsets([next(it) for _ in range(4)]) == [(0, 2), (0, 3), (1, 0), (1, 1)]
        # A second checkpoint, now in the middle of the second batch.
        assert _next_offsets(reader.checkpoint(2)) == {0: 4, 1: 2}
        assert server.wait_for(("checkpoint", 2)) == [("open", 0), ("checkpoint", 1), ("checkpoint", 2)]

        assert next(it).offset == 4
        # Iteration passes both barriers with the next item: the deferred
        # completion goes out then, after the records before its barrier.
        server.send.put(source_pb2.ReadResponse(idle=source_pb2.Idle()))
        assert next(reader.with_events()) == IdleEvent()
        assert server.wait_for(("checkpoint_complete", 1))[-1] == ("checkpoint_complete", 1)
        # Passed already: sent at once.
        reader.notify_checkpoint_complete(2)
        assert server.wait_for(("checkpoint_complete", 2))[-1] == ("checkpoint_complete", 2)

        # Nothing buffered: the barrier's state as the server sent it.
        server.server_state = _split_states({0: 5, 1: 2})
        assert _next_offsets(reader.checkpoint(3)) == {0: 5, 1: 2}


def test_checkpoint_at_a_batch_boundary(scripted: Tuple[ScriptedSource, grpc.Channel]) -> None:
    server, channel = scripted
    server.send.put(_batch(_rec(0, 0), _rec(0, 1)))
    server.send.put(_batch(_rec(0, 2), _rec(0, 3)))
    server.server_state = _split_states({0: 4})
    with _open(channel) as reader:
        it = iter(reader)
        assert _offsets([next(it), next(it)]) == [(0, 0), (0, 1)]
        assert _next_offsets(reader.checkpoint(1)) == {0: 2}
        assert _offsets([next(it), next(it)]) == [(0, 2), (0, 3)]
        assert _next_offsets(reader.checkpoint(2)) == {0: 4}


def test_poll_takes_buffered_records_across_batches(scripted: Tuple[ScriptedSource, grpc.Channel]) -> None:
    server, channel = scripted
    server.send.put(_batch(*(_rec(0, o) for o in range(5))))
    server.send.put(source_pb2.ReadResponse(watermark=source_pb2.Watermark(timestamp_ms=1004)))
    server.send.put(_batch(*(_rec(1, o) for o in range(5))))
    server.server_state = _split_states({0: 5, 1: 5})
    with _open(channel) as reader:
        # The barrier comes after all three messages: all are buffered then.
        assert _next_offsets(reader.checkpoint(1)) == {0: 0, 1: 0}
        assert _offsets(reader.poll(3)) == [(0, 0), (0, 1), (0, 2)]
        assert _next_offsets(reader.checkpoint(2)) == {0: 3, 1: 0}
        # Across the batch boundary; the watermark event is dropped.
        assert _offsets(reader.poll(4)) == [(0, 3), (0, 4), (1, 0), (1, 1)]
        assert reader.watermark == 1004
        assert _offsets(reader.poll(4)) == [(1, 2), (1, 3), (1, 4)]
        assert _next_offsets(reader.checkpoint(3)) == {0: 5, 1: 5}


def test_poll_returns_its_records_when_only_a_barrier_is_left(
    scripted: Tuple[ScriptedSource, grpc.Channel],
) -> None:
    server, channel = scripted
    server.send.put(_batch(_rec(0, 0), _rec(0, 1), _rec(0, 2)))
    server.server_state = _split_states({0: 3})
    with _open(channel) as reader:
        assert _next_offsets(reader.checkpoint(1)) == {0: 0}
        # Records then the barrier's mark: poll returns the records without
        # waiting for another server message (none comes).
        start = time.monotonic()
        assert _offsets(reader.poll(10)) == [(0, 0), (0, 1), (0, 2)]
        assert time.monotonic() - start < WAIT_S / 2
        # ... and passes the barrier: the completion goes out at once.
        reader.notify_checkpoint_complete(1)
        assert server.wait_for(("checkpoint_complete", 1))[-1] == ("checkpoint_complete", 1)


def test_fields_events_and_values(scripted: Tuple[ScriptedSource, grpc.Channel]) -> None:
    server, channel = scripted
    server.send.put(
        _batch(
            _rec(0, 0, key=None, value=None, headers=[("a", None), ("b", b""), ("c", b"x")]),
            _rec(0, 1, key=b"", value=b""),
        )
    )
    server.send.put(source_pb2.ReadResponse(watermark=source_pb2.Watermark(timestamp_ms=1001)))
    server.send.put(_batch(_rec(0, 2, key=b"k", value="é".encode())))
    server.send.put(
        source_pb2.ReadResponse(
            split_finished=source_pb2.SplitFinished(topic=TOPIC, partition=0, stopping_offset=3)
        )
    )
    server.send.put(source_pb2.ReadResponse(end_of_input=source_pb2.EndOfInput()))
    server.send.put(None)
    with _open(channel) as reader:
        items = list(reader.with_events())
        assert reader.ended
    assert items == [
        KafkaRecord(TOPIC, 0, 0, 1000, "CreateTime", None, None, [("a", None), ("b", b""), ("c", b"x")], 7),
        KafkaRecord(TOPIC, 0, 1, 1001, "CreateTime", b"", "", [], 7),
        WatermarkEvent(1001),
        KafkaRecord(TOPIC, 0, 2, 1002, "CreateTime", b"k", "é", [], 7),
        SplitFinishedEvent(TOPIC, 0, 3),
    ]
    assert all(type(i) is KafkaRecord for i in items[:2])


def test_values_and_a_failing_deserializer(scripted: Tuple[ScriptedSource, grpc.Channel]) -> None:
    server, channel = scripted
    server.send.put(_batch(_rec(0, 0, value=b"a"), _rec(0, 1, value=b"\xff"), _rec(0, 2, value=None)))
    server.send.put(_batch(_rec(0, 3, value=b"d")))
    server.send.put(source_pb2.ReadResponse(end_of_input=source_pb2.EndOfInput()))
    server.send.put(None)
    with _open(channel) as reader:
        values = reader.values()
        assert next(values) == "a"
        with pytest.raises(UnicodeDecodeError):
            next(values)
        # The record that failed was taken; reading goes on after it.
        assert list(reader.values()) == [None, "d"]
        assert reader.ended


def test_stream_end_after_buffered_records(scripted: Tuple[ScriptedSource, grpc.Channel]) -> None:
    server, channel = scripted
    server.send.put(_batch(_rec(0, 0), _rec(0, 1)))
    with _open(channel) as reader:
        it = iter(reader)
        assert next(it).offset == 0
        server.send.put(None)  # ends the stream OK without end_of_input
        assert [r.offset for r in it] == [1]
        with pytest.raises(FerryError):
            reader.checkpoint(1)


def test_kafka_record_is_an_immutable_value() -> None:
    headers: List[Tuple[str, Optional[bytes]]] = [("h", None)]
    rec = KafkaRecord(TOPIC, 1, 2, 3, "CreateTime", None, "v", headers, 0)
    same = KafkaRecord(TOPIC, 1, 2, 3, "CreateTime", None, "v", list(headers), 0)
    assert rec == same and not rec != same
    assert rec != dataclasses.replace(rec, key=b"")
    fields_tuple: object = (TOPIC, 1, 2, 3, "CreateTime", None, "v", headers, 0)
    assert rec != fields_tuple
    assert repr(rec) == (
        "KafkaRecord(topic='t', partition=1, offset=2, timestamp=3, timestamp_type='CreateTime', "
        "key=None, value='v', headers=[('h', None)], leader_epoch=0)"
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        rec.value = "w"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        del rec.offset
    with pytest.raises(AttributeError):
        rec.extra = 1  # type: ignore[attr-defined]
    assert not hasattr(rec, "__dict__")
    for twin in (pickle.loads(pickle.dumps(rec)), copy.copy(rec), copy.deepcopy(rec)):
        assert type(twin) is KafkaRecord and twin == rec
    assert [f.name for f in dataclasses.fields(rec)] == [
        "topic",
        "partition",
        "offset",
        "timestamp",
        "timestamp_type",
        "key",
        "value",
        "headers",
        "leader_epoch",
    ]
    assert dataclasses.asdict(rec)["headers"] == [("h", None)]
    hashable = dataclasses.replace(rec, headers=())  # type: ignore[arg-type]
    assert hash(hashable) == hash(dataclasses.replace(hashable))


def test_a_reader_not_iterated_buffers_a_bounded_number_of_messages(
    scripted: Tuple[ScriptedSource, grpc.Channel],
) -> None:
    """A slow application makes the server wait (gRPC flow control) instead
    of piling the stream up in client memory; nothing is lost meanwhile."""
    server, channel = scripted
    total, size = 400, 100 << 10  # 40 MiB in all
    for i in range(total):
        server.send.put(_batch(_rec(0, i, value=bytes([65 + i % 26]) * size)))
    with _open(channel) as reader:
        # Wait until the server stops getting messages out: its queue stops
        # shrinking for a while (a pause cannot be awaited as an event).
        left, still_since = server.send.qsize(), time.monotonic()
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() - still_since < 1.0:
            assert time.monotonic() < deadline, "the server never stopped sending"
            time.sleep(0.05)
            now = server.send.qsize()
            if now != left:
                left, still_since = now, time.monotonic()
        sent = total - left
        assert sent < total // 2, f"the server sent {sent} of {total} messages to a reader nobody iterates"
        queued = reader._stream._responses.qsize()
        assert queued <= reader._stream.MAX_QUEUED_RESPONSES
        # Everything arrives, in order, once the application reads.
        it = iter(reader)
        for i in range(total):
            rec = next(it)
            assert (rec.offset, rec.value[:1] if rec.value else None) == (i, chr(65 + i % 26))


# -- records that iteration reads lazily

_FIELDS = ("topic", "partition", "offset", "timestamp", "timestamp_type", "key", "headers", "leader_epoch")


def _wire(
    topic: str,
    partition: int,
    offset: int,
    timestamp_ms: int,
    timestamp_type: int,
    key: Optional[bytes],
    value: Optional[bytes],
    headers: Sequence[Tuple[str, Optional[bytes]]],
    leader_epoch: int,
) -> common_pb2.Record:
    rec = common_pb2.Record(
        topic=topic,
        partition=partition,
        offset=offset,
        timestamp_ms=timestamp_ms,
        timestamp_type=timestamp_type,  # type: ignore[arg-type]
        leader_epoch=leader_epoch,
    )
    if key is not None:
        rec.key = key
    if value is not None:
        rec.value = value
    for k, v in headers:
        h = rec.headers.add(key=k)
        if v is not None:
            h.value = v
    return rec


# Wire records of every kind of field, and the KafkaRecord each must read as
# (with the default RawBytesSchema).
_KINDS: List[Tuple[common_pb2.Record, KafkaRecord[Optional[bytes]]]] = [
    (
        _wire("t", 1, 5, 1000, common_pb2.TIMESTAMP_TYPE_CREATE_TIME, b"k", b"v", [("a", None), ("b", b""), ("c", b"x")], 3),
        KafkaRecord("t", 1, 5, 1000, "CreateTime", b"k", b"v", [("a", None), ("b", b""), ("c", b"x")], 3),
    ),
    (
        _wire("t", 0, 6, 1001, common_pb2.TIMESTAMP_TYPE_LOG_APPEND_TIME, b"", b"", [], -1),
        KafkaRecord("t", 0, 6, 1001, "LogAppendTime", b"", b"", [], -1),
    ),
    (
        _wire("other", 2, 7, 0, common_pb2.TIMESTAMP_TYPE_UNSPECIFIED, None, None, [("h", b"\x00\xff")], 0),
        KafkaRecord("other", 2, 7, 0, "", None, None, [("h", b"\x00\xff")], 0),
    ),
    (
        _wire("é", 2**31 - 1, 2**63 - 1, -5, common_pb2.TIMESTAMP_TYPE_CREATE_TIME, b"\xff" * 3, b"w" * 1000, [], 2**31 - 1),
        KafkaRecord("é", 2**31 - 1, 2**63 - 1, -5, "CreateTime", b"\xff" * 3, b"w" * 1000, [], 2**31 - 1),
    ),
]


def _open_raw(channel: grpc.Channel) -> SourceReader[Optional[bytes]]:
    return KafkaSource.builder().set_channel(channel).set_topics(TOPIC).build().open(timeout=WAIT_S)


def _is_lazy(rec: KafkaRecord[Any]) -> bool:
    """Whether rec is a record whose fields other than value are not read
    yet (without reading them)."""
    return isinstance(rec, KafkaRecord) and type(rec) is not KafkaRecord


def test_iterated_records_read_every_field_as_the_plain_ones(
    scripted: Tuple[ScriptedSource, grpc.Channel],
) -> None:
    """Each record in a message of its own, so each is read lazily (a
    message's first record always is); for every field, each kind of record
    has that field read first."""
    server, channel = scripted
    for _ in _FIELDS:
        for wire, _want in _KINDS:
            server.send.put(_batch(wire))
    server.send.put(source_pb2.ReadResponse(end_of_input=source_pb2.EndOfInput()))
    server.send.put(None)
    with _open_raw(channel) as reader:
        it = iter(reader)
        for first in _FIELDS:
            for _wire_rec, want in _KINDS:
                rec = next(it)
                assert _is_lazy(rec)
                assert rec.value == want.value and _is_lazy(rec)
                assert getattr(rec, first) == getattr(want, first), first
                # Reading one field made it a plain record with all of them.
                assert type(rec) is KafkaRecord and not hasattr(rec, "_wire")
                for name in _FIELDS:
                    assert getattr(rec, name) == getattr(want, name), name
                assert rec == want and repr(rec) == repr(want)
        assert list(it) == [] and reader.ended


def test_raw_values_and_plain_records(scripted: Tuple[ScriptedSource, grpc.Channel]) -> None:
    """The default RawBytesSchema's values, which the readers take without
    calling it, in values(), poll() and with_events()."""
    server, channel = scripted
    for _ in range(3):
        server.send.put(_batch(*(wire for wire, _ in _KINDS)))
    server.send.put(None)
    with _open_raw(channel) as reader:
        values = reader.values()
        assert [next(values) for _ in _KINDS] == [want.value for _, want in _KINDS]
        polled = reader.poll(len(_KINDS))
        assert polled == [want for _, want in _KINDS] and all(type(r) is KafkaRecord for r in polled)
        assert list(reader.with_events()) == [want for _, want in _KINDS]


def test_a_lazy_record_behaves_as_a_kafka_record(scripted: Tuple[ScriptedSource, grpc.Channel]) -> None:
    checks: List[Callable[[KafkaRecord[Any], KafkaRecord[Any]], bool]] = [
        lambda r, w: r == w and w == r and not r != w and not w != r,
        lambda r, w: repr(r) == repr(w) and str(r) == str(w),
        lambda r, w: type(pickle.loads(pickle.dumps(r))) is KafkaRecord and pickle.loads(pickle.dumps(r)) == w,
        lambda r, w: type(copy.copy(r)) is KafkaRecord and copy.copy(r) == w,
        lambda r, w: type(copy.deepcopy(r)) is KafkaRecord and copy.deepcopy(r) == w,
        lambda r, w: dataclasses.replace(r, value=b"x") == dataclasses.replace(w, value=b"x"),
        lambda r, w: type(dataclasses.replace(r, value=b"x")) is KafkaRecord,
        lambda r, w: dataclasses.asdict(r) == dataclasses.asdict(w),
        lambda r, w: dataclasses.astuple(r) == dataclasses.astuple(w),
        lambda r, w: hash(dataclasses.replace(r, headers=())) == hash(dataclasses.replace(w, headers=())),
        lambda r, w: r.headers is r.headers,
    ]
    server, channel = scripted
    # One record a message: each is lazy (a message's first record always is).
    for _ in checks:
        for wire, _want in _KINDS:
            server.send.put(_batch(wire))
    server.send.put(None)
    with _open_raw(channel) as reader:
        it = iter(reader)
        for check in checks:
            for _wire_rec, want in _KINDS:
                rec = next(it)
                assert _is_lazy(rec) and rec.__class__ is KafkaRecord and dataclasses.is_dataclass(rec)
                assert not hasattr(rec, "__dict__")
                with pytest.raises(dataclasses.FrozenInstanceError):
                    rec.value = b"w"  # type: ignore[misc]
                with pytest.raises(dataclasses.FrozenInstanceError):
                    rec.offset = 1  # type: ignore[misc]
                with pytest.raises(dataclasses.FrozenInstanceError):
                    del rec.topic
                with pytest.raises(AttributeError):
                    rec.extra = 1  # type: ignore[attr-defined]
                assert _is_lazy(rec)
                assert check(rec, want)
        assert list(it) == []


def test_records_the_loop_keeps_are_materialized(scripted: Tuple[ScriptedSource, grpc.Channel]) -> None:
    """A lazy record holds its whole server message: one that the loop keeps
    is made plain once iteration is two records past it, before iteration
    waits for the server, and when the iterator is closed, so that it does
    not hold the message any more."""
    server, channel = scripted

    def want(p: int, o: int) -> KafkaRecord[Optional[bytes]]:
        return KafkaRecord(TOPIC, p, o, 1000 + o, "CreateTime", None, b"v%d" % o, [], 7)

    server.send.put(_batch(*(_rec(0, o, value=b"v%d" % o) for o in range(4))))
    with _open_raw(channel) as reader:
        it = iter(reader)
        r0, r1 = next(it), next(it)
        assert _is_lazy(r0) and _is_lazy(r1)
        r2 = next(it)
        assert type(r0) is KafkaRecord and r0 == want(0, 0)
        # Kept, so the records come plain now (but the first of a message).
        assert _is_lazy(r1) and not _is_lazy(r2)
        r3 = next(it)
        assert type(r1) is KafkaRecord and r1 == want(0, 1)
        assert not _is_lazy(r3)
        # Nothing left buffered: before waiting for the server, the records
        # the loop may still hold are made plain.
        server.send.put(_batch(_rec(1, 0, value=b"v0")))
        x = next(it)
        assert _is_lazy(x)
        server.send.put(_batch(_rec(2, 0, value=b"v0")))
        server.send.put(None)
        y = next(it)
        assert type(x) is KafkaRecord and x == want(1, 0)
        assert [r0, r1, r2, r3, y] == [want(0, o) for o in range(4)] + [want(2, 0)]
        assert list(it) == []
    # ... and when the iterator is closed.
    server.send.put(_batch(*(_rec(3, o, value=b"v%d" % o) for o in range(3))))
    server.send.put(None)
    with _open_raw(channel) as reader:
        it = iter(reader)
        a = next(it)
        assert _is_lazy(a)
        it.close()  # type: ignore[attr-defined]
        assert type(a) is KafkaRecord and a == want(3, 0)
        assert [r.offset for r in reader] == [1, 2]


def test_a_loop_that_reads_fields_gets_plain_records(scripted: Tuple[ScriptedSource, grpc.Channel]) -> None:
    """Whether the loop uses a lazy record's fields is seen two records
    later; once it did, the records come plain (read at once), but for the
    first of each message, and lazy again once such a first record was not
    used."""
    server, channel = scripted
    for p in range(4):
        server.send.put(_batch(*(_rec(p, o, value=b"read" if p < 2 else b"skip") for o in range(3))))
    server.send.put(None)
    lazy: List[bool] = []
    offsets: List[int] = []
    with _open_raw(channel) as reader:
        for rec in reader:
            lazy.append(_is_lazy(rec))
            if rec.value == b"read":  # the records of the first two messages
                offsets.append(rec.offset)
    assert offsets == [0, 1, 2] * 2
    assert lazy == [True, True, False] + [True, False, False] + [True, False, True] + [True, True, True]


def test_a_failing_deserializer_in_iteration(scripted: Tuple[ScriptedSource, grpc.Channel]) -> None:
    server, channel = scripted
    server.send.put(_batch(_rec(0, 0, value=b"a"), _rec(0, 1, value=b"\xff"), _rec(0, 2, value=None)))
    server.send.put(None)
    with _open(channel) as reader:
        it = iter(reader)
        assert next(it).value == "a"
        with pytest.raises(UnicodeDecodeError):
            next(it)
        # The record that failed was taken; iteration goes on after it.
        rest = list(reader)
        assert [(r.offset, r.value) for r in rest] == [(2, None)]


def test_threads_read_the_fields_of_the_same_lazy_records(
    scripted: Tuple[ScriptedSource, grpc.Channel],
) -> None:
    """A lazy record handed to other threads: each field reads the same in
    every thread, and every thread gets the same headers list."""
    server, channel = scripted
    total, threads = 100, 4
    # One record a message: each is lazy.
    for o in range(total):
        server.send.put(_batch(_rec(0, o, key=b"k", headers=[("h", b"%d" % o)])))
    server.send.put(None)
    with _open_raw(channel) as reader:
        for rec in reader:
            assert _is_lazy(rec)
            seen: List[Tuple[Any, ...]] = []
            barrier = threading.Barrier(threads)

            def read() -> None:
                barrier.wait(WAIT_S)
                seen.append((rec.offset, rec.key, rec.headers, id(rec.headers), rec.timestamp))

            workers = [threading.Thread(target=read) for _ in range(threads)]
            for w in workers:
                w.start()
            for w in workers:
                w.join(WAIT_S)
            assert not any(w.is_alive() for w in workers)
            o = rec.offset
            assert seen == [(o, b"k", [("h", b"%d" % o)], id(rec.headers), 1000 + o)] * threads
