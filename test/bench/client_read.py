"""Bounded read of a topic through ferry with the Python client's generated
stubs, for `make bench`: prints `records=N bytes=B seconds=S` on its last line.

Environment: FERRY_ADDR, FERRY_BENCH_TOPIC.
"""

from __future__ import annotations

import os
import time

import grpc

from ferry.v1 import service_pb2_grpc, source_pb2


def main() -> None:
    channel = grpc.insecure_channel(os.environ["FERRY_ADDR"], options=[("grpc.max_receive_message_length", 64 << 20)])
    stub = service_pb2_grpc.SourceServiceStub(channel)
    open_req = source_pb2.ReadRequest(open=source_pb2.OpenSource(spec=source_pb2.SourceSpec(
        topics=source_pb2.TopicList(topics=[os.environ["FERRY_BENCH_TOPIC"]]),
        boundedness=source_pb2.BOUNDEDNESS_BOUNDED)))
    records = nbytes = 0
    start = time.perf_counter()
    for resp in stub.Read(iter([open_req])):
        if resp.HasField("records"):
            recs = resp.records.records
            records += len(recs)
            nbytes += sum(len(r.value) for r in recs)
        elif resp.HasField("end_of_input"):
            break
    print(f"records={records} bytes={nbytes} seconds={time.perf_counter() - start:.3f}")


if __name__ == "__main__":
    main()
