from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class CompleteCheckpointRequest(_message.Message):
    __slots__ = ("job", "checkpoint_id", "cluster")
    JOB_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_ID_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_FIELD_NUMBER: _ClassVar[int]
    job: str
    checkpoint_id: int
    cluster: str
    def __init__(self, job: _Optional[str] = ..., checkpoint_id: _Optional[int] = ..., cluster: _Optional[str] = ...) -> None: ...

class CompleteCheckpointResponse(_message.Message):
    __slots__ = ("checkpoint_id", "operators")
    class OperatorsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    CHECKPOINT_ID_FIELD_NUMBER: _ClassVar[int]
    OPERATORS_FIELD_NUMBER: _ClassVar[int]
    checkpoint_id: int
    operators: _containers.ScalarMap[str, int]
    def __init__(self, checkpoint_id: _Optional[int] = ..., operators: _Optional[_Mapping[str, int]] = ...) -> None: ...
