"""Exactly-once copy of a Kafka topic through ferry without any client state.

The consumed source offsets commit inside the sink's Kafka transaction (like
Kafka Streams' exactly-once or a transactional consume-transform-produce
loop), so the output and the group's committed offsets move together:

* the source opens at the committed offsets of ``--group-id`` (EARLIEST for
  a partition without one), unbounded, with ``isolation.level=read_committed``;
  it never commits offsets itself (no checkpoint is ever completed on it);
* each written batch carries ``WriteBatch.consumed_offsets``: the group and,
  for each partition, the next offset to read after the batch's records;
* about every ``--commit-interval`` seconds the sink prepares and commits its
  transaction (``Checkpoint`` then ``CommitCheckpoint``), which commits the
  records and the offsets atomically.

After a crash the new sink session aborts the lingering transaction and the
source resumes at the group's committed offsets: every input record reaches a
``read_committed`` consumer of the output exactly once.

The facade's ``SinkWriter`` has no way to attach consumed offsets to a batch,
so this example drives ``SinkService.Write`` with the generated stubs
(``ferry.v1``) directly; the source side uses the facade.

Usage::

    python offsets_in_transaction.py --ferry-address localhost:50051 \\
        --input in --output out --group-id copy-group \\
        --transactional-id-prefix copy-app [--stop-after-idle-seconds 5]

Options can also come from the environment: FERRY_ADDR, INPUT_TOPIC,
OUTPUT_TOPIC, GROUP_ID, TRANSACTIONAL_ID_PREFIX.
"""

from __future__ import annotations

import argparse
import os
import queue
import sys
import time
from typing import Any, Dict, Iterator, List, Optional, Tuple

import grpc

import ferry
from ferry import FerryError, KafkaSource, SimpleStringSchema
from ferry.flink import KafkaOffsetResetStrategy, KafkaOffsetsInitializer
from ferry.v1 import common_pb2, service_pb2_grpc, sink_pb2

POLL_TIMEOUT_S = 0.5
# Seconds to wait for a sink answer (prepare, commit, ...).
SINK_TIMEOUT_S = 60.0


def transform(value: Optional[str]) -> Optional[str]:
    return None if value is None else "out-" + value


class TransactionalWriter:
    """A minimal EXACTLY_ONCE ``SinkService.Write`` client whose batches can
    carry consumed offsets."""

    def __init__(self, channel: grpc.Channel, topic: str, prefix: str) -> None:
        self._requests: "queue.Queue[Optional[sink_pb2.WriteRequest]]" = queue.Queue()
        stubs: Any = service_pb2_grpc  # the generated stubs carry no type hints
        stub = stubs.SinkServiceStub(channel)
        self._call = stub.Write(self._iter_requests())
        self._responses: Iterator[sink_pb2.WriteResponse] = iter(self._call)
        self._sequence = 0
        spec = sink_pb2.SinkSpec(
            delivery_guarantee=sink_pb2.DELIVERY_GUARANTEE_EXACTLY_ONCE,
            transactional_id_prefix=prefix,
            default_topic=topic,
        )
        self._send(sink_pb2.WriteRequest(open=sink_pb2.OpenSink(spec=spec, writer_index=0, parallelism=1)))
        self._await("opened")

    def _iter_requests(self) -> Iterator[sink_pb2.WriteRequest]:
        while True:
            req = self._requests.get()
            if req is None:
                return
            yield req

    def _send(self, req: Optional[sink_pb2.WriteRequest]) -> None:
        """Queues a request; None half-closes the stream."""
        self._requests.put(req)

    def _await(self, kind: str) -> sink_pb2.WriteResponse:
        # A stream error surfaces here as grpc.RpcError.
        for msg in self._responses:
            if msg.WhichOneof("kind") == kind:
                return msg
        raise RuntimeError(f"sink stream ended while waiting for {kind}")

    def write(self, values: List[Optional[str]], group_id: str,
              next_offsets: Dict[Tuple[str, int], int]) -> None:
        """Sends one batch that consumed the source up to next_offsets."""
        records = []
        for v in values:
            rec = sink_pb2.SinkRecord()
            if v is not None:
                rec.value = v.encode("utf-8")
            records.append(rec)
        self._sequence += 1
        batch = sink_pb2.WriteBatch(
            sequence=self._sequence,
            records=records,
            consumed_offsets=sink_pb2.ConsumedOffsets(
                group_id=group_id,
                offsets=[common_pb2.PartitionOffset(topic=t, partition=p, offset=o)
                         for (t, p), o in sorted(next_offsets.items())],
            ),
        )
        self._send(sink_pb2.WriteRequest(records=batch))

    def commit(self, checkpoint_id: int) -> None:
        """Pre-commits the open transaction, then commits it (with its offsets)."""
        self._send(sink_pb2.WriteRequest(checkpoint=common_pb2.Checkpoint(checkpoint_id=checkpoint_id)))
        self._await("prepared")
        self._send(sink_pb2.WriteRequest(commit=sink_pb2.CommitCheckpoint(checkpoint_id=checkpoint_id)))
        self._await("committed")

    def close(self) -> None:
        self._send(sink_pb2.WriteRequest(close=common_pb2.Close()))
        self._await("closed")
        self._send(None)
        for _ in self._responses:
            pass

    def cancel(self) -> None:
        self._send(None)
        self._call.cancel()


