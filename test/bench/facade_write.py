"""AT_LEAST_ONCE writes through ferry with the Python client's Flink-style
facade (ferry.KafkaSink), for `make bench` (protocol in benchproto.py):
FERRY_BENCH_WARMUPS writes of FERRY_BENCH_WARMUP_N records into
FERRY_BENCH_WARMUP_TOPIC first, then the line `timed`, the measured write of
FERRY_BENCH_N records into FERRY_BENCH_TOPIC, and last `records=N bytes=B
seconds=S cpu=C cold_seconds=X`. N is the writer's records_written after
close (ferry's closed answer), S runs from opening the writer (its own
channel, as with set_ferry_address) to the end of its close; X is the time of the first write in
the process, a warm-up of FERRY_BENCH_WARMUP_N records when there are
warm-ups.

Environment: FERRY_ADDR, FERRY_BENCH_TOPIC, FERRY_BENCH_N,
FERRY_BENCH_VALUE_SIZE, FERRY_BENCH_BATCH (the sink's set_batch_size, records
per WriteBatch message, default 1000 as the stub clients send),
FERRY_BENCH_WARMUPS (default 0), FERRY_BENCH_WARMUP_TOPIC (required with
warm-ups), FERRY_BENCH_WARMUP_N (default FERRY_BENCH_N).

This is what a user writes: one ``write`` per value (the writer buffers them
and sends a batch when it is full), raw bytes through RawBytesSchema; each
record is serialized into a new SinkRecord, unlike the stub client's batches
built once.
"""

from __future__ import annotations

import os
from typing import Tuple

import benchproto
import ferry
from ferry import DeliveryGuarantee, KafkaRecordSerializationSchema, RawBytesSchema


def build_sink(addr: str, topic: str, batch: int) -> "ferry.KafkaSink[bytes]":
    return (ferry.KafkaSink.builder()
            .set_ferry_address(addr)
            .set_record_serializer(KafkaRecordSerializationSchema.builder()
                                   .set_topic(topic)
                                   .set_value_serialization_schema(RawBytesSchema())
                                   .build())
            .set_delivery_guarantee(DeliveryGuarantee.AT_LEAST_ONCE)
            .set_batch_size(batch)
            .build())


def write(sink: "ferry.KafkaSink[bytes]", n: int, value: bytes) -> Tuple[int, int]:
    """Writes n records; returns (records close counted, value bytes written)."""
    with sink.open() as writer:
        for _ in range(n):
            writer.write(value)
    # Leaving the block closed the writer: it flushed and waited for ferry's closed answer.
    return writer.records_written, n * len(value)


def main() -> None:
    addr = os.environ["FERRY_ADDR"]
    n = int(os.environ["FERRY_BENCH_N"])
    value = os.urandom(int(os.environ["FERRY_BENCH_VALUE_SIZE"]))
    batch = int(os.environ.get("FERRY_BENCH_BATCH", "1000"))
    topic = os.environ["FERRY_BENCH_TOPIC"]
    warm_topic = os.environ.get("FERRY_BENCH_WARMUP_TOPIC", "")
    warm_n = int(os.environ.get("FERRY_BENCH_WARMUP_N", str(n)))
    if benchproto.warmups() > 0 and not warm_topic:
        raise SystemExit("FERRY_BENCH_WARMUP_TOPIC is required with FERRY_BENCH_WARMUPS > 0")
    warm_sink = build_sink(addr, warm_topic, batch) if warm_topic else None
    sink = build_sink(addr, topic, batch)

    def warmup() -> Tuple[int, int]:
        assert warm_sink is not None
        return write(warm_sink, warm_n, value)

    benchproto.main(warmup, lambda: write(sink, n, value))


if __name__ == "__main__":
    main()
