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
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

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
    rec = common_pb2.Record(
        topic=TOPIC,
        partition=partition,
        offset=offset,
        timestamp_ms=1000 + offset,
        timestamp_type=common_pb2.TIMESTAMP_TYPE_CREATE_TIME,
        leader_epoch=7,
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
