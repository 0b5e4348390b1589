from ferry.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Boundedness(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BOUNDEDNESS_UNSPECIFIED: _ClassVar[Boundedness]
    BOUNDEDNESS_CONTINUOUS_UNBOUNDED: _ClassVar[Boundedness]
    BOUNDEDNESS_BOUNDED: _ClassVar[Boundedness]

class OffsetResetStrategy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OFFSET_RESET_STRATEGY_UNSPECIFIED: _ClassVar[OffsetResetStrategy]
    OFFSET_RESET_STRATEGY_NONE: _ClassVar[OffsetResetStrategy]
    OFFSET_RESET_STRATEGY_EARLIEST: _ClassVar[OffsetResetStrategy]
    OFFSET_RESET_STRATEGY_LATEST: _ClassVar[OffsetResetStrategy]

class WatermarkKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    WATERMARK_KIND_UNSPECIFIED: _ClassVar[WatermarkKind]
    WATERMARK_KIND_NONE: _ClassVar[WatermarkKind]
    WATERMARK_KIND_MONOTONOUS: _ClassVar[WatermarkKind]
    WATERMARK_KIND_BOUNDED_OUT_OF_ORDERNESS: _ClassVar[WatermarkKind]
BOUNDEDNESS_UNSPECIFIED: Boundedness
BOUNDEDNESS_CONTINUOUS_UNBOUNDED: Boundedness
BOUNDEDNESS_BOUNDED: Boundedness
OFFSET_RESET_STRATEGY_UNSPECIFIED: OffsetResetStrategy
OFFSET_RESET_STRATEGY_NONE: OffsetResetStrategy
OFFSET_RESET_STRATEGY_EARLIEST: OffsetResetStrategy
OFFSET_RESET_STRATEGY_LATEST: OffsetResetStrategy
WATERMARK_KIND_UNSPECIFIED: WatermarkKind
WATERMARK_KIND_NONE: WatermarkKind
WATERMARK_KIND_MONOTONOUS: WatermarkKind
WATERMARK_KIND_BOUNDED_OUT_OF_ORDERNESS: WatermarkKind

class SourceSpec(_message.Message):
    __slots__ = ("cluster", "topics", "topic_pattern", "partitions", "group_id", "starting_offsets", "boundedness", "stopping_offsets", "properties", "watermark_strategy")
    class PropertiesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    CLUSTER_FIELD_NUMBER: _ClassVar[int]
    TOPICS_FIELD_NUMBER: _ClassVar[int]
    TOPIC_PATTERN_FIELD_NUMBER: _ClassVar[int]
    PARTITIONS_FIELD_NUMBER: _ClassVar[int]
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    STARTING_OFFSETS_FIELD_NUMBER: _ClassVar[int]
    BOUNDEDNESS_FIELD_NUMBER: _ClassVar[int]
    STOPPING_OFFSETS_FIELD_NUMBER: _ClassVar[int]
    PROPERTIES_FIELD_NUMBER: _ClassVar[int]
    WATERMARK_STRATEGY_FIELD_NUMBER: _ClassVar[int]
    cluster: _common_pb2.Cluster
    topics: TopicList
    topic_pattern: str
    partitions: PartitionSet
    group_id: str
    starting_offsets: OffsetsInitializer
    boundedness: Boundedness
    stopping_offsets: OffsetsInitializer
    properties: _containers.ScalarMap[str, str]
    watermark_strategy: WatermarkStrategy
    def __init__(self, cluster: _Optional[_Union[_common_pb2.Cluster, _Mapping]] = ..., topics: _Optional[_Union[TopicList, _Mapping]] = ..., topic_pattern: _Optional[str] = ..., partitions: _Optional[_Union[PartitionSet, _Mapping]] = ..., group_id: _Optional[str] = ..., starting_offsets: _Optional[_Union[OffsetsInitializer, _Mapping]] = ..., boundedness: _Optional[_Union[Boundedness, str]] = ..., stopping_offsets: _Optional[_Union[OffsetsInitializer, _Mapping]] = ..., properties: _Optional[_Mapping[str, str]] = ..., watermark_strategy: _Optional[_Union[WatermarkStrategy, _Mapping]] = ...) -> None: ...

class TopicList(_message.Message):
    __slots__ = ("topics",)
    TOPICS_FIELD_NUMBER: _ClassVar[int]
    topics: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, topics: _Optional[_Iterable[str]] = ...) -> None: ...

