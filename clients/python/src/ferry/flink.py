"""A Flink-style facade over ferry's ``SourceService.Read`` and ``SinkService.Write``.

It mirrors the builders of Apache Flink's Kafka connector::

    from ferry.flink import (KafkaSource, KafkaOffsetsInitializer,
                             SimpleStringSchema)

    source = (KafkaSource.builder()
              .set_ferry_address("localhost:50051")
              .set_topics("input")
              .set_starting_offsets(KafkaOffsetsInitializer.earliest())
              .set_bounded(KafkaOffsetsInitializer.latest())
              .set_value_only_deserializer(SimpleStringSchema())
              .build())
    with source.open() as reader:
        for record in reader:          # KafkaRecord[str]
            print(record.partition, record.offset, record.value)

Design:

* Iterating a :class:`SourceReader` yields :class:`KafkaRecord` objects whose
  ``value`` is the output of the value-only deserializer (``bytes`` by
  default, :class:`RawBytesSchema`); ``key`` stays raw bytes. Use
  :meth:`SourceReader.values` to get the values alone, and
  :meth:`SourceReader.with_events` to also get :class:`WatermarkEvent`,
  :class:`IdleEvent`, :class:`SplitsAddedEvent`, :class:`SplitFinishedEvent`
  and :class:`OffsetsCommittedEvent` in stream order.
* :meth:`SourceReader.checkpoint` sends a checkpoint request and returns once
  the barrier arrived. Records that arrive before the barrier are buffered and
  still yielded by iteration, in order. The returned state describes the
  iterator's position: splits with buffered (not yet yielded) records restart
  at the first of them, so restoring from it loses and repeats nothing.
  :meth:`SourceReader.notify_checkpoint_complete` commits the server's offsets
  of the barrier, which count the records buffered before it; so that group
  offsets never run ahead of what iteration yielded, the notification is sent
  only once iteration has passed the barrier's position (at once if it has).
* States are the protobuf messages ``ferry.v1.source_pb2.SourceState`` and
  ``ferry.v1.sink_pb2.SinkState``; persist them with ``SerializeToString()``.
  ``open(restore_state=...)`` accepts the message or its serialized bytes.
* A stream that fails raises :class:`FerryError` with the gRPC status code
  and message. The builders do not second-guess the server: a bad spec (for
  example two subscriptions, or none) is reported by the server as
  ``INVALID_ARGUMENT`` when the source or sink is opened.
"""

from __future__ import annotations

import enum
import itertools
import json
import queue
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import (
    Any,
    Callable,
    Deque,
    Dict,
    Generic,
    Iterable,
    Iterator,
    List,
    Mapping,
    Optional,
    Protocol,
    Set,
    Tuple,
    Type,
    TYPE_CHECKING,
    TypeVar,
    Union,
    cast,
)

import grpc

from ferry.v1 import common_pb2, service_pb2_grpc, sink_pb2, source_pb2

if TYPE_CHECKING:
    from google.protobuf.internal.containers import RepeatedCompositeFieldContainer

__all__ = [
    "DeliveryGuarantee",
    "DeserializationSchema",
    "FerryError",
    "IdleEvent",
    "JsonSchema",
    "KafkaOffsetResetStrategy",
    "KafkaOffsetsInitializer",
    "KafkaRecord",
    "KafkaRecordSerializationSchema",
    "KafkaRecordSerializationSchemaBuilder",
    "KafkaSink",
    "KafkaSinkBuilder",
    "KafkaSource",
    "KafkaSourceBuilder",
    "OffsetsCommittedEvent",
    "RawBytesSchema",
    "SerializationSchema",
    "SimpleStringSchema",
    "SinkWriter",
    "SourceEvent",
    "SourceReader",
    "SplitFinishedEvent",
    "SplitsAddedEvent",
    "WatermarkEvent",
    "WatermarkStrategy",
]

T = TypeVar("T")
U = TypeVar("U")
T_co = TypeVar("T_co", covariant=True)
T_contra = TypeVar("T_contra", contravariant=True)
Req = TypeVar("Req")
Resp = TypeVar("Resp")

SourceState = source_pb2.SourceState
SinkState = sink_pb2.SinkState

# The generated gRPC stubs carry no type hints.
_stubs: Any = service_pb2_grpc


# --------------------------------------------------------------------------- errors


class FerryError(Exception):
    """A ferry stream ended with an error.

    Attributes:
        code: The gRPC status code (``grpc.StatusCode``).
        message: The status message; for ``INVALID_ARGUMENT`` it names the
            field and the rule.
    """

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message


# --------------------------------------------------------------------------- stream


@dataclass(frozen=True)
class _End:
    code: grpc.StatusCode
    message: str


class _Close:
    pass


_CLOSE = _Close()


