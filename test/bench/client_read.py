"""Bounded read of a topic through ferry with the Python client's generated
stubs, for `make bench` (protocol in benchproto.py): FERRY_BENCH_WARMUPS
whole reads first, then the line `timed`, the measured read, and last
`records=N bytes=B seconds=S cpu=C cold_seconds=X`. S runs from opening the
stream to its end after end_of_input; X is the first read's time.

Environment: FERRY_ADDR, FERRY_BENCH_TOPIC, FERRY_BENCH_WARMUPS (default 0).

Every read is a new stream on the one channel of the process.
"""

from __future__ import annotations

import os
from typing import Tuple

import grpc

import benchproto
from ferry.v1 import service_pb2_grpc, source_pb2


def read(stub: service_pb2_grpc.SourceServiceStub, topic: str) -> Tuple[int, int]:
    """Reads the topic whole; returns (records, value bytes)."""
    open_req = source_pb2.ReadRequest(open=source_pb2.OpenSource(spec=source_pb2.SourceSpec(
        topics=source_pb2.TopicList(topics=[topic]),
        boundedness=source_pb2.BOUNDEDNESS_BOUNDED)))
    records = nbytes = 0
    for resp in stub.Read(iter([open_req])):
        if resp.HasField("records"):
            recs = resp.records.records
            records += len(recs)
            nbytes += sum(len(r.value) for r in recs)
    # The stream ends with OK after end_of_input.
    return records, nbytes


def main() -> None:
    topic = os.environ["FERRY_BENCH_TOPIC"]
    channel = grpc.insecure_channel(os.environ["FERRY_ADDR"], options=[("grpc.max_receive_message_length", 64 << 20)])
    stub = service_pb2_grpc.SourceServiceStub(channel)
    benchproto.main(lambda: read(stub, topic), lambda: read(stub, topic))
    channel.close()


if __name__ == "__main__":
    main()
