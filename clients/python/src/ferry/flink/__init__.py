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
* Checkpoints kept by ferry: with ``set_job(job, operator)`` on both
  builders ferry stores every barrier's and every prepared state in Kafka
  before answering, :class:`JobCoordinator` completes a checkpoint once for
  the whole job (``complete``, or ``checkpoint`` for barriers, prepares and
  completion in one call), and a reader or writer opened again resumes from
  the newest completed checkpoint (``restored_checkpoint_id``), on any
  ferry. The client keeps no state.
* A stream that fails raises :class:`FerryError` with the gRPC status code
  and message. ``build()`` checks what Flink's ``build()`` checks, with
  Flink's messages (ValueError): a subscription (one only), a group id where
  offsets are committed or read, a transactional id prefix for EXACTLY_ONCE,
  a record serializer; the server checks the rest (``INVALID_ARGUMENT`` when
  the source or sink is opened).
* The ferry server: ``set_ferry_address`` or ``set_channel``, else
  ``$FERRY_ADDRESS``, else ``127.0.0.1:50051``.
* PyFlink's names: ``KafkaTopicPartition``, ``KafkaOffsetsInitializer``,
  ``KafkaOffsetResetStrategy``, ``SimpleStringSchema``, ``Duration``,
  ``set_client_id_prefix``, ..., so that a PyFlink program's Kafka I/O ports
  by changing its imports to ``ferry.flink``.

The package's modules: :mod:`~ferry.flink.source` and
:mod:`~ferry.flink.sink` (the builders and the sessions),
:mod:`~ferry.flink.records` (records and events),
:mod:`~ferry.flink.jobs` (the coordinator of checkpoints kept by ferry),
:mod:`~ferry.flink.schemas`, :mod:`~ferry.flink.offsets`,
:mod:`~ferry.flink.watermarks`, :mod:`~ferry.flink.errors`, and the
stream machinery they share in ``_stream``. Import from ``ferry.flink``.
"""

from __future__ import annotations

from typing import TypeVar

from ferry.flink.errors import FerryError
from ferry.flink.jobs import CompletedCheckpoint, JobCoordinator
from ferry.flink.offsets import KafkaOffsetResetStrategy, KafkaOffsetsInitializer
from ferry.flink.records import (
    IdleEvent,
    KafkaRecord,
    KafkaTopicPartition,
    OffsetsCommittedEvent,
    SourceEvent,
    SplitFinishedEvent,
    SplitsAddedEvent,
    WatermarkEvent,
)
from ferry.flink.schemas import (
    DeserializationSchema,
    JsonSchema,
    RawBytesSchema,
    SerializationSchema,
    SimpleStringSchema,
)
from ferry.flink.sink import (
    DeliveryGuarantee,
    KafkaRecordSerializationSchema,
    KafkaRecordSerializationSchemaBuilder,
    KafkaSink,
    KafkaSinkBuilder,
    SinkWriter,
    TransactionNamingStrategy,
)
from ferry.flink.source import KafkaSource, KafkaSourceBuilder, SourceReader
from ferry.flink.watermarks import Duration, WatermarkStrategy
from ferry.v1 import sink_pb2, source_pb2

__all__ = [
    "CompletedCheckpoint",
    "DeliveryGuarantee",
    "DeserializationSchema",
    "Duration",
    "FerryError",
    "IdleEvent",
    "JobCoordinator",
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
    "KafkaTopicPartition",
    "OffsetsCommittedEvent",
    "RawBytesSchema",
    "SerializationSchema",
    "SimpleStringSchema",
    "SinkWriter",
    "SourceEvent",
    "SourceReader",
    "SplitFinishedEvent",
    "SplitsAddedEvent",
    "TransactionNamingStrategy",
    "WatermarkEvent",
    "WatermarkStrategy",
]

SourceState = source_pb2.SourceState
SinkState = sink_pb2.SinkState

# The type variables ferry.flink had when it was one module.
T = TypeVar("T")
U = TypeVar("U")
T_co = TypeVar("T_co", covariant=True)
T_contra = TypeVar("T_contra", contravariant=True)
Req = TypeVar("Req")
Resp = TypeVar("Resp")

# The classes keep the module name they had when ferry.flink was one module,
# so that pickles (KafkaRecord is picklable), reprs and tracebacks still name
# ferry.flink.X, and records pickled by either version load in the other.
for _name in __all__:
    _obj = globals()[_name]
    if isinstance(_obj, type):
        _obj.__module__ = __name__
del _name, _obj
