"""Where splits start and stop (Flink's OffsetsInitializer and OffsetResetStrategy)."""

from __future__ import annotations

import enum
from typing import Mapping, Tuple

from ferry.v1 import common_pb2, source_pb2


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