class PartitionSet(_message.Message):
    __slots__ = ("partitions",)
    PARTITIONS_FIELD_NUMBER: _ClassVar[int]
    partitions: _containers.RepeatedCompositeFieldContainer[_common_pb2.TopicPartition]
    def __init__(self, partitions: _Optional[_Iterable[_Union[_common_pb2.TopicPartition, _Mapping]]] = ...) -> None: ...

class OffsetsInitializer(_message.Message):
    __slots__ = ("earliest", "latest", "committed", "timestamp_ms", "specific")
    class Earliest(_message.Message):
        __slots__ = ()
        def __init__(self) -> None: ...
    class Latest(_message.Message):
        __slots__ = ()
        def __init__(self) -> None: ...
    class Committed(_message.Message):
        __slots__ = ("reset_strategy",)
        RESET_STRATEGY_FIELD_NUMBER: _ClassVar[int]
        reset_strategy: OffsetResetStrategy
        def __init__(self, reset_strategy: _Optional[_Union[OffsetResetStrategy, str]] = ...) -> None: ...
    class Specific(_message.Message):
        __slots__ = ("offsets", "reset_strategy")
        OFFSETS_FIELD_NUMBER: _ClassVar[int]
        RESET_STRATEGY_FIELD_NUMBER: _ClassVar[int]
        offsets: _containers.RepeatedCompositeFieldContainer[_common_pb2.PartitionOffset]
        reset_strategy: OffsetResetStrategy
        def __init__(self, offsets: _Optional[_Iterable[_Union[_common_pb2.PartitionOffset, _Mapping]]] = ..., reset_strategy: _Optional[_Union[OffsetResetStrategy, str]] = ...) -> None: ...
    EARLIEST_FIELD_NUMBER: _ClassVar[int]
    LATEST_FIELD_NUMBER: _ClassVar[int]
    COMMITTED_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_MS_FIELD_NUMBER: _ClassVar[int]
    SPECIFIC_FIELD_NUMBER: _ClassVar[int]
    earliest: OffsetsInitializer.Earliest
    latest: OffsetsInitializer.Latest
    committed: OffsetsInitializer.Committed
    timestamp_ms: int
    specific: OffsetsInitializer.Specific
    def __init__(self, earliest: _Optional[_Union[OffsetsInitializer.Earliest, _Mapping]] = ..., latest: _Optional[_Union[OffsetsInitializer.Latest, _Mapping]] = ..., committed: _Optional[_Union[OffsetsInitializer.Committed, _Mapping]] = ..., timestamp_ms: _Optional[int] = ..., specific: _Optional[_Union[OffsetsInitializer.Specific, _Mapping]] = ...) -> None: ...

class WatermarkStrategy(_message.Message):
    __slots__ = ("kind", "max_out_of_orderness_ms", "idle_timeout_ms")
    KIND_FIELD_NUMBER: _ClassVar[int]
    MAX_OUT_OF_ORDERNESS_MS_FIELD_NUMBER: _ClassVar[int]
    IDLE_TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    kind: WatermarkKind
    max_out_of_orderness_ms: int
    idle_timeout_ms: int
    def __init__(self, kind: _Optional[_Union[WatermarkKind, str]] = ..., max_out_of_orderness_ms: _Optional[int] = ..., idle_timeout_ms: _Optional[int] = ...) -> None: ...

class SplitState(_message.Message):
    __slots__ = ("topic", "partition", "next_offset", "stopping_offset")
    TOPIC_FIELD_NUMBER: _ClassVar[int]
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    NEXT_OFFSET_FIELD_NUMBER: _ClassVar[int]
    STOPPING_OFFSET_FIELD_NUMBER: _ClassVar[int]
    topic: str
    partition: int
    next_offset: int
    stopping_offset: int
    def __init__(self, topic: _Optional[str] = ..., partition: _Optional[int] = ..., next_offset: _Optional[int] = ..., stopping_offset: _Optional[int] = ...) -> None: ...

