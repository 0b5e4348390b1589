"""What a reader yields: records (:class:`KafkaRecord`), the source events,
and the converters from wire records."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Generic, List, NamedTuple, Optional, Tuple, TypeVar, Union

from ferry.v1 import common_pb2

T = TypeVar("T")


class KafkaTopicPartition(NamedTuple):
    """A partition of a topic (PyFlink's KafkaTopicPartition). A tuple
    ``(topic, partition)``, so it equals, hashes and sorts like one: a set of
    them, or of plain tuples, goes to ``set_partitions``, and either keys the
    mapping of ``KafkaOffsetsInitializer.offsets``."""

    topic: str
    partition: int


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
