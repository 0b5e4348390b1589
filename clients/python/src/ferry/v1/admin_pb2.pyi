from ferry.v1 import sink_pb2 as _sink_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SessionKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SESSION_KIND_UNSPECIFIED: _ClassVar[SessionKind]
    SESSION_KIND_SOURCE: _ClassVar[SessionKind]
    SESSION_KIND_SINK: _ClassVar[SessionKind]
SESSION_KIND_UNSPECIFIED: SessionKind
SESSION_KIND_SOURCE: SessionKind
SESSION_KIND_SINK: SessionKind

class ListSessionsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListSessionsResponse(_message.Message):
    __slots__ = ("sessions",)
    SESSIONS_FIELD_NUMBER: _ClassVar[int]
    sessions: _containers.RepeatedCompositeFieldContainer[SessionInfo]
    def __init__(self, sessions: _Optional[_Iterable[_Union[SessionInfo, _Mapping]]] = ...) -> None: ...

class SessionInfo(_message.Message):
    __slots__ = ("session_id", "kind", "principal", "client_address", "cluster", "subscription", "group_id", "delivery_guarantee", "splits", "last_checkpoint_id", "last_checkpoint_age_ms", "open_transactional_ids", "opened_at_ms", "error")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    PRINCIPAL_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_FIELD_NUMBER: _ClassVar[int]
    SUBSCRIPTION_FIELD_NUMBER: _ClassVar[int]
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    DELIVERY_GUARANTEE_FIELD_NUMBER: _ClassVar[int]
    SPLITS_FIELD_NUMBER: _ClassVar[int]
    LAST_CHECKPOINT_ID_FIELD_NUMBER: _ClassVar[int]
    LAST_CHECKPOINT_AGE_MS_FIELD_NUMBER: _ClassVar[int]
    OPEN_TRANSACTIONAL_IDS_FIELD_NUMBER: _ClassVar[int]
    OPENED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    kind: SessionKind
    principal: str
    client_address: str
    cluster: str
    subscription: str
    group_id: str
    delivery_guarantee: _sink_pb2.DeliveryGuarantee
    splits: _containers.RepeatedCompositeFieldContainer[SplitInfo]
    last_checkpoint_id: int
    last_checkpoint_age_ms: int
    open_transactional_ids: _containers.RepeatedScalarFieldContainer[str]
    opened_at_ms: int
    error: str
    def __init__(self, session_id: _Optional[str] = ..., kind: _Optional[_Union[SessionKind, str]] = ..., principal: _Optional[str] = ..., client_address: _Optional[str] = ..., cluster: _Optional[str] = ..., subscription: _Optional[str] = ..., group_id: _Optional[str] = ..., delivery_guarantee: _Optional[_Union[_sink_pb2.DeliveryGuarantee, str]] = ..., splits: _Optional[_Iterable[_Union[SplitInfo, _Mapping]]] = ..., last_checkpoint_id: _Optional[int] = ..., last_checkpoint_age_ms: _Optional[int] = ..., open_transactional_ids: _Optional[_Iterable[str]] = ..., opened_at_ms: _Optional[int] = ..., error: _Optional[str] = ...) -> None: ...

class SplitInfo(_message.Message):
    __slots__ = ("topic", "partition", "current_offset", "committed_offset", "end_offset", "lag")
    TOPIC_FIELD_NUMBER: _ClassVar[int]
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    CURRENT_OFFSET_FIELD_NUMBER: _ClassVar[int]
    COMMITTED_OFFSET_FIELD_NUMBER: _ClassVar[int]
    END_OFFSET_FIELD_NUMBER: _ClassVar[int]
    LAG_FIELD_NUMBER: _ClassVar[int]
    topic: str
    partition: int
    current_offset: int
    committed_offset: int
    end_offset: int
    lag: int
    def __init__(self, topic: _Optional[str] = ..., partition: _Optional[int] = ..., current_offset: _Optional[int] = ..., committed_offset: _Optional[int] = ..., end_offset: _Optional[int] = ..., lag: _Optional[int] = ...) -> None: ...
