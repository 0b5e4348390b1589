"""Stand-ins for PyFlink's runtime in the Flink document's snippets (test
code, not part of ferry): ferry has no job runtime, so ``env.from_source``
runs the source at once and ``stream.sink_to`` writes at once. What they did
is noted in :data:`NOTES`, which ``test_flink_doc.py`` checks."""

from __future__ import annotations

from typing import Any, Generic, Iterable, List, TypeVar

from ferry.flink import KafkaSink, KafkaSource, WatermarkStrategy

T = TypeVar("T")

IDLE_S = 2.0
"""from_source stops after no record came this long (an unbounded source
never ends by itself)."""
MAX_RECORDS = 10_000
"""from_source stops after this many records."""

NOTES: List[str] = []
"""What the stand-ins did, in order."""


class DataStream(Generic[T]):
    """A finite list of elements (Flink's DataStream, as far as the
    document's snippets use it)."""

    def __init__(self, elements: Iterable[T]) -> None:
        self.elements = list(elements)

    def sink_to(self, sink: KafkaSink[T]) -> None:
        """Writes the elements through one writer of the sink, takes one
        checkpoint as Flink would (under AT_LEAST_ONCE it waits until Kafka
        acknowledged every record; under EXACTLY_ONCE it pre-commits, then
        commits) and closes the writer."""
        with sink.open(timeout=30) as writer:
            writer.write_batch(self.elements)
            writer.prepare(1)
            writer.commit(1)
            written = writer.close()
        NOTES.append(f"stream.sink_to(sink): {len(self.elements)} elements, Kafka acknowledged {written}")


class StreamExecutionEnvironment:
    """Flink's environment, reduced to what the snippets call."""

    @staticmethod
    def get_execution_environment() -> "StreamExecutionEnvironment":
        return StreamExecutionEnvironment()

    def from_source(
        self, source: KafkaSource[T], watermark_strategy: WatermarkStrategy, source_name: str
    ) -> DataStream[T]:
        """Opens one reader of the source with the watermark strategy
        (:meth:`KafkaSource.with_watermark_strategy`), takes records until
        none came for :data:`IDLE_S` or :data:`MAX_RECORDS` came, and closes
        it; the records' values are the stream's elements."""
        values: List[T] = []
        with source.with_watermark_strategy(watermark_strategy).open(timeout=30) as reader:
            while len(values) < MAX_RECORDS:
                records = reader.poll(500, timeout=IDLE_S)
                if not records:
                    break
                values.extend(r.value for r in records)
        NOTES.append(f'env.from_source("{source_name}"): read {len(values)} records')
        return DataStream(values)

    def from_collection(self, collection: Iterable[Any]) -> DataStream[Any]:
        return DataStream(collection)
