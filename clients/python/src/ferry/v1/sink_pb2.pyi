from ferry.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DeliveryGuarantee(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DELIVERY_GUARANTEE_UNSPECIFIED: _ClassVar[DeliveryGuarantee]
    DELIVERY_GUARANTEE_NONE: _ClassVar[DeliveryGuarantee]
    DELIVERY_GUARANTEE_AT_LEAST_ONCE: _ClassVar[DeliveryGuarantee]
    DELIVERY_GUARANTEE_EXACTLY_ONCE: _ClassVar[DeliveryGuarantee]

class Partitioner(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PARTITIONER_UNSPECIFIED: _ClassVar[Partitioner]
    PARTITIONER_DEFAULT: _ClassVar[Partitioner]
    PARTITIONER_FIXED: _ClassVar[Partitioner]
    PARTITIONER_ROUND_ROBIN: _ClassVar[Partitioner]
DELIVERY_GUARANTEE_UNSPECIFIED: DeliveryGuarantee
DELIVERY_GUARANTEE_NONE: DeliveryGuarantee
DELIVERY_GUARANTEE_AT_LEAST_ONCE: DeliveryGuarantee
DELIVERY_GUARANTEE_EXACTLY_ONCE: DeliveryGuarantee
PARTITIONER_UNSPECIFIED: Partitioner
PARTITIONER_DEFAULT: Partitioner
PARTITIONER_FIXED: Partitioner
PARTITIONER_ROUND_ROBIN: Partitioner

class SinkSpec(_message.Message):
    __slots__ = ("cluster", "delivery_guarantee", "transactional_id_prefix", "default_topic", "partitioner", "properties")
    class PropertiesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    CLUSTER_FIELD_NUMBER: _ClassVar[int]
    DELIVERY_GUARANTEE_FIELD_NUMBER: _ClassVar[int]
    TRANSACTIONAL_ID_PREFIX_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_TOPIC_FIELD_NUMBER: _ClassVar[int]
    PARTITIONER_FIELD_NUMBER: _ClassVar[int]
    PROPERTIES_FIELD_NUMBER: _ClassVar[int]
    cluster: _common_pb2.Cluster
    delivery_guarantee: DeliveryGuarantee
    transactional_id_prefix: str
    default_topic: str
    partitioner: Partitioner
    properties: _containers.ScalarMap[str, str]
    def __init__(self, cluster: _Optional[_Union[_common_pb2.Cluster, _Mapping]] = ..., delivery_guarantee: _Optional[_Union[DeliveryGuarantee, str]] = ..., transactional_id_prefix: _Optional[str] = ..., default_topic: _Optional[str] = ..., partitioner: _Optional[_Union[Partitioner, str]] = ..., properties: _Optional[_Mapping[str, str]] = ...) -> None: ...

class SinkRecord(_message.Message):
    __slots__ = ("topic", "partition", "key", "value", "headers", "timestamp_ms")
    TOPIC_FIELD_NUMBER: _ClassVar[int]
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    HEADERS_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_MS_FIELD_NUMBER: _ClassVar[int]
    topic: str
    partition: int
    key: bytes
    value: bytes
    headers: _containers.RepeatedCompositeFieldContainer[_common_pb2.Header]
    timestamp_ms: int
    def __init__(self, topic: _Optional[str] = ..., partition: _Optional[int] = ..., key: _Optional[bytes] = ..., value: _Optional[bytes] = ..., headers: _Optional[_Iterable[_Union[_common_pb2.Header, _Mapping]]] = ..., timestamp_ms: _Optional[int] = ...) -> None: ...

class ConsumedOffsets(_message.Message):
    __slots__ = ("group_id", "offsets")
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    OFFSETS_FIELD_NUMBER: _ClassVar[int]
    group_id: str
    offsets: _containers.RepeatedCompositeFieldContainer[_common_pb2.PartitionOffset]
    def __init__(self, group_id: _Optional[str] = ..., offsets: _Optional[_Iterable[_Union[_common_pb2.PartitionOffset, _Mapping]]] = ...) -> None: ...

class PreparedTransaction(_message.Message):
    __slots__ = ("transactional_id", "producer_id", "producer_epoch", "checkpoint_id", "transaction_version")
    TRANSACTIONAL_ID_FIELD_NUMBER: _ClassVar[int]
    PRODUCER_ID_FIELD_NUMBER: _ClassVar[int]
    PRODUCER_EPOCH_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_ID_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_VERSION_FIELD_NUMBER: _ClassVar[int]
    transactional_id: str
    producer_id: int
    producer_epoch: int
    checkpoint_id: int
    transaction_version: int
    def __init__(self, transactional_id: _Optional[str] = ..., producer_id: _Optional[int] = ..., producer_epoch: _Optional[int] = ..., checkpoint_id: _Optional[int] = ..., transaction_version: _Optional[int] = ...) -> None: ...

class SinkState(_message.Message):
    __slots__ = ("transactions",)
    TRANSACTIONS_FIELD_NUMBER: _ClassVar[int]
    transactions: _containers.RepeatedCompositeFieldContainer[PreparedTransaction]
    def __init__(self, transactions: _Optional[_Iterable[_Union[PreparedTransaction, _Mapping]]] = ...) -> None: ...

class OpenSink(_message.Message):
    __slots__ = ("spec", "writer_index", "parallelism", "restore", "job")
    SPEC_FIELD_NUMBER: _ClassVar[int]
    WRITER_INDEX_FIELD_NUMBER: _ClassVar[int]
    PARALLELISM_FIELD_NUMBER: _ClassVar[int]
    RESTORE_FIELD_NUMBER: _ClassVar[int]
    JOB_FIELD_NUMBER: _ClassVar[int]
    spec: SinkSpec
    writer_index: int
    parallelism: int
    restore: SinkState
    job: _common_pb2.JobCheckpoints
    def __init__(self, spec: _Optional[_Union[SinkSpec, _Mapping]] = ..., writer_index: _Optional[int] = ..., parallelism: _Optional[int] = ..., restore: _Optional[_Union[SinkState, _Mapping]] = ..., job: _Optional[_Union[_common_pb2.JobCheckpoints, _Mapping]] = ...) -> None: ...

class WriteBatch(_message.Message):
    __slots__ = ("sequence", "records", "consumed_offsets")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    CONSUMED_OFFSETS_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    records: _containers.RepeatedCompositeFieldContainer[SinkRecord]
    consumed_offsets: ConsumedOffsets
    def __init__(self, sequence: _Optional[int] = ..., records: _Optional[_Iterable[_Union[SinkRecord, _Mapping]]] = ..., consumed_offsets: _Optional[_Union[ConsumedOffsets, _Mapping]] = ...) -> None: ...

class CommitCheckpoint(_message.Message):
    __slots__ = ("checkpoint_id",)
    CHECKPOINT_ID_FIELD_NUMBER: _ClassVar[int]
    checkpoint_id: int
    def __init__(self, checkpoint_id: _Optional[int] = ...) -> None: ...

class WriteRequest(_message.Message):
    __slots__ = ("open", "records", "checkpoint", "commit", "close")
    OPEN_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    COMMIT_FIELD_NUMBER: _ClassVar[int]
    CLOSE_FIELD_NUMBER: _ClassVar[int]
    open: OpenSink
    records: WriteBatch
    checkpoint: _common_pb2.Checkpoint
    commit: CommitCheckpoint
    close: _common_pb2.Close
    def __init__(self, open: _Optional[_Union[OpenSink, _Mapping]] = ..., records: _Optional[_Union[WriteBatch, _Mapping]] = ..., checkpoint: _Optional[_Union[_common_pb2.Checkpoint, _Mapping]] = ..., commit: _Optional[_Union[CommitCheckpoint, _Mapping]] = ..., close: _Optional[_Union[_common_pb2.Close, _Mapping]] = ...) -> None: ...

class SinkOpened(_message.Message):
    __slots__ = ("session_id", "restored_transactions", "restored_checkpoint_id", "restore_note")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    RESTORED_TRANSACTIONS_FIELD_NUMBER: _ClassVar[int]
    RESTORED_CHECKPOINT_ID_FIELD_NUMBER: _ClassVar[int]
    RESTORE_NOTE_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    restored_transactions: int
    restored_checkpoint_id: int
    restore_note: str
    def __init__(self, session_id: _Optional[str] = ..., restored_transactions: _Optional[int] = ..., restored_checkpoint_id: _Optional[int] = ..., restore_note: _Optional[str] = ...) -> None: ...

class CheckpointFlushed(_message.Message):
    __slots__ = ("checkpoint_id", "records_written")
    CHECKPOINT_ID_FIELD_NUMBER: _ClassVar[int]
    RECORDS_WRITTEN_FIELD_NUMBER: _ClassVar[int]
    checkpoint_id: int
    records_written: int
    def __init__(self, checkpoint_id: _Optional[int] = ..., records_written: _Optional[int] = ...) -> None: ...

class Prepared(_message.Message):
    __slots__ = ("checkpoint_id", "state")
    CHECKPOINT_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    checkpoint_id: int
    state: SinkState
    def __init__(self, checkpoint_id: _Optional[int] = ..., state: _Optional[_Union[SinkState, _Mapping]] = ...) -> None: ...

class TransactionsCommitted(_message.Message):
    __slots__ = ("checkpoint_id",)
    CHECKPOINT_ID_FIELD_NUMBER: _ClassVar[int]
    checkpoint_id: int
    def __init__(self, checkpoint_id: _Optional[int] = ...) -> None: ...

class SinkClosed(_message.Message):
    __slots__ = ("records_written",)
    RECORDS_WRITTEN_FIELD_NUMBER: _ClassVar[int]
    records_written: int
    def __init__(self, records_written: _Optional[int] = ...) -> None: ...

class WriteResponse(_message.Message):
    __slots__ = ("opened", "flushed", "prepared", "committed", "closed")
    OPENED_FIELD_NUMBER: _ClassVar[int]
    FLUSHED_FIELD_NUMBER: _ClassVar[int]
    PREPARED_FIELD_NUMBER: _ClassVar[int]
    COMMITTED_FIELD_NUMBER: _ClassVar[int]
    CLOSED_FIELD_NUMBER: _ClassVar[int]
    opened: SinkOpened
    flushed: CheckpointFlushed
    prepared: Prepared
    committed: TransactionsCommitted
    closed: SinkClosed
    def __init__(self, opened: _Optional[_Union[SinkOpened, _Mapping]] = ..., flushed: _Optional[_Union[CheckpointFlushed, _Mapping]] = ..., prepared: _Optional[_Union[Prepared, _Mapping]] = ..., committed: _Optional[_Union[TransactionsCommitted, _Mapping]] = ..., closed: _Optional[_Union[SinkClosed, _Mapping]] = ...) -> None: ...
