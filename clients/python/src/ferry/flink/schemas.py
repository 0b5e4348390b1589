"""Value schemas: how record bytes become Python values and back (Flink's
DeserializationSchema and SerializationSchema)."""

from __future__ import annotations

import json
from typing import Any, Optional, Protocol, TypeVar, cast

T_co = TypeVar("T_co", covariant=True)
T_contra = TypeVar("T_contra", contravariant=True)


class DeserializationSchema(Protocol[T_co]):
    """Turns a record value (None for a tombstone) into a Python value."""

    def deserialize(self, data: Optional[bytes]) -> T_co: ...


class SerializationSchema(Protocol[T_contra]):
    """Turns a Python value into record bytes (None writes a null)."""

    def serialize(self, value: T_contra) -> Optional[bytes]: ...


class SimpleStringSchema:
    """UTF-8 strings (Flink's SimpleStringSchema).

    It is typed ``str``, as Flink's is ``DeserializationSchema<String>``, so
    a source with it is a ``KafkaSource[str]``. A tombstone (a record
    without a value) still gives None, as Java's gives null (Flink's own
    fails on one): check ``record.value is None`` where a topic has them."""

    def __init__(self, encoding: str = "utf-8") -> None:
        self.encoding = encoding

    def deserialize(self, data: Optional[bytes]) -> str:
        # None for a tombstone, which the str type does not say (see above).
        return cast(str, None) if data is None else data.decode(self.encoding)

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
