"""What a reader yields: records (:class:`KafkaRecord`), the source events,
and the converters from wire records."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Callable, Generic, List, NamedTuple, Optional, Tuple, TypeVar, Union

from ferry.flink.schemas import RawBytesSchema
from ferry.v1 import common_pb2

T = TypeVar("T")

_TS_TYPES = {
    common_pb2.TIMESTAMP_TYPE_CREATE_TIME: "CreateTime",
    common_pb2.TIMESTAMP_TYPE_LOG_APPEND_TIME: "LogAppendTime",
}


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
    ``__dict__``) so that readers can create one per record cheaply.

    Iterating a reader may yield records that read their fields other than
    ``value`` from the wire record when one of them is first used (the
    value is deserialized at once, so a deserializer's error still comes
    from the iteration), for loops that use the values alone. They
    compare, hash, print, pickle and copy as KafkaRecord, and
    ``isinstance(r, KafkaRecord)`` holds; only ``type(r)`` is a private
    subclass until a field is used, when the record becomes a plain
    KafkaRecord."""

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
        # The wire record of a record whose other fields are not read yet
        # (_LazyKafkaRecord); unset in every other KafkaRecord.
        "_wire",
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

    A :class:`_LazyKafkaRecord` is filled in as one of these too
    (:func:`_materialize`).
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

    def __getattr__(self, name: str) -> Any:
        # Reached only when another thread reads a field of a record that
        # _materialize is filling in, before it is filled: wait for that.
        _MATERIALIZING.acquire()
        _MATERIALIZING.release()
        if type(self) is _NewKafkaRecord:
            raise AttributeError(f"'KafkaRecord' object has no attribute '{name}'")
        return getattr(self, name)


# Unbound, these skip the bound method that protobuf's upb message makes on
# every attribute lookup (three times faster).
_HAS_FIELD: Callable[[common_pb2.Record, str], bool] = common_pb2.Record.HasField
_HEADER_HAS_FIELD: Callable[[common_pb2.Header, str], bool] = common_pb2.Header.HasField

# Sets an object's class, past the __class__ property of _LazyKafkaRecord.
_set_class: Callable[[object, type], None] = object.__dict__["__class__"].__set__

# Held while a _LazyKafkaRecord is materialized, so that it happens once.
_MATERIALIZING = threading.Lock()

# The fields of a _LazyKafkaRecord other than value, in the order of the
# tuple _materialize returns.
_LAZY_FIELDS = ("topic", "partition", "offset", "timestamp", "timestamp_type", "key", "headers", "leader_epoch")


class _LazyKafkaRecord(KafkaRecord[Any]):
    """A record yielded by a reader's iteration: its ``value`` is set, its
    other fields are read from its wire record (the ``_wire`` slot) when one
    of them is first used, which makes it a plain :class:`KafkaRecord` and
    drops the wire record (:func:`_materialize`). Until then the wire record
    keeps the whole server message it came in alive, which is why the reader
    materializes the records that are still referenced once iteration is
    past them (SourceReader._lazy_records).

    Its ``__class__`` is KafkaRecord, so that the dataclass's ``__eq__``,
    ``__repr__``, ``dataclasses.replace`` and ``__reduce__`` (pickle, copy)
    treat it as one. Frozen as KafkaRecord is. The reader creates one as a
    _MakingLazyKafkaRecord whose class it then sets to this one.
    """

    __slots__ = ()

    # As unittest.mock does it.
    __class__ = property(lambda self: KafkaRecord)


class _MakingLazyKafkaRecord(KafkaRecord[Any]):
    """What a reader creates a _LazyKafkaRecord as: called without
    arguments (object's __init__, not the dataclass's), its slots assigned
    plainly, then its class set to _LazyKafkaRecord (same layout)."""

    __slots__ = ()
    __init__ = object.__init__
    __setattr__ = object.__setattr__
    __delattr__ = object.__delattr__


def _lazy_field(index: int) -> "property":
    def get(self: KafkaRecord[Any]) -> Any:
        return _materialize(self)[index]

    name = _LAZY_FIELDS[index]
    get.__name__ = name
    return property(get, doc=f"The record's {name}, read from its wire record on first use.")


# Set here rather than in the class body, where mypy would take them for
# redefined fields.
for _index, _name in enumerate(_LAZY_FIELDS):
    setattr(_LazyKafkaRecord, _name, _lazy_field(_index))
del _index, _name


