"""Bounded read of a topic through ferry with the Python client's Flink-style
facade (ferry.KafkaSource), for `make bench` (protocol in benchproto.py):
FERRY_BENCH_WARMUPS whole reads first, then the line `timed`, the measured
read, and last `records=N bytes=B seconds=S cpu=C cold_seconds=X`. S runs
from opening the reader (its own channel, as with set_ferry_address) to the
end of iteration and its close; X is the first read's time.

Environment: FERRY_ADDR, FERRY_BENCH_TOPIC, FERRY_BENCH_WARMUPS (default 0).

This is what a user writes: records come as KafkaRecord objects whose value is
the raw bytes (the default value deserializer, RawBytesSchema).
"""

from __future__ import annotations

import os
from typing import Optional, Tuple

import benchproto
import ferry
from ferry import KafkaOffsetsInitializer


def read(source: "ferry.KafkaSource[Optional[bytes]]") -> Tuple[int, int]:
    """Reads the source whole; returns (records, value bytes)."""
    n = b = 0
    with source.open() as reader:
        for rec in reader:
            n += 1
            b += len(rec.value or b"")
    return n, b


def main() -> None:
    source = (ferry.KafkaSource.builder()
              .set_ferry_address(os.environ["FERRY_ADDR"])
              .set_topics(os.environ["FERRY_BENCH_TOPIC"])
              .set_starting_offsets(KafkaOffsetsInitializer.earliest())
              .set_bounded(KafkaOffsetsInitializer.latest())
              .build())
    benchproto.main(lambda: read(source), lambda: read(source))


if __name__ == "__main__":
    main()