class _Stream(Generic[Req, Resp]):
    """A bidirectional call fed from a queue and read on a thread, so that every
    wait can have a timeout.

    Both queues are bounded, so a session's memory is too: ``send`` blocks
    while gRPC has not taken the earlier requests (flow control), and the
    reader thread stops reading from gRPC while the application has not
    taken the earlier responses, which in turn makes the server wait."""

    MAX_QUEUED_REQUESTS = 8
    MAX_QUEUED_RESPONSES = 16
    _POLL_S = 0.05  # how often a blocked put looks whether the call ended

    def __init__(self, method: Callable[..., Any], deadline_s: Optional[float]) -> None:
        self._requests: "queue.Queue[Union[Req, _Close]]" = queue.Queue(self.MAX_QUEUED_REQUESTS)
        self._responses: "queue.Queue[Union[Resp, _End]]" = queue.Queue(self.MAX_QUEUED_RESPONSES)
        self.end: Optional[_End] = None
        # Set by the reader thread when the stream ends with an error.
        self._failed: Optional[_End] = None
        self._cancelled = threading.Event()
        self._call: Any = method(self._request_iter(), timeout=deadline_s)
        self._thread = threading.Thread(target=self._read, daemon=True, name="ferry-stream")
        self._thread.start()

    def _request_iter(self) -> Iterator[Req]:
        while True:
            item = self._requests.get()
            if isinstance(item, _Close):
                return
            yield item

    def _read(self) -> None:
        try:
            for response in self._call:
                if not self._put_response(response):
                    return  # cancelled: nobody reads any more
            end = _End(self._call.code(), self._call.details() or "")
        except grpc.RpcError as err:
            call = cast(Any, err)
            end = _End(call.code(), call.details() or "")
        except Exception as err:  # pragma: no cover - a bug in a callback
            end = _End(grpc.StatusCode.UNKNOWN, repr(err))
        if end.code != grpc.StatusCode.OK:
            self._failed = end
        self._put_response(end)

    def _put_response(self, item: "Union[Resp, _End]") -> bool:
        """Queues a response, waiting while the queue is full; False when
        the stream was cancelled meanwhile."""
        while not self._cancelled.is_set():
            try:
                self._responses.put(item, timeout=self._POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def _put_request(self, item: "Union[Req, _Close]") -> bool:
        """Queues a request, waiting while gRPC has not taken the earlier
        ones; False when the call ended meanwhile (nothing takes it)."""
        while self._thread.is_alive() and not self._cancelled.is_set():
            try:
                self._requests.put(item, timeout=self._POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def send(self, request: Req) -> None:
        """Sends a request; blocks while the transport is behind. Raises
        FerryError when the stream failed or already ended."""
        self._check()
        if not self._put_request(request):
            self._check()
            raise FerryError(grpc.StatusCode.FAILED_PRECONDITION, "the stream already ended")

    def half_close(self) -> None:
        self._put_request(_CLOSE)

    def cancel(self) -> None:
        self._cancelled.set()
        self._call.cancel()
        try:
            self._requests.put_nowait(_CLOSE)  # ends the request iterator if it still waits
        except queue.Full:
            pass

    def recv(self, timeout: Optional[float]) -> Optional[Resp]:
        """The next response; None when the stream ended OK. Raises FerryError
        when it ended with an error or nothing came within timeout."""
        if self.end is None:
            try:
                item = self._responses.get(timeout=timeout)
            except queue.Empty:
                raise FerryError(
                    grpc.StatusCode.DEADLINE_EXCEEDED,
                    f"no message from the ferry server within {timeout}s",
                ) from None
            if not isinstance(item, _End):
                return item
            self.end = item
        if self.end.code != grpc.StatusCode.OK:
            raise FerryError(self.end.code, self.end.message)
        return None

    def _check(self) -> None:
        """Raises FerryError if the stream already failed (never blocks, never
        takes responses out of order)."""
        failed = self._failed
        if failed is not None:
            raise FerryError(failed.code, failed.message)


def _resolve_channel(
    channel: Optional[grpc.Channel], address: Optional[str]
) -> Tuple[grpc.Channel, bool]:
    if channel is not None:
        return channel, False
    if address:
        from ferry import connect

        return connect(address), True
    raise ValueError("set_ferry_address(...) or set_channel(...) is required")


def _cluster(bootstrap_servers: Optional[str], cluster_name: Optional[str]) -> Optional[common_pb2.Cluster]:
    if bootstrap_servers is not None:
        servers = [s.strip() for s in bootstrap_servers.split(",") if s.strip()]
        return common_pb2.Cluster(bootstrap_servers=servers)
    if cluster_name is not None:
        return common_pb2.Cluster(name=cluster_name)
    return None


# --------------------------------------------------------------------------- schemas


class DeserializationSchema(Protocol[T_co]):
    """Turns a record value (None for a tombstone) into a Python value."""

    def deserialize(self, data: Optional[bytes]) -> T_co: ...


class SerializationSchema(Protocol[T_contra]):
    """Turns a Python value into record bytes (None writes a null)."""

    def serialize(self, value: T_contra) -> Optional[bytes]: ...


class SimpleStringSchema:
    """UTF-8 strings (Flink's SimpleStringSchema); a null is None."""

    def __init__(self, encoding: str = "utf-8") -> None:
        self.encoding = encoding

    def deserialize(self, data: Optional[bytes]) -> Optional[str]:
        return None if data is None else data.decode(self.encoding)

    def serialize(self, value: Optional[str]) -> Optional[bytes]:
        return None if value is None else value.encode(self.encoding)


class JsonSchema:
    """JSON documents (like Flink's JsonRowDeserializationSchema, but to plain
    Python values); a null is None."""

    def deserialize(self, data: Optional[bytes]) -> Any:
        return None if data is None else json.loads(data)

    def serialize(self, value: Any) -> Optional[bytes]:
        return None if value is None else json.dumps(value, separators=(",", ":")).encode()


class RawBytesSchema:
    """The bytes as they are; a null is None."""

    def deserialize(self, data: Optional[bytes]) -> Optional[bytes]:
        return data

    def serialize(self, value: Optional[bytes]) -> Optional[bytes]:
        return value


# --------------------------------------------------------------------------- offsets


class KafkaOffsetResetStrategy(enum.Enum):
    """What to do for a partition without an offset (Flink's OffsetResetStrategy)."""

    NONE = source_pb2.OFFSET_RESET_STRATEGY_NONE
    EARLIEST = source_pb2.OFFSET_RESET_STRATEGY_EARLIEST
    LATEST = source_pb2.OFFSET_RESET_STRATEGY_LATEST


class KafkaOffsetsInitializer:
    """Where each split starts or stops (Flink's OffsetsInitializer)."""

    def __init__(self, proto: source_pb2.OffsetsInitializer) -> None:
        self._proto = proto

    def to_proto(self) -> source_pb2.OffsetsInitializer:
        out = source_pb2.OffsetsInitializer()
        out.CopyFrom(self._proto)
        return out

    def __repr__(self) -> str:
        return f"KafkaOffsetsInitializer({self._proto.WhichOneof('kind')})"

    @staticmethod
    def earliest() -> "KafkaOffsetsInitializer":
        return KafkaOffsetsInitializer(
            source_pb2.OffsetsInitializer(earliest=source_pb2.OffsetsInitializer.Earliest())
        )

    @staticmethod
    def latest() -> "KafkaOffsetsInitializer":
        return KafkaOffsetsInitializer(
            source_pb2.OffsetsInitializer(latest=source_pb2.OffsetsInitializer.Latest())
        )

    @staticmethod
    def committed_offsets(
        reset_strategy: KafkaOffsetResetStrategy = KafkaOffsetResetStrategy.NONE,
    ) -> "KafkaOffsetsInitializer":
        """The group's committed offsets; needs a group id. NONE (the default,
        as in Flink) fails for a partition without one."""
        return KafkaOffsetsInitializer(
            source_pb2.OffsetsInitializer(
                committed=source_pb2.OffsetsInitializer.Committed(
                    reset_strategy=reset_strategy.value
                )
            )
        )

    @staticmethod
    def timestamp(timestamp_ms: int) -> "KafkaOffsetsInitializer":
        """The first record with timestamp >= timestamp_ms (or the end)."""
        return KafkaOffsetsInitializer(source_pb2.OffsetsInitializer(timestamp_ms=timestamp_ms))

    @staticmethod
    def offsets(
        offsets: Mapping[Tuple[str, int], int],
        reset_strategy: KafkaOffsetResetStrategy = KafkaOffsetResetStrategy.EARLIEST,
    ) -> "KafkaOffsetsInitializer":
        """Explicit offsets by (topic, partition); other partitions use reset_strategy."""
        return KafkaOffsetsInitializer(
            source_pb2.OffsetsInitializer(
                specific=source_pb2.OffsetsInitializer.Specific(
                    offsets=[
                        common_pb2.PartitionOffset(topic=t, partition=p, offset=o)
                        for (t, p), o in sorted(offsets.items())
                    ],
                    reset_strategy=reset_strategy.value,
                )
            )
        )


# --------------------------------------------------------------------------- watermarks


class WatermarkStrategy:
    """Event-time watermarks on the record timestamps (Flink's WatermarkStrategy)."""

    def __init__(
        self,
        kind: "source_pb2.WatermarkKind",
        max_out_of_orderness_ms: int = 0,
        idle_timeout_ms: Optional[int] = None,
    ) -> None:
        self.kind = kind
        self.max_out_of_orderness_ms = max_out_of_orderness_ms
        self.idle_timeout_ms = idle_timeout_ms

    @staticmethod
    def no_watermarks() -> "WatermarkStrategy":
        return WatermarkStrategy(source_pb2.WATERMARK_KIND_NONE)

    @staticmethod
    def for_monotonous_timestamps() -> "WatermarkStrategy":
        return WatermarkStrategy(source_pb2.WATERMARK_KIND_MONOTONOUS)

    @staticmethod
    def for_bounded_out_of_orderness(max_out_of_orderness_ms: int) -> "WatermarkStrategy":
        return WatermarkStrategy(
            source_pb2.WATERMARK_KIND_BOUNDED_OUT_OF_ORDERNESS, max_out_of_orderness_ms
        )

    def with_idleness(self, idle_timeout_ms: int) -> "WatermarkStrategy":
        """A split without records for this long stops holding the watermark back."""
        return WatermarkStrategy(self.kind, self.max_out_of_orderness_ms, idle_timeout_ms)

    def to_proto(self) -> source_pb2.WatermarkStrategy:
        out = source_pb2.WatermarkStrategy(
            kind=self.kind, max_out_of_orderness_ms=self.max_out_of_orderness_ms
        )
        if self.idle_timeout_ms is not None:
            out.idle_timeout_ms = self.idle_timeout_ms
        return out


# --------------------------------------------------------------------------- records and events


@dataclass(frozen=True)
class KafkaRecord(Generic[T]):
    """A record read from Kafka; ``value`` is deserialized, ``key`` is raw
    (None = null key, b"" = empty key).

    Immutable (assigning a field raises ``dataclasses.FrozenInstanceError``),
    compared and hashed by value, picklable. It has ``__slots__`` (no
    ``__dict__``) so that readers can create one per record cheaply."""

    __slots__ = (
        "topic",
        "partition",
        "offset",
        "timestamp",
        "timestamp_type",
        "key",
        "value",
        "headers",
        "leader_epoch",
        "__weakref__",
    )

    topic: str
    partition: int
    offset: int
    timestamp: int
    """Milliseconds since the Unix epoch."""
    timestamp_type: str
    """"CreateTime", "LogAppendTime" or "" (unknown)."""
    key: Optional[bytes]
    value: T
    headers: List[Tuple[str, Optional[bytes]]]
    leader_epoch: int

    def __reduce__(self) -> Tuple[Any, ...]:
        # The default reduce of a slotted class restores the slots with
        # setattr, which a frozen dataclass refuses.
        return (
            self.__class__,
            (
                self.topic,
                self.partition,
                self.offset,
                self.timestamp,
                self.timestamp_type,
                self.key,
                self.value,
                self.headers,
                self.leader_epoch,
            ),
        )


class _NewKafkaRecord(KafkaRecord[Any]):
    """Creates a :class:`KafkaRecord` several times faster than its
    constructor, for the readers' per-record path.

    A frozen dataclass's ``__init__`` assigns each field through
    ``object.__setattr__``; this subclass (no slots of its own, so the same
    layout) assigns them plainly, then makes the object a ``KafkaRecord``,
    which Python allows between classes of the same layout. Call it like the
    constructor, with all nine fields in order.
    """

    __slots__ = ()

    # Both, so that assignments take CPython's fast path for slots (a
    # Python-level __delattr__ alone would route them through a lookup).
    __setattr__ = object.__setattr__
    __delattr__ = object.__delattr__

    def __init__(
        self,
        topic: str,
        partition: int,
        offset: int,
        timestamp: int,
        timestamp_type: str,
        key: Optional[bytes],
        value: Any,
        headers: List[Tuple[str, Optional[bytes]]],
        leader_epoch: int,
    ) -> None:
        # Plain assignments; typed Any because the fields are read-only to mypy.
        fields: Any = self
        fields.topic = topic
        fields.partition = partition
        fields.offset = offset
        fields.timestamp = timestamp
        fields.timestamp_type = timestamp_type
        fields.key = key
        fields.value = value
        fields.headers = headers
        fields.leader_epoch = leader_epoch
        fields.__class__ = KafkaRecord


@dataclass(frozen=True)
class WatermarkEvent:
    """The reader's combined watermark advanced."""

    timestamp: int


@dataclass(frozen=True)
class IdleEvent:
    """Every split of the reader is idle."""


@dataclass(frozen=True)
class SplitsAddedEvent:
    """Partition discovery added splits: (topic, partition, next offset)."""

    splits: List[Tuple[str, int, int]]


@dataclass(frozen=True)
class SplitFinishedEvent:
    """A split reached its stopping offset."""

    topic: str
    partition: int
    stopping_offset: int


@dataclass(frozen=True)
class OffsetsCommittedEvent:
    """The outcome of the offset commit of a completed checkpoint."""

    checkpoint_id: int
    error: str
    failed_commits: int


SourceEvent = Union[WatermarkEvent, IdleEvent, SplitsAddedEvent, SplitFinishedEvent, OffsetsCommittedEvent]

_TS_TYPES = {
    common_pb2.TIMESTAMP_TYPE_CREATE_TIME: "CreateTime",
    common_pb2.TIMESTAMP_TYPE_LOG_APPEND_TIME: "LogAppendTime",
}


def _record_converter(
    deserialize: Callable[[Optional[bytes]], T],
) -> Callable[[common_pb2.Record], KafkaRecord[T]]:
    """A function from a wire record to its KafkaRecord, the value deserialized.

    An absent key, value or header value is None, a present and empty one
    b"" (only an empty one needs the slower presence check).
    """
    ts_type = _TS_TYPES.get

    def convert(rec: common_pb2.Record) -> KafkaRecord[T]:
        headers = rec.headers
        return _NewKafkaRecord(
            rec.topic,
            rec.partition,
            rec.offset,
            rec.timestamp_ms,
            ts_type(rec.timestamp_type, ""),
            rec.key or (b"" if rec.HasField("key") else None),
            deserialize(rec.value or (b"" if rec.HasField("value") else None)),
            [(h.key, h.value or (b"" if h.HasField("value") else None)) for h in headers] if headers else [],
            rec.leader_epoch,
        )

    return convert


def _value_converter(deserialize: Callable[[Optional[bytes]], T]) -> Callable[[common_pb2.Record], T]:
    """A function from a wire record to its deserialized value."""

    def convert(rec: common_pb2.Record) -> T:
        return deserialize(rec.value or (b"" if rec.HasField("value") else None))

    return convert


# --------------------------------------------------------------------------- source


class KafkaSource(Generic[T]):
    """A built source; :meth:`open` starts one reader session."""

    def __init__(
        self,
        spec: source_pb2.SourceSpec,
        deserializer: DeserializationSchema[T],
        reader_index: int,
        parallelism: int,
        channel: Optional[grpc.Channel],
        address: Optional[str],
    ) -> None:
        self._spec = spec
        self._deserializer = deserializer
        self._reader_index = reader_index
        self._parallelism = parallelism
        self._channel = channel
        self._address = address

    @staticmethod
    def builder() -> "KafkaSourceBuilder[Optional[bytes]]":
        return KafkaSourceBuilder()

    @property
    def spec(self) -> source_pb2.SourceSpec:
        """A copy of the SourceSpec this source opens with."""
        out = source_pb2.SourceSpec()
        out.CopyFrom(self._spec)
        return out

    def open(
        self,
        restore_state: Union[source_pb2.SourceState, bytes, None] = None,
        *,
        timeout: Optional[float] = None,
    ) -> "SourceReader[T]":
        """Opens a reader session and waits for the server's ``opened``.

        Args:
            restore_state: A state from :meth:`SourceReader.checkpoint` (the
                union of all readers' states of one checkpoint), or its
                serialized bytes; None starts from the starting offsets.
            timeout: Seconds any single wait for the server may take; None
                waits forever. A timeout raises FerryError(DEADLINE_EXCEEDED).
        """
        channel, owned = _resolve_channel(self._channel, self._address)
        open_msg = source_pb2.OpenSource(
            spec=self._spec, reader_index=self._reader_index, parallelism=self._parallelism
        )
        if restore_state is not None:
            if isinstance(restore_state, bytes):
                open_msg.restore.ParseFromString(restore_state)
            else:
                open_msg.restore.CopyFrom(restore_state)
        try:
            reader = SourceReader(channel, owned, open_msg, self._deserializer, timeout)
        except BaseException:
            if owned:
                channel.close()
            raise
        return reader


class KafkaSourceBuilder(Generic[T]):
    """Flink's KafkaSourceBuilder. Every setter returns the builder."""

    def __init__(self) -> None:
        self._bootstrap_servers: Optional[str] = None
        self._cluster_name: Optional[str] = None
        self._topics: Optional[List[str]] = None
        self._topic_pattern: Optional[str] = None
        self._partitions: Optional[List[Tuple[str, int]]] = None
        self._group_id: Optional[str] = None
        self._starting: Optional[KafkaOffsetsInitializer] = None
        self._boundedness = source_pb2.BOUNDEDNESS_CONTINUOUS_UNBOUNDED
        self._stopping: Optional[KafkaOffsetsInitializer] = None
        self._deserializer: Any = RawBytesSchema()
        self._properties: Dict[str, str] = {}
        self._watermarks: Optional[WatermarkStrategy] = None
        self._reader_index = 0
        self._parallelism = 1
        self._channel: Optional[grpc.Channel] = None
        self._address: Optional[str] = None

    def set_bootstrap_servers(self, bootstrap_servers: str) -> "KafkaSourceBuilder[T]":
        """A comma-separated list of host:port; not set means the server's default cluster."""
        self._bootstrap_servers = bootstrap_servers
        return self

    def set_cluster(self, name: str) -> "KafkaSourceBuilder[T]":
        """A cluster configured on the server by name (instead of bootstrap servers)."""
        self._cluster_name = name
        return self

    def set_topics(self, *topics: Union[str, Iterable[str]]) -> "KafkaSourceBuilder[T]":
        names: List[str] = []
        for t in topics:
            if isinstance(t, str):
                names.append(t)
            else:
                names.extend(t)
        self._topics = names
        return self

    def set_topic_pattern(self, pattern: str) -> "KafkaSourceBuilder[T]":
        """A Go RE2 pattern matched against whole topic names."""
        self._topic_pattern = pattern
        return self

    def set_partitions(self, partitions: Iterable[Tuple[str, int]]) -> "KafkaSourceBuilder[T]":
        self._partitions = sorted(set(partitions))
        return self

    def set_group_id(self, group_id: str) -> "KafkaSourceBuilder[T]":
        self._group_id = group_id
        return self

    def set_starting_offsets(self, initializer: KafkaOffsetsInitializer) -> "KafkaSourceBuilder[T]":
        self._starting = initializer
        return self

    def set_bounded(self, stopping: KafkaOffsetsInitializer) -> "KafkaSourceBuilder[T]":
        """Stop at these offsets and end the input (iteration ends)."""
        self._boundedness = source_pb2.BOUNDEDNESS_BOUNDED
        self._stopping = stopping
        return self

    def set_unbounded(self, stopping: KafkaOffsetsInitializer) -> "KafkaSourceBuilder[T]":
        """Continuous mode that still stops every split at these offsets."""
        self._boundedness = source_pb2.BOUNDEDNESS_CONTINUOUS_UNBOUNDED
        self._stopping = stopping
        return self

    def set_value_only_deserializer(
        self, schema: DeserializationSchema[U]
    ) -> "KafkaSourceBuilder[U]":
        self._deserializer = schema
        return cast("KafkaSourceBuilder[U]", self)

    def set_property(self, key: str, value: Any) -> "KafkaSourceBuilder[T]":
        """A Kafka consumer property or connector option by its Java name."""
        self._properties[key] = _prop(value)
        return self

    def set_properties(self, properties: Mapping[str, Any]) -> "KafkaSourceBuilder[T]":
        for k, v in properties.items():
            self.set_property(k, v)
        return self

    def set_watermark_strategy(self, strategy: WatermarkStrategy) -> "KafkaSourceBuilder[T]":
        self._watermarks = strategy
        return self

    def set_reader(self, index: int, parallelism: int) -> "KafkaSourceBuilder[T]":
        """This reader's index in [0, parallelism)."""
        self._reader_index = index
        self._parallelism = parallelism
        return self

    def set_ferry_address(self, address: str) -> "KafkaSourceBuilder[T]":
        """The ferry server's host:port; the reader opens and closes its own channel."""
        self._address = address
        return self

    def set_channel(self, channel: grpc.Channel) -> "KafkaSourceBuilder[T]":
        """A channel (from ferry.connect) to use; the reader never closes it."""
        self._channel = channel
        return self

    def build(self) -> KafkaSource[T]:
        if self._channel is None and not self._address:
            raise ValueError("set_ferry_address(...) or set_channel(...) is required")
        spec = source_pb2.SourceSpec(boundedness=self._boundedness, properties=self._properties)
        cluster = _cluster(self._bootstrap_servers, self._cluster_name)
        if cluster is not None:
            spec.cluster.CopyFrom(cluster)
        if self._topics is not None:
            spec.topics.CopyFrom(source_pb2.TopicList(topics=self._topics))
        if self._topic_pattern is not None:
            spec.topic_pattern = self._topic_pattern
        if self._partitions is not None:
            spec.partitions.CopyFrom(
                source_pb2.PartitionSet(
                    partitions=[
                        common_pb2.TopicPartition(topic=t, partition=p) for t, p in self._partitions
                    ]
                )
            )
        if self._group_id is not None:
            spec.group_id = self._group_id
        if self._starting is not None:
            spec.starting_offsets.CopyFrom(self._starting.to_proto())
        if self._stopping is not None:
            spec.stopping_offsets.CopyFrom(self._stopping.to_proto())
        if self._watermarks is not None:
            spec.watermark_strategy.CopyFrom(self._watermarks.to_proto())
        return KafkaSource(
            spec,
            cast(DeserializationSchema[T], self._deserializer),
            self._reader_index,
            self._parallelism,
            self._channel,
            self._address,
        )


def _prop(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(frozen=True)
class _BarrierMark:
    """In the pending queue: a checkpoint's barrier arrived here."""

    checkpoint_id: int


# The records of one server message, in the pending queue.
_Batch = List[common_pb2.Record]


class SourceReader(Generic[T]):
    """One source session (a Flink SourceReader). Iterate it for records; it is
    a context manager that closes the session."""

    def __init__(
        self,
        channel: grpc.Channel,
        owns_channel: bool,
        open_msg: source_pb2.OpenSource,
        deserializer: DeserializationSchema[T],
        timeout: Optional[float],
    ) -> None:
        self._channel = channel
        self._owns_channel = owns_channel
        self._deserializer = deserializer
        self._convert = _record_converter(deserializer.deserialize)
        self._timeout = timeout
        self._pending: Deque[Union[_Batch, SourceEvent, _BarrierMark]] = deque()
        # The cursor in the batch at the front of _pending (0 when no batch is there).
        self._pos = 0
        self._barriers: Dict[int, source_pb2.SourceState] = {}
        # Barriers whose position iteration has not passed yet, and the
        # completions waiting for that.
        self._unpassed: Set[int] = set()
        self._deferred_complete: List[int] = []
        self._ended = False
        self._closed = False
        self.watermark: Optional[int] = None
        """The latest watermark the server sent (ms), if any."""
        stub = _stubs.SourceServiceStub(channel)
        self._stream: _Stream[source_pb2.ReadRequest, source_pb2.ReadResponse] = _Stream(stub.Read, None)
        try:
            self._stream.send(source_pb2.ReadRequest(open=open_msg))
            first = self._stream.recv(timeout)
            if first is None or first.WhichOneof("kind") != "opened":
                raise FerryError(grpc.StatusCode.INTERNAL, f"expected opened, got {first}")
        except BaseException:
            self._stream.cancel()
            raise
        self.opened: source_pb2.SourceOpened = first.opened

    # -- info

    @property
    def session_id(self) -> str:
        return self.opened.session_id

    @property
    def bounded(self) -> bool:
        return self.opened.bounded

    @property
    def splits(self) -> List[Tuple[str, int]]:
        """The (topic, partition) splits this reader owns at open."""
        return [(s.topic, s.partition) for s in self.opened.splits]

    # -- reading
    #
    # The pending queue holds, in stream order, batches (the records of one
    # server message, as a list), events and barrier marks. The batch at the
    # front is taken from index self._pos on; a batch leaves the queue with
    # its last record, so every batch in the queue has a record left.

    def _pull(self) -> None:
        """Reads one server message into the pending queue."""
        msg = self._stream.recv(self._timeout)
        if msg is None:
            self._ended = True
            return
        kind = msg.WhichOneof("kind")
        if kind == "records":
            records = msg.records.records
            if records:
                self._pending.append(list(records))
        elif kind == "barrier":
            cid = msg.barrier.checkpoint_id
            self._barriers[cid] = self._iterator_state(msg.barrier.state)
            if self._pending:
                self._unpassed.add(cid)
                self._pending.append(_BarrierMark(cid))
        elif kind == "watermark":
            self.watermark = msg.watermark.timestamp_ms
            self._pending.append(WatermarkEvent(msg.watermark.timestamp_ms))
        elif kind == "idle":
            self._pending.append(IdleEvent())
        elif kind == "splits_added":
            self._pending.append(
                SplitsAddedEvent(
                    [(s.topic, s.partition, s.next_offset) for s in msg.splits_added.splits]
                )
            )
        elif kind == "split_finished":
            sf = msg.split_finished
            self._pending.append(SplitFinishedEvent(sf.topic, sf.partition, sf.stopping_offset))
        elif kind == "committed":
            c = msg.committed
            self._pending.append(OffsetsCommittedEvent(c.checkpoint_id, c.error, c.failed_commits))
        elif kind == "end_of_input":
            pass  # the stream ends OK next
        # "opened" twice cannot happen; unknown kinds from a newer server are ignored.

    def _iterator_state(self, state: source_pb2.SourceState) -> source_pb2.SourceState:
        """The barrier's state moved back to the first buffered record of each split."""
        first: Dict[Tuple[str, int], int] = {}
        for i, item in enumerate(self._pending):
            if isinstance(item, list):
                for rec in itertools.islice(item, self._pos if i == 0 else 0, None):
                    first.setdefault((rec.topic, rec.partition), rec.offset)
        out = source_pb2.SourceState()
        out.CopyFrom(state)
        for split in out.splits:
            off = first.get((split.topic, split.partition))
            if off is not None and off < split.next_offset:
                split.next_offset = off
        return out

    def _head(self, wait: bool = True) -> Union[_Batch, SourceEvent, None]:
        """The front of the pending queue, left there, after passing the
        barrier marks before it. When nothing is buffered: pulls from the
        server if wait, else returns None. None at the end."""
        pending = self._pending
        while True:
            if pending:
                item = pending[0]
                if not isinstance(item, _BarrierMark):
                    return item
                pending.popleft()
                self._pass_barrier(item.checkpoint_id)
            elif self._ended or self._closed or not wait:
                return None
            else:
                self._pull()

    def _take(self, batch: _Batch) -> common_pb2.Record:
        """The record at the cursor of batch, the front of the queue; moves
        the cursor past it (and the batch off the queue after its last)."""
        pos = self._pos
        if pos + 1 < len(batch):
            self._pos = pos + 1
        else:
            self._pending.popleft()
            self._pos = 0
        return batch[pos]

    def _pass_barrier(self, checkpoint_id: int) -> None:
        self._unpassed.discard(checkpoint_id)
        ready = [c for c in self._deferred_complete if c <= checkpoint_id]
        self._deferred_complete = [c for c in self._deferred_complete if c > checkpoint_id]
        for c in ready:
            self._send_complete(c)

    def _records(self, convert: Callable[[common_pb2.Record], U]) -> Iterator[U]:
        """convert(record) for each record in stream order, events dropped;
        ends at the end of a bounded input. The loop of __iter__ and values()."""
        pending = self._pending
        while True:
            # The common case, a batch at the front, inline: this runs once per record.
            batch = pending[0] if pending else None
            if not isinstance(batch, list):
                head = self._head()
                if head is None:
                    return
                if not isinstance(head, list):
                    pending.popleft()  # an event
                    continue
                batch = head
            pos = self._pos
            if pos + 1 < len(batch):
                self._pos = pos + 1
            else:
                pending.popleft()
                self._pos = 0
            # The cursor moves past the record before it is converted, as in
            # _take: a deserializer that raises does not make it come again.
            yield convert(batch[pos])

    def __iter__(self) -> Iterator[KafkaRecord[T]]:
        """Records in stream order (events are dropped); ends at the end of a bounded input."""
        return self._records(self._convert)

    def values(self) -> Iterator[T]:
        """The deserialized values alone (no KafkaRecord is built)."""
        return self._records(_value_converter(self._deserializer.deserialize))

    def with_events(self) -> Iterator[Union[KafkaRecord[T], SourceEvent]]:
        """Records and events in stream order; ends at the end of a bounded input."""
        convert = self._convert
        while True:
            head = self._head()
            if head is None:
                return
            if isinstance(head, list):
                yield convert(self._take(head))
            else:
                self._pending.popleft()
                yield head

    def poll(self, max_records: int = 500) -> List[KafkaRecord[T]]:
        """Up to max_records records that arrived (waits for at least one
        server message when nothing is buffered); [] at the end of input."""
        convert = self._convert
        out: List[KafkaRecord[T]] = []
        while len(out) < max_records:
            # Waits for the server only while out is empty: records in hand
            # are returned, not held until the next server message.
            head = self._head(wait=not out)
            if head is None:
                break
            if isinstance(head, list):
                out.append(convert(self._take(head)))
            else:
                self._pending.popleft()  # an event
        return out

    @property
    def ended(self) -> bool:
        """True once a bounded input ended and every record was taken."""
        return self._ended and not any(not isinstance(i, _BarrierMark) for i in self._pending)

    # -- checkpoints

    def checkpoint(self, checkpoint_id: int) -> source_pb2.SourceState:
        """Takes a checkpoint: returns the state once its barrier arrived.

        Records that arrive before the barrier are buffered and still yielded
        by iteration. The state is that of the iterator: restoring from it
        yields exactly the records not yet taken from this reader.
        """
        if self._ended:
            raise FerryError(grpc.StatusCode.FAILED_PRECONDITION, "the input has ended")
        self._stream.send(
            source_pb2.ReadRequest(checkpoint=common_pb2.Checkpoint(checkpoint_id=checkpoint_id))
        )
        while checkpoint_id not in self._barriers:
            if self._ended:
                raise FerryError(
                    grpc.StatusCode.FAILED_PRECONDITION,
                    f"the input ended before the barrier of checkpoint {checkpoint_id}",
                )
            self._pull()
        return self._barriers.pop(checkpoint_id)

    def notify_checkpoint_complete(self, checkpoint_id: int) -> None:
        """Says the checkpoint is durable; the server commits its offsets to the
        group if committing is on (the outcome arrives as OffsetsCommittedEvent).

        If records buffered before the checkpoint's barrier have not been
        taken yet, the notification is sent once iteration passes them.
        """
        if any(c <= checkpoint_id for c in self._unpassed):
            self._deferred_complete.append(checkpoint_id)
            return
        self._send_complete(checkpoint_id)

    def _send_complete(self, checkpoint_id: int) -> None:
        self._stream.send(
            source_pb2.ReadRequest(
                checkpoint_complete=source_pb2.CheckpointComplete(checkpoint_id=checkpoint_id)
            )
        )

    # -- closing

    def close(self) -> None:
        """Ends the session gracefully (idempotent); raises FerryError if the
        stream had failed."""
        if self._closed:
            return
        self._closed = True
        try:
            if not self._ended:
                self._stream.send(source_pb2.ReadRequest(close=common_pb2.Close()))
                self._stream.half_close()
                while self._stream.recv(self._timeout if self._timeout is not None else 30.0) is not None:
                    pass
                self._ended = True
        finally:
            self._stream.cancel()
            if self._owns_channel:
                self._channel.close()

    def __enter__(self) -> "SourceReader[T]":
        return self

    def __exit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException], tb: Any) -> None:
        if exc_type is None:
            self.close()
        else:
            self._closed = True
            self._stream.cancel()
            if self._owns_channel:
                self._channel.close()


# --------------------------------------------------------------------------- sink


class DeliveryGuarantee(enum.Enum):
    """Flink's DeliveryGuarantee."""

    NONE = sink_pb2.DELIVERY_GUARANTEE_NONE
    AT_LEAST_ONCE = sink_pb2.DELIVERY_GUARANTEE_AT_LEAST_ONCE
    EXACTLY_ONCE = sink_pb2.DELIVERY_GUARANTEE_EXACTLY_ONCE


_PARTITIONERS = {
    "default": sink_pb2.PARTITIONER_DEFAULT,
    "fixed": sink_pb2.PARTITIONER_FIXED,
    "round_robin": sink_pb2.PARTITIONER_ROUND_ROBIN,
}


# Upper bounds of a SinkRecord's encoding inside a WriteBatch besides its
# strings and bytes: the record's own tag and length (6 bytes), and the tag
# and length or value of each of its fields (topic, key, value: 6 bytes each;
# partition and timestamp_ms: 11 each, a negative int32 takes 10).
_RECORD_OVERHEAD = 46
# The same for one header: its tag and length, its key's and its value's.
_HEADER_OVERHEAD = 18

# Adds one value's record to a batch; returns its size estimate.
_Append = Callable[[Any, "RepeatedCompositeFieldContainer[sink_pb2.SinkRecord]"], int]


def _utf8_len(text: str) -> int:
    """The length of text encoded as UTF-8 (cheap for ASCII)."""
    return len(text) if text.isascii() else len(text.encode())


class KafkaRecordSerializationSchema(Generic[T]):
    """Turns a value into a record: topic, key, value (and optionally partition,
    headers, timestamp). Build one with :meth:`builder`."""

    def __init__(
        self,
        topic: Optional[str],
        topic_selector: Optional[Callable[[T], str]],
        key_schema: Optional[SerializationSchema[T]],
        value_schema: SerializationSchema[T],
        partition_selector: Optional[Callable[[T], Optional[int]]],
        headers_provider: Optional[Callable[[T], Iterable[Tuple[str, Optional[bytes]]]]],
        timestamp_selector: Optional[Callable[[T], Optional[int]]],
    ) -> None:
        self.topic = topic
        self._topic_selector = topic_selector
        self._key_schema = key_schema
        self._value_schema = value_schema
        self._partition_selector = partition_selector
        self._headers_provider = headers_provider
        self._timestamp_selector = timestamp_selector

    @staticmethod
    def builder() -> "KafkaRecordSerializationSchemaBuilder[Any]":
        return KafkaRecordSerializationSchemaBuilder()

    def serialize(self, value: T) -> sink_pb2.SinkRecord:
        rec = sink_pb2.SinkRecord()
        self._fill(value, rec, "")
        return rec

    def _fill(self, value: T, rec: sink_pb2.SinkRecord, default_topic: str) -> int:
        """Sets rec's fields from value, calling the selectors and schemas in
        this order: topic, key, value, partition, headers, timestamp; returns
        rec's size estimate. The topic stays empty when it is default_topic
        (the sink spec's, which the server then uses; "" for none)."""
        size = _RECORD_OVERHEAD
        if self._topic_selector is not None:
            topic = self._topic_selector(value)
            if topic != default_topic:
                rec.topic = topic  # raises TypeError for anything but a str
                size += _utf8_len(topic)
        elif self.topic is not None and self.topic != default_topic:
            rec.topic = self.topic
            size += _utf8_len(self.topic)
        if self._key_schema is not None:
            key = self._key_schema.serialize(value)
            if key is not None:
                rec.key = key
                size += len(key)
        data = self._value_schema.serialize(value)
        if data is not None:
            rec.value = data
            size += len(data)
        if self._partition_selector is not None:
            p = self._partition_selector(value)
            if p is not None:
                rec.partition = p
        if self._headers_provider is not None:
            add_header = rec.headers.add
            for k, v in self._headers_provider(value):
                h = add_header()
                h.key = k
                size += _HEADER_OVERHEAD + _utf8_len(k)
                if v is not None:
                    h.value = v
                    size += len(v)
        if self._timestamp_selector is not None:
            ts = self._timestamp_selector(value)
            if ts is not None:
                rec.timestamp_ms = ts
        return size

    def _appender(self, default_topic: str) -> _Append:
        """A function that adds a value's record to a batch and returns its
        size estimate; a record whose serialization raised is taken out of the
        batch again. For a schema of a fixed topic, an optional key schema and
        a value schema (the common case) the function serializes before it
        adds the record and sets only key and value: no topic when it is
        default_topic, no selector checks, one call per schema."""
        plain = (
            self._topic_selector is None
            and self._partition_selector is None
            and self._headers_provider is None
            and self._timestamp_selector is None
            and self.topic == default_topic
        )
        serialize_value = self._value_schema.serialize
        if plain and self._key_schema is None:

            def append_value(
                value: Any, records: "RepeatedCompositeFieldContainer[sink_pb2.SinkRecord]"
            ) -> int:
                data = serialize_value(value)
                rec = records.add()
                if data is None:
                    return _RECORD_OVERHEAD
                try:
                    rec.value = data
                except BaseException:
                    del records[-1]
                    raise
                return _RECORD_OVERHEAD + len(data)

            return append_value

        if plain:
            assert self._key_schema is not None
            serialize_key = self._key_schema.serialize

            def append_key_value(
                value: Any, records: "RepeatedCompositeFieldContainer[sink_pb2.SinkRecord]"
            ) -> int:
                key = serialize_key(value)
                data = serialize_value(value)
                rec = records.add()
                size = _RECORD_OVERHEAD
                try:
                    if key is not None:
                        rec.key = key
                        size += len(key)
                    if data is not None:
                        rec.value = data
                        size += len(data)
                except BaseException:
                    del records[-1]
                    raise
                return size

            return append_key_value

        fill = self._fill

        def append(value: Any, records: "RepeatedCompositeFieldContainer[sink_pb2.SinkRecord]") -> int:
            # The selectors run while the record is in the batch, in the
            # order serialize() calls them.
            rec = records.add()
            try:
                return fill(value, rec, default_topic)
            except BaseException:
                del records[-1]
                raise

        return append


class KafkaRecordSerializationSchemaBuilder(Generic[T]):
    def __init__(self) -> None:
        self._topic: Optional[str] = None
        self._topic_selector: Optional[Callable[[Any], str]] = None
        self._key: Optional[SerializationSchema[Any]] = None
        self._value: Optional[SerializationSchema[Any]] = None
        self._partition: Optional[Callable[[Any], Optional[int]]] = None
        self._headers: Optional[Callable[[Any], Iterable[Tuple[str, Optional[bytes]]]]] = None
        self._timestamp: Optional[Callable[[Any], Optional[int]]] = None

    def set_topic(self, topic: str) -> "KafkaRecordSerializationSchemaBuilder[T]":
        self._topic = topic
        return self

    def set_topic_selector(self, selector: Callable[[T], str]) -> "KafkaRecordSerializationSchemaBuilder[T]":
        self._topic_selector = selector
        return self

    def set_key_serialization_schema(
        self, schema: SerializationSchema[T]
    ) -> "KafkaRecordSerializationSchemaBuilder[T]":
        self._key = schema
        return self

    def set_value_serialization_schema(
        self, schema: SerializationSchema[T]
    ) -> "KafkaRecordSerializationSchemaBuilder[T]":
        self._value = schema
        return self

    def set_partition_selector(
        self, selector: Callable[[T], Optional[int]]
    ) -> "KafkaRecordSerializationSchemaBuilder[T]":
        """An explicit partition per value (None: the sink's partitioner decides)."""
        self._partition = selector
        return self

    def set_headers_provider(
        self, provider: Callable[[T], Iterable[Tuple[str, Optional[bytes]]]]
    ) -> "KafkaRecordSerializationSchemaBuilder[T]":
        self._headers = provider
        return self

    def set_timestamp_selector(
        self, selector: Callable[[T], Optional[int]]
    ) -> "KafkaRecordSerializationSchemaBuilder[T]":
        """The record timestamp in ms (None: the server's now)."""
        self._timestamp = selector
        return self

    def build(self) -> KafkaRecordSerializationSchema[T]:
        if self._value is None:
            raise ValueError("set_value_serialization_schema(...) is required")
        if self._topic is None and self._topic_selector is None:
            raise ValueError("set_topic(...) or set_topic_selector(...) is required")
        return KafkaRecordSerializationSchema(
            self._topic,
            self._topic_selector,
            self._key,
            self._value,
            self._partition,
            self._headers,
            self._timestamp,
        )


class KafkaSink(Generic[T]):
    """A built sink; :meth:`open` starts one writer session."""

    def __init__(
        self,
        spec: sink_pb2.SinkSpec,
        serializer: KafkaRecordSerializationSchema[T],
        writer_index: int,
        parallelism: int,
        batch_size: int,
        channel: Optional[grpc.Channel],
        address: Optional[str],
    ) -> None:
        self._spec = spec
        self._serializer = serializer
        self._writer_index = writer_index
        self._parallelism = parallelism
        self._batch_size = batch_size
        self._channel = channel
        self._address = address

    @staticmethod
    def builder() -> "KafkaSinkBuilder[Any]":
        return KafkaSinkBuilder()

    @property
    def spec(self) -> sink_pb2.SinkSpec:
        out = sink_pb2.SinkSpec()
        out.CopyFrom(self._spec)
        return out

    def open(
        self,
        restore_state: Union[sink_pb2.SinkState, bytes, None] = None,
        *,
        timeout: Optional[float] = None,
    ) -> "SinkWriter[T]":
        """Opens a writer session. restore_state (from :meth:`SinkWriter.prepare`)
        commits its prepared transactions first.

        Args:
            timeout: Seconds any single wait for the server may take; None
                waits forever.
        """
        channel, owned = _resolve_channel(self._channel, self._address)
        open_msg = sink_pb2.OpenSink(
            spec=self._spec, writer_index=self._writer_index, parallelism=self._parallelism
        )
        if restore_state is not None:
            if isinstance(restore_state, bytes):
                open_msg.restore.ParseFromString(restore_state)
            else:
                open_msg.restore.CopyFrom(restore_state)
        try:
            return SinkWriter(
                channel,
                owned,
                open_msg,
                self._serializer,
                self._batch_size,
                self._spec.delivery_guarantee == sink_pb2.DELIVERY_GUARANTEE_EXACTLY_ONCE,
                timeout,
            )
        except BaseException:
            if owned:
                channel.close()
            raise


class KafkaSinkBuilder(Generic[T]):
    """Flink's KafkaSinkBuilder. Every setter returns the builder."""

    def __init__(self) -> None:
        self._bootstrap_servers: Optional[str] = None
        self._cluster_name: Optional[str] = None
        self._serializer: Optional[KafkaRecordSerializationSchema[Any]] = None
        self._guarantee = DeliveryGuarantee.NONE
        self._prefix: Optional[str] = None
        self._partitioner = sink_pb2.PARTITIONER_DEFAULT
        self._properties: Dict[str, str] = {}
        self._writer_index = 0
        self._parallelism = 1
        self._batch_size = 500
        self._channel: Optional[grpc.Channel] = None
        self._address: Optional[str] = None

    def set_bootstrap_servers(self, bootstrap_servers: str) -> "KafkaSinkBuilder[T]":
        """A comma-separated list of host:port; not set means the server's default cluster."""
        self._bootstrap_servers = bootstrap_servers
        return self

    def set_cluster(self, name: str) -> "KafkaSinkBuilder[T]":
        self._cluster_name = name
        return self

    def set_record_serializer(self, serializer: KafkaRecordSerializationSchema[U]) -> "KafkaSinkBuilder[U]":
        self._serializer = serializer
        return cast("KafkaSinkBuilder[U]", self)

    def set_delivery_guarantee(self, guarantee: DeliveryGuarantee) -> "KafkaSinkBuilder[T]":
        self._guarantee = guarantee
        return self

    def set_transactional_id_prefix(self, prefix: str) -> "KafkaSinkBuilder[T]":
        self._prefix = prefix
        return self

    def set_partitioner(self, partitioner: str) -> "KafkaSinkBuilder[T]":
        """"default" (murmur2 of the key), "fixed" or "round_robin"."""
        try:
            self._partitioner = _PARTITIONERS[partitioner]
        except KeyError:
            raise ValueError(
                f"partitioner must be one of {sorted(_PARTITIONERS)}, got {partitioner!r}"
            ) from None
        return self

    def set_property(self, key: str, value: Any) -> "KafkaSinkBuilder[T]":
        """A Kafka producer property by its Java name."""
        self._properties[key] = _prop(value)
        return self

    def set_properties(self, properties: Mapping[str, Any]) -> "KafkaSinkBuilder[T]":
        for k, v in properties.items():
            self.set_property(k, v)
        return self

    def set_writer(self, index: int, parallelism: int) -> "KafkaSinkBuilder[T]":
        self._writer_index = index
        self._parallelism = parallelism
        return self

    def set_batch_size(self, records: int) -> "KafkaSinkBuilder[T]":
        """Records per WriteBatch message (default 500)."""
        if records < 1:
            raise ValueError("batch size must be >= 1")
        self._batch_size = records
        return self

    def set_ferry_address(self, address: str) -> "KafkaSinkBuilder[T]":
        self._address = address
        return self

    def set_channel(self, channel: grpc.Channel) -> "KafkaSinkBuilder[T]":
        self._channel = channel
        return self

    def build(self) -> KafkaSink[T]:
        if self._channel is None and not self._address:
            raise ValueError("set_ferry_address(...) or set_channel(...) is required")
        if self._serializer is None:
            raise ValueError("set_record_serializer(...) is required")
        spec = sink_pb2.SinkSpec(
            delivery_guarantee=self._guarantee.value,
            partitioner=self._partitioner,
            properties=self._properties,
        )
        cluster = _cluster(self._bootstrap_servers, self._cluster_name)
        if cluster is not None:
            spec.cluster.CopyFrom(cluster)
        if self._prefix is not None:
            spec.transactional_id_prefix = self._prefix
        if self._serializer.topic is not None:
            spec.default_topic = self._serializer.topic
        return KafkaSink(
            spec,
            cast(KafkaRecordSerializationSchema[T], self._serializer),
            self._writer_index,
            self._parallelism,
            self._batch_size,
            self._channel,
            self._address,
        )


class SinkWriter(Generic[T]):
    """One sink session (a Flink SinkWriter + Committer); a context manager.
    Leaving the ``with`` block normally closes it; leaving it with an
    exception cancels the session (the open transaction is aborted)."""

    def __init__(
        self,
        channel: grpc.Channel,
        owns_channel: bool,
        open_msg: sink_pb2.OpenSink,
        serializer: KafkaRecordSerializationSchema[T],
        batch_size: int,
        exactly_once: bool,
        timeout: Optional[float],
    ) -> None:
        self._channel = channel
        self._owns_channel = owns_channel
        self._batch_size = batch_size
        self._exactly_once = exactly_once
        self._timeout = timeout
        self._append = serializer._appender(open_msg.spec.default_topic)
        # The batch being filled: records are added to the request that
        # flush sends, so each is built once, in place.
        self._request = sink_pb2.WriteRequest()
        self._records = self._request.records.records
        self._bytes = 0  # the size estimate of _records
        self._sequence = 0
        self._closed = False
        self.records_written = 0
        """Records Kafka acknowledged, as of the last checkpoint or close."""
        stub = _stubs.SinkServiceStub(channel)
        self._stream: _Stream[sink_pb2.WriteRequest, sink_pb2.WriteResponse] = _Stream(stub.Write, None)
        try:
            self._stream.send(sink_pb2.WriteRequest(open=open_msg))
            first = self._stream.recv(timeout)
            if first is None or first.WhichOneof("kind") != "opened":
                raise FerryError(grpc.StatusCode.INTERNAL, f"expected opened, got {first}")
        except BaseException:
            self._stream.cancel()
            raise
        self.opened: sink_pb2.SinkOpened = first.opened

    MAX_BATCH_BYTES = 8 << 20
    """The most bytes of records one WriteBatch message carries: half the
    server's 16 MiB limit on a client message, which leaves room for the
    consumed offsets. A batch is sent early when the next record would take
    it past this; a record larger than this on its own is sent alone. Records
    are counted by an upper bound of their encoding (their topic, key, value
    and headers, plus a constant per record and per header), not by
    ``ByteSize()``, which encodes the record again."""

    @property
    def session_id(self) -> str:
        return self.opened.session_id

    def write(self, value: T) -> None:
        """Buffers one value; a full batch (by records or bytes) is sent."""
        records = self._records
        size = self._append(value, records)
        self._bytes += size
        if len(records) >= self._batch_size or self._bytes > self.MAX_BATCH_BYTES:
            self._send_full(size)

    def write_batch(self, values: Iterable[T]) -> None:
        """Buffers the values in order, as :meth:`write` each; full batches
        are sent."""
        append = self._append
        batch_size = self._batch_size
        max_bytes = self.MAX_BATCH_BYTES
        for value in values:
            # _send_full replaces the batch: look it up for every value.
            records = self._records
            size = append(value, records)
            self._bytes += size
            if len(records) >= batch_size or self._bytes > max_bytes:
                self._send_full(size)

    def _send_full(self, last_size: int) -> None:
        """Sends the batch that the last record (of size estimate last_size)
        filled. When that record took it past MAX_BATCH_BYTES, the batch goes
        without it, and it starts the next one (sent at once if it is larger
        than MAX_BATCH_BYTES on its own)."""
        records = self._records
        if self._bytes <= self.MAX_BATCH_BYTES or len(records) == 1:
            self.flush()
            return
        last = sink_pb2.SinkRecord()
        last.CopyFrom(records[-1])
        del records[-1]
        self.flush()
        self._records.add().CopyFrom(last)
        self._bytes = last_size
        if last_size > self.MAX_BATCH_BYTES:
            self.flush()

    def flush(self, consumed_offsets: Optional[Tuple[str, Mapping[Tuple[str, int], int]]] = None) -> None:
        """Sends the buffered records (without waiting for Kafka).

        ``consumed_offsets`` is ``(group_id, {(topic, partition): next_offset})``:
        source offsets to commit inside the open transaction (EXACTLY_ONCE
        only), so that output and input progress commit atomically and a
        source opened with ``committed_offsets`` resumes after the last
        committed transaction, with no client state at all."""
        if not self._records and consumed_offsets is None:
            self._stream._check()
            return
        self._sequence += 1
        request = self._request
        batch = request.records
        if consumed_offsets is not None:
            group, offsets = consumed_offsets
            consumed = sink_pb2.ConsumedOffsets(group_id=group)
            for (topic, partition), offset in sorted(offsets.items()):
                consumed.offsets.add(topic=topic, partition=partition, offset=offset)
            batch.consumed_offsets.CopyFrom(consumed)
        batch.sequence = self._sequence
        self._request = sink_pb2.WriteRequest()
        self._records = self._request.records.records
        self._bytes = 0
        self._stream.send(request)

    def _await(self, kind: str, what: str) -> sink_pb2.WriteResponse:
        while True:
            msg = self._stream.recv(self._timeout)
            if msg is None:
                raise FerryError(grpc.StatusCode.INTERNAL, f"stream ended OK while waiting for {what}")
            if msg.WhichOneof("kind") == kind:
                return msg

    def prepare(self, checkpoint_id: int) -> Optional[sink_pb2.SinkState]:
        """Checkpoints: flushes and waits for the server. Under EXACTLY_ONCE
        returns the prepared state (every transaction not committed yet); under
        NONE and AT_LEAST_ONCE returns None (AT_LEAST_ONCE has then been
        acknowledged by Kafka)."""
        self.flush()
        self._stream.send(
            sink_pb2.WriteRequest(checkpoint=common_pb2.Checkpoint(checkpoint_id=checkpoint_id))
        )
        if self._exactly_once:
            msg = self._await("prepared", f"prepared({checkpoint_id})")
            return msg.prepared.state
        msg = self._await("flushed", f"flushed({checkpoint_id})")
        self.records_written = msg.flushed.records_written
        return None

    def commit(self, checkpoint_id: int) -> None:
        """EXACTLY_ONCE: commits every prepared transaction up to checkpoint_id
        and waits for it. A no-op under other guarantees."""
        if not self._exactly_once:
            return
        self._stream.send(
            sink_pb2.WriteRequest(commit=sink_pb2.CommitCheckpoint(checkpoint_id=checkpoint_id))
        )
        self._await("committed", f"committed({checkpoint_id})")

    def close(self) -> int:
        """Flushes, closes the session and returns the records Kafka
        acknowledged. Under EXACTLY_ONCE the open transaction is aborted and
        prepared ones stay for a commit after a restore."""
        if self._closed:
            return self.records_written
        self._closed = True
        try:
            self.flush()
            self._stream.send(sink_pb2.WriteRequest(close=common_pb2.Close()))
            msg = self._await("closed", "closed")
            self.records_written = msg.closed.records_written
            self._stream.half_close()
            while self._stream.recv(self._timeout if self._timeout is not None else 30.0) is not None:
                pass
        finally:
            self._stream.cancel()
            if self._owns_channel:
                self._channel.close()
        return self.records_written

    def __enter__(self) -> "SinkWriter[T]":
        return self

    def __exit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException], tb: Any) -> None:
        if exc_type is None:
            self.close()
        else:
            self._closed = True
            self._stream.cancel()
            if self._owns_channel:
                self._channel.close()