def _materialize(
    record: KafkaRecord[Any],
    *,
    _lazy: type = _LazyKafkaRecord,
    _filling: type = _NewKafkaRecord,
    _plain: type = KafkaRecord,
    _ts_type: Callable[[Any, str], str] = _TS_TYPES.get,
    _has: Callable[[common_pb2.Record, str], bool] = _HAS_FIELD,
    _acquire: Callable[[], bool] = _MATERIALIZING.acquire,
    _release: Callable[[], None] = _MATERIALIZING.release,
) -> Tuple[Any, ...]:
    """Makes a _LazyKafkaRecord a plain KafkaRecord: reads its fields from
    its wire record into its slots and drops the wire record. Returns the
    fields of _LAZY_FIELDS. (The keyword arguments are bound once, for
    speed.)

    Thread-safe: under _MATERIALIZING, a record is filled once; it is a
    _NewKafkaRecord meanwhile, and a thread that reads one of its fields not
    filled yet waits for the lock (_NewKafkaRecord.__getattr__). A record
    another thread materialized first gives the fields it got."""
    fields: Any = record
    try:
        wire = fields._wire
    except AttributeError:
        return _slot_fields(record)  # not lazy (any more)
    key = wire.key
    if not key:
        key = b"" if _has(wire, "key") else None
    headers = wire.headers
    got = (
        wire.topic,
        wire.partition,
        wire.offset,
        wire.timestamp_ms,
        _ts_type(wire.timestamp_type, ""),
        key,
        _headers(headers) if headers else [],
        wire.leader_epoch,
    )
    _acquire()
    try:
        if type(record) is not _lazy:
            return _slot_fields(record)  # another thread did it meanwhile
        _set_class(record, _filling)
        (
            fields.topic,
            fields.partition,
            fields.offset,
            fields.timestamp,
            fields.timestamp_type,
            fields.key,
            fields.headers,
            fields.leader_epoch,
        ) = got
        del fields._wire
        fields.__class__ = _plain
    finally:
        _release()
    return got


def _slot_fields(record: KafkaRecord[Any]) -> Tuple[Any, ...]:
    """The fields of _LAZY_FIELDS of a record that is not lazy."""
    return (
        record.topic,
        record.partition,
        record.offset,
        record.timestamp,
        record.timestamp_type,
        record.key,
        record.headers,
        record.leader_epoch,
    )


def _is_raw(deserialize: Callable[[Optional[bytes]], Any]) -> bool:
    """Whether deserialize is RawBytesSchema's, which returns its argument:
    the readers then skip the call."""
    return getattr(deserialize, "__func__", None) is RawBytesSchema.deserialize


def _headers(headers: Any) -> List[Tuple[str, Optional[bytes]]]:
    """The wire headers as (key, value) pairs, an absent value None."""
    has = _HEADER_HAS_FIELD
    return [(h.key, h.value or (b"" if has(h, "value") else None)) for h in headers]


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


def _record_converter(
    deserialize: Callable[[Optional[bytes]], T],
) -> Callable[[common_pb2.Record], KafkaRecord[T]]:
    """A function from a wire record to its KafkaRecord, the value deserialized.

    An absent key, value or header value is None, a present and empty one
    b"" (only an empty one needs the slower presence check).
    """
    ts_type = _TS_TYPES.get
    has = _HAS_FIELD
    new = _NewKafkaRecord
    raw = _is_raw(deserialize)

    def convert(rec: common_pb2.Record) -> KafkaRecord[T]:
        value: Any = rec.value
        if not value:
            value = b"" if has(rec, "value") else None
        key: Optional[bytes] = rec.key
        if not key:
            key = b"" if has(rec, "key") else None
        headers = rec.headers
        return new(
            rec.topic,
            rec.partition,
            rec.offset,
            rec.timestamp_ms,
            ts_type(rec.timestamp_type, ""),
            key,
            value if raw else deserialize(value),
            _headers(headers) if headers else [],
            rec.leader_epoch,
        )

    return convert


def _value_converter(deserialize: Callable[[Optional[bytes]], T]) -> Callable[[common_pb2.Record], T]:
    """A function from a wire record to its deserialized value."""
    has = _HAS_FIELD

    def convert(rec: common_pb2.Record) -> T:
        return deserialize(rec.value or (b"" if has(rec, "value") else None))

    def raw(rec: common_pb2.Record) -> Any:
        return rec.value or (b"" if has(rec, "value") else None)

    return raw if _is_raw(deserialize) else convert
