"""AT_LEAST_ONCE write of FERRY_BENCH_N records through ferry with the Python
client's generated stubs, for `make bench`: prints `records=N bytes=B
seconds=S` on its last line, N being the count of ferry's closed answer.

Environment: FERRY_ADDR, FERRY_BENCH_TOPIC, FERRY_BENCH_N,
FERRY_BENCH_VALUE_SIZE, FERRY_BENCH_BATCH (records per request, default 1000).

The value is built once, and so is each request's batch of records: for every
batch only the sequence number changes before the request is handed to gRPC
(which serializes it before asking the iterator for the next one).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import grpc

from ferry.v1 import common_pb2, service_pb2_grpc, sink_pb2


def batch_request(value: bytes, count: int) -> sink_pb2.WriteRequest:
    req = sink_pb2.WriteRequest()
    records = req.records.records
    for _ in range(count):
        records.add(value=value)
    return req


def main() -> None:
    n = int(os.environ["FERRY_BENCH_N"])
    size = int(os.environ["FERRY_BENCH_VALUE_SIZE"])
    batch = int(os.environ.get("FERRY_BENCH_BATCH", "1000"))
    value = os.urandom(size)
    full = batch_request(value, min(batch, n))
    tail = batch_request(value, n % batch) if n > batch and n % batch else None
    open_req = sink_pb2.WriteRequest(open=sink_pb2.OpenSink(spec=sink_pb2.SinkSpec(
        delivery_guarantee=sink_pb2.DELIVERY_GUARANTEE_AT_LEAST_ONCE,
        default_topic=os.environ["FERRY_BENCH_TOPIC"])))
    close_req = sink_pb2.WriteRequest(close=common_pb2.Close())
    sent = 0

    def requests() -> Iterator[sink_pb2.WriteRequest]:
        nonlocal sent
        yield open_req
        seq = 0
        while sent < n:
            req = full if n - sent >= len(full.records.records) else tail
            assert req is not None
            req.records.sequence = seq
            yield req
            seq += 1
            sent += len(req.records.records)
        yield close_req

    channel = grpc.insecure_channel(os.environ["FERRY_ADDR"])
    stub = service_pb2_grpc.SinkServiceStub(channel)
    written = -1
    start = time.perf_counter()
    responses = stub.Write(requests())
    for resp in responses:
        if resp.HasField("closed"):
            written = resp.closed.records_written
            break
    seconds = time.perf_counter() - start
    for _ in responses:  # the server ends the stream with OK after closed
        pass
    channel.close()
    print(f"records={written} bytes={sent * size} seconds={seconds:.3f}")


if __name__ == "__main__":
    main()