class SourceState(_message.Message):
    __slots__ = ("splits",)
    SPLITS_FIELD_NUMBER: _ClassVar[int]
    splits: _containers.RepeatedCompositeFieldContainer[SplitState]
    def __init__(self, splits: _Optional[_Iterable[_Union[SplitState, _Mapping]]] = ...) -> None: ...

class OpenSource(_message.Message):
    __slots__ = ("spec", "reader_index", "parallelism", "restore", "job")
    SPEC_FIELD_NUMBER: _ClassVar[int]
    READER_INDEX_FIELD_NUMBER: _ClassVar[int]
    PARALLELISM_FIELD_NUMBER: _ClassVar[int]
    RESTORE_FIELD_NUMBER: _ClassVar[int]
    JOB_FIELD_NUMBER: _ClassVar[int]
    spec: SourceSpec
    reader_index: int
    parallelism: int
    restore: SourceState
    job: _common_pb2.JobCheckpoints
    def __init__(self, spec: _Optional[_Union[SourceSpec, _Mapping]] = ..., reader_index: _Optional[int] = ..., parallelism: _Optional[int] = ..., restore: _Optional[_Union[SourceState, _Mapping]] = ..., job: _Optional[_Union[_common_pb2.JobCheckpoints, _Mapping]] = ...) -> None: ...

class CheckpointComplete(_message.Message):
    __slots__ = ("checkpoint_id",)
    CHECKPOINT_ID_FIELD_NUMBER: _ClassVar[int]
    checkpoint_id: int
    def __init__(self, checkpoint_id: _Optional[int] = ...) -> None: ...

class ReadRequest(_message.Message):
    __slots__ = ("open", "checkpoint", "checkpoint_complete", "close")
    OPEN_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_COMPLETE_FIELD_NUMBER: _ClassVar[int]
    CLOSE_FIELD_NUMBER: _ClassVar[int]
    open: OpenSource
    checkpoint: _common_pb2.Checkpoint
    checkpoint_complete: CheckpointComplete
    close: _common_pb2.Close
    def __init__(self, open: _Optional[_Union[OpenSource, _Mapping]] = ..., checkpoint: _Optional[_Union[_common_pb2.Checkpoint, _Mapping]] = ..., checkpoint_complete: _Optional[_Union[CheckpointComplete, _Mapping]] = ..., close: _Optional[_Union[_common_pb2.Close, _Mapping]] = ...) -> None: ...

class SourceOpened(_message.Message):
    __slots__ = ("session_id", "bounded", "splits", "commit_offsets", "commit_disabled_reason", "restored_checkpoint_id", "restore_note")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    BOUNDED_FIELD_NUMBER: _ClassVar[int]
    SPLITS_FIELD_NUMBER: _ClassVar[int]
    COMMIT_OFFSETS_FIELD_NUMBER: _ClassVar[int]
    COMMIT_DISABLED_REASON_FIELD_NUMBER: _ClassVar[int]
    RESTORED_CHECKPOINT_ID_FIELD_NUMBER: _ClassVar[int]
    RESTORE_NOTE_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    bounded: bool
    splits: _containers.RepeatedCompositeFieldContainer[SplitState]
    commit_offsets: bool
    commit_disabled_reason: str
    restored_checkpoint_id: int
    restore_note: str
    def __init__(self, session_id: _Optional[str] = ..., bounded: bool = ..., splits: _Optional[_Iterable[_Union[SplitState, _Mapping]]] = ..., commit_offsets: bool = ..., commit_disabled_reason: _Optional[str] = ..., restored_checkpoint_id: _Optional[int] = ..., restore_note: _Optional[str] = ...) -> None: ...

class RecordBatch(_message.Message):
    __slots__ = ("records",)
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    records: _containers.RepeatedCompositeFieldContainer[_common_pb2.Record]
    def __init__(self, records: _Optional[_Iterable[_Union[_common_pb2.Record, _Mapping]]] = ...) -> None: ...