def parse_args() -> argparse.Namespace:
    env = os.environ.get
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ferry-address", default=env("FERRY_ADDR"))
    p.add_argument("--input", default=env("INPUT_TOPIC"))
    p.add_argument("--output", default=env("OUTPUT_TOPIC"))
    p.add_argument("--group-id", default=env("GROUP_ID"))
    p.add_argument("--transactional-id-prefix", default=env("TRANSACTIONAL_ID_PREFIX"))
    p.add_argument("--commit-interval", type=float, default=0.2,
                   help="seconds between transaction commits (default 0.2)")
    p.add_argument("--stop-after-idle-seconds", type=float, default=None,
                   help="exit (after a final commit) once no input came for this long")
    args = p.parse_args()
    for name in ("ferry_address", "input", "output", "group_id", "transactional_id_prefix"):
        if not getattr(args, name):
            p.error(f"--{name.replace('_', '-')} (or its environment variable) is required")
    return args


def main() -> int:
    args = parse_args()
    source = (KafkaSource.builder()
              .set_ferry_address(args.ferry_address)
              .set_topics(args.input)
              .set_group_id(args.group_id)
              .set_starting_offsets(KafkaOffsetsInitializer.committed_offsets(
                  KafkaOffsetResetStrategy.EARLIEST))
              .set_property("isolation.level", "read_committed")
              .set_value_only_deserializer(SimpleStringSchema())
              .build())  # unbounded
    channel = ferry.connect(args.ferry_address)
    # The sink first: opening it aborts a lingering transaction of a crashed
    # run, so the group's offsets are final before the source reads them.
    writer = TransactionalWriter(channel, args.output, args.transactional_id_prefix)
    try:
        with source.open(timeout=POLL_TIMEOUT_S) as reader:
            print("started", flush=True)
            checkpoint_id = 0
            dirty = False
            last_commit = time.monotonic()
            last_input = time.monotonic()
            while True:
                try:
                    records = reader.poll(500)
                except FerryError as err:
                    if err.code != grpc.StatusCode.DEADLINE_EXCEEDED:
                        raise
                    records = []
                now = time.monotonic()
                if records:
                    last_input = now
                    next_offsets: Dict[Tuple[str, int], int] = {}
                    for r in records:
                        next_offsets[(r.topic, r.partition)] = r.offset + 1
                    writer.write([transform(r.value) for r in records], args.group_id, next_offsets)
                    dirty = True
                if dirty and now - last_commit >= args.commit_interval:
                    checkpoint_id += 1
                    writer.commit(checkpoint_id)
                    dirty = False
                    last_commit = time.monotonic()
                if (args.stop_after_idle_seconds is not None and not dirty
                        and now - last_input >= args.stop_after_idle_seconds):
                    print(f"idle for {args.stop_after_idle_seconds}s; exiting after "
                          f"{checkpoint_id} commit(s)", flush=True)
                    break
        writer.close()
    except BaseException:
        writer.cancel()
        raise
    finally:
        channel.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
