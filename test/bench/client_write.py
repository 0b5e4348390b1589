"""AT_LEAST_ONCE writes through ferry with the Python client's generated
stubs, for `make bench` (protocol in benchproto.py): FERRY_BENCH_WARMUPS
writes of FERRY_BENCH_WARMUP_N records into FERRY_BENCH_WARMUP_TOPIC first,
then the line `timed`, the measured write of FERRY_BENCH_N records into
FERRY_BENCH_TOPIC, and last `records=N bytes=B seconds=S cpu=C
cold_seconds=X`. N is the count of ferry's closed answer, S runs from opening
the stream to its end after closed; X is the time of the first write in the
process, a warm-up of FERRY_BENCH_WARMUP_N records when there are warm-ups.

Environment: FERRY_ADDR, FERRY_BENCH_TOPIC, FERRY_BENCH_N,
FERRY_BENCH_VALUE_SIZE, FERRY_BENCH_BATCH (records per request, default 1000),
FERRY_BENCH_WARMUPS (default 0), FERRY_BENCH_WARMUP_TOPIC (required with
warm-ups), FERRY_BENCH_WARMUP_N (default FERRY_BENCH_N).

The value is built once, and so is each size of request (a full batch, the
tail): for every batch only the sequence number changes before the request is
handed to gRPC (which serializes it before asking the iterator for the next
one). Every write is a new stream on the one channel of the process.
"""

from __future__ import annotations

import os
from typing import Dict, Iterator, Tuple

import grpc

import benchproto
from ferry.v1 import common_pb2, service_pb2_grpc, sink_pb2


class Requests:
    """The batch requests of one value, built once per record count."""

    def __init__(self, value: bytes, batch: int) -> None:
        self.value = value
        self.batch = batch
        self._built: Dict[int, sink_pb2.WriteRequest] = {}

    def prebuild(self, n: int) -> None:
        """Builds the requests of a write of n records (so that no timed write builds any)."""
        self.get(min(self.batch, n))
        if n > self.batch and n % self.batch:
            self.get(n % self.batch)

    def get(self, count: int) -> sink_pb2.WriteRequest:
        req = self._built.get(count)
        if req is None:
            req = sink_pb2.WriteRequest()
            records = req.records.records
            for _ in range(count):
                records.add(value=self.value)
            self._built[count] = req
        return req


def write(stub: service_pb2_grpc.SinkServiceStub, reqs: Requests, topic: str, n: int) -> Tuple[int, int]:
    """Writes n records into topic; returns (records in ferry's closed answer, value bytes sent)."""
    open_req = sink_pb2.WriteRequest(open=sink_pb2.OpenSink(spec=sink_pb2.SinkSpec(
        delivery_guarantee=sink_pb2.DELIVERY_GUARANTEE_AT_LEAST_ONCE,
        default_topic=topic)))
    sent = 0

    def requests() -> Iterator[sink_pb2.WriteRequest]:
        nonlocal sent
        yield open_req
        seq = 1  # batch sequences start at 1 and increase
        while sent < n:
            req = reqs.get(min(reqs.batch, n - sent))
            req.records.sequence = seq
            yield req
            seq += 1
            sent += len(req.records.records)
        yield sink_pb2.WriteRequest(close=common_pb2.Close())

    written = -1
    for resp in stub.Write(requests()):  # the server ends the stream with OK after closed
        if resp.HasField("closed"):
            written = resp.closed.records_written
    return written, sent * len(reqs.value)


def main() -> None:
    n = int(os.environ["FERRY_BENCH_N"])
    size = int(os.environ["FERRY_BENCH_VALUE_SIZE"])
    reqs = Requests(os.urandom(size), int(os.environ.get("FERRY_BENCH_BATCH", "1000")))
    topic = os.environ["FERRY_BENCH_TOPIC"]
    warm_topic = os.environ.get("FERRY_BENCH_WARMUP_TOPIC", "")
    warm_n = int(os.environ.get("FERRY_BENCH_WARMUP_N", str(n)))
    if benchproto.warmups() > 0 and not warm_topic:
        raise SystemExit("FERRY_BENCH_WARMUP_TOPIC is required with FERRY_BENCH_WARMUPS > 0")
    reqs.prebuild(n)
    reqs.prebuild(warm_n)
    channel = grpc.insecure_channel(os.environ["FERRY_ADDR"])
    stub = service_pb2_grpc.SinkServiceStub(channel)
    benchproto.main(lambda: write(stub, reqs, warm_topic, warm_n), lambda: write(stub, reqs, topic, n))
    channel.close()


if __name__ == "__main__":
    main()