class Barrier(_message.Message):
    __slots__ = ("checkpoint_id", "state")
    CHECKPOINT_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    checkpoint_id: int
    state: SourceState
    def __init__(self, checkpoint_id: _Optional[int] = ..., state: _Optional[_Union[SourceState, _Mapping]] = ...) -> None: ...

class OffsetsCommitted(_message.Message):
    __slots__ = ("checkpoint_id", "error", "failed_commits")
    CHECKPOINT_ID_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    FAILED_COMMITS_FIELD_NUMBER: _ClassVar[int]
    checkpoint_id: int
    error: str
    failed_commits: int
    def __init__(self, checkpoint_id: _Optional[int] = ..., error: _Optional[str] = ..., failed_commits: _Optional[int] = ...) -> None: ...

class Watermark(_message.Message):
    __slots__ = ("timestamp_ms",)
    TIMESTAMP_MS_FIELD_NUMBER: _ClassVar[int]
    timestamp_ms: int
    def __init__(self, timestamp_ms: _Optional[int] = ...) -> None: ...

class Idle(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SplitsAdded(_message.Message):
    __slots__ = ("splits",)
    SPLITS_FIELD_NUMBER: _ClassVar[int]
    splits: _containers.RepeatedCompositeFieldContainer[SplitState]
    def __init__(self, splits: _Optional[_Iterable[_Union[SplitState, _Mapping]]] = ...) -> None: ...

class SplitFinished(_message.Message):
    __slots__ = ("topic", "partition", "stopping_offset")
    TOPIC_FIELD_NUMBER: _ClassVar[int]
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    STOPPING_OFFSET_FIELD_NUMBER: _ClassVar[int]
    topic: str
    partition: int
    stopping_offset: int
    def __init__(self, topic: _Optional[str] = ..., partition: _Optional[int] = ..., stopping_offset: _Optional[int] = ...) -> None: ...

class EndOfInput(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class KafkaStatus(_message.Message):
    __slots__ = ("available", "error", "since_ms")
    AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    SINCE_MS_FIELD_NUMBER: _ClassVar[int]
    available: bool
    error: str
    since_ms: int
    def __init__(self, available: bool = ..., error: _Optional[str] = ..., since_ms: _Optional[int] = ...) -> None: ...

class ReadResponse(_message.Message):
    __slots__ = ("opened", "records", "barrier", "committed", "watermark", "idle", "splits_added", "split_finished", "end_of_input", "kafka_status")
    OPENED_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    BARRIER_FIELD_NUMBER: _ClassVar[int]
    COMMITTED_FIELD_NUMBER: _ClassVar[int]
    WATERMARK_FIELD_NUMBER: _ClassVar[int]
    IDLE_FIELD_NUMBER: _ClassVar[int]
    SPLITS_ADDED_FIELD_NUMBER: _ClassVar[int]
    SPLIT_FINISHED_FIELD_NUMBER: _ClassVar[int]
    END_OF_INPUT_FIELD_NUMBER: _ClassVar[int]
    KAFKA_STATUS_FIELD_NUMBER: _ClassVar[int]
    opened: SourceOpened
    records: RecordBatch
    barrier: Barrier
    committed: OffsetsCommitted
    watermark: Watermark
    idle: Idle
    splits_added: SplitsAdded
    split_finished: SplitFinished
    end_of_input: EndOfInput
    kafka_status: KafkaStatus
    def __init__(self, opened: _Optional[_Union[SourceOpened, _Mapping]] = ..., records: _Optional[_Union[RecordBatch, _Mapping]] = ..., barrier: _Optional[_Union[Barrier, _Mapping]] = ..., committed: _Optional[_Union[OffsetsCommitted, _Mapping]] = ..., watermark: _Optional[_Union[Watermark, _Mapping]] = ..., idle: _Optional[_Union[Idle, _Mapping]] = ..., splits_added: _Optional[_Union[SplitsAdded, _Mapping]] = ..., split_finished: _Optional[_Union[SplitFinished, _Mapping]] = ..., end_of_input: _Optional[_Union[EndOfInput, _Mapping]] = ..., kafka_status: _Optional[_Union[KafkaStatus, _Mapping]] = ...) -> None: ...
