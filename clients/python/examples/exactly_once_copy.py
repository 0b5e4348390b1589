"""Exactly-once copy of a Kafka topic through ferry, with client-side state.

Reads INPUT with an unbounded KafkaSource, transforms each value
(``"out-" + value``) and writes it to OUTPUT with an EXACTLY_ONCE KafkaSink.
About every ``--checkpoint-interval`` seconds it takes checkpoint n, the way a
Flink job does:

1. every record yielded so far has been written to the sink writer;
2. ``reader.checkpoint(n)``: the source state (the iterator's position);
3. ``writer.prepare(n)``: the sink state (pre-committed transactions);
4. both states are written to the state file atomically (tmp file + fsync +
   ``os.replace`` + fsync of the directory);
5. ``writer.commit(n)`` and ``reader.notify_checkpoint_complete(n)``.

On start it restores both sides from the state file if it exists: the source
resumes at the saved position and opening the sink commits the saved prepared
transactions (committing twice is harmless); anything written after that
checkpoint was in a transaction that the new sink session aborts. So the
process can be killed at any moment and restarted: a ``read_committed``
consumer of OUTPUT sees every input record exactly once.

Usage::

    python exactly_once_copy.py --ferry-address localhost:50051 \\
        --input in --output out --state-file /tmp/copy.state \\
        --transactional-id-prefix copy-app [--stop-after-idle-seconds 5]

Every option can also come from the environment: FERRY_ADDR, INPUT_TOPIC,
OUTPUT_TOPIC, STATE_FILE, TRANSACTIONAL_ID_PREFIX.
Without ``--stop-after-idle-seconds`` it runs until killed.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import time
from typing import Optional, Tuple

import grpc

from ferry import (DeliveryGuarantee, FerryError, KafkaRecordSerializationSchema,
                   KafkaSink, KafkaSource, SimpleStringSchema)
from ferry.flink import KafkaOffsetsInitializer

# Seconds a single wait for a server message may take. An idle unbounded
# source sends nothing, so poll() returns control at least this often.
POLL_TIMEOUT_S = 0.5


def transform(value: Optional[str]) -> Optional[str]:
    return None if value is None else "out-" + value


def load_state(path: str) -> Tuple[int, Optional[bytes], Optional[bytes]]:
    """(last checkpoint id, source state, sink state) from the state file."""
    if not os.path.exists(path):
        return 0, None, None
    with open(path, "r", encoding="utf-8") as f:
        doc = json.load(f)
    return (int(doc["checkpoint_id"]), base64.b64decode(doc["source"]),
            base64.b64decode(doc["sink"]))


def save_state(path: str, checkpoint_id: int, source: bytes, sink: bytes) -> None:
    """Writes the state file atomically and durably."""
    doc = {
        "checkpoint_id": checkpoint_id,
        "source": base64.b64encode(source).decode("ascii"),
        "sink": base64.b64encode(sink).decode("ascii"),
    }
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(doc, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def parse_args() -> argparse.Namespace:
    env = os.environ.get
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ferry-address", default=env("FERRY_ADDR"))
    p.add_argument("--input", default=env("INPUT_TOPIC"))
    p.add_argument("--output", default=env("OUTPUT_TOPIC"))
    p.add_argument("--state-file", default=env("STATE_FILE"))
    p.add_argument("--transactional-id-prefix", default=env("TRANSACTIONAL_ID_PREFIX"))
    p.add_argument("--checkpoint-interval", type=float, default=0.2,
                   help="seconds between checkpoints (default 0.2)")
    p.add_argument("--stop-after-idle-seconds", type=float, default=None,
                   help="exit (after a final checkpoint) once no input came for this long")
    args = p.parse_args()
    for name in ("ferry_address", "input", "output", "state_file", "transactional_id_prefix"):
        if not getattr(args, name):
            p.error(f"--{name.replace('_', '-')} (or its environment variable) is required")
    return args


def main() -> int:
    args = parse_args()
    checkpoint_id, source_state, sink_state = load_state(args.state_file)

    source = (KafkaSource.builder()
              .set_ferry_address(args.ferry_address)
              .set_topics(args.input)
              .set_starting_offsets(KafkaOffsetsInitializer.earliest())
              .set_property("isolation.level", "read_committed")
              .set_value_only_deserializer(SimpleStringSchema())
              .build())  # unbounded: no set_bounded
    sink = (KafkaSink.builder()
            .set_ferry_address(args.ferry_address)
            .set_record_serializer(KafkaRecordSerializationSchema.builder()
                                   .set_topic(args.output)
                                   .set_value_serialization_schema(SimpleStringSchema())
                                   .build())
            .set_delivery_guarantee(DeliveryGuarantee.EXACTLY_ONCE)
            .set_transactional_id_prefix(args.transactional_id_prefix)
            .build())

    with sink.open(restore_state=sink_state) as writer, \
            source.open(restore_state=source_state, timeout=POLL_TIMEOUT_S) as reader:
        print(f"started at checkpoint {checkpoint_id}; restored "
              f"{writer.opened.restored_transactions} transaction(s)", flush=True)
        written_since_checkpoint = 0
        last_checkpoint = time.monotonic()
        last_input = time.monotonic()

        def take_checkpoint() -> None:
            nonlocal checkpoint_id, written_since_checkpoint, last_checkpoint
            checkpoint_id += 1
            n = checkpoint_id
            # Every record yielded so far has been handed to the writer.
            src = reader.checkpoint(n)
            snk = writer.prepare(n)
            assert snk is not None  # EXACTLY_ONCE always returns a state
            save_state(args.state_file, n, src.SerializeToString(), snk.SerializeToString())
            writer.commit(n)
            reader.notify_checkpoint_complete(n)
            written_since_checkpoint = 0
            last_checkpoint = time.monotonic()

        while True:
            try:
                records = reader.poll(500)
            except FerryError as err:
                if err.code != grpc.StatusCode.DEADLINE_EXCEEDED:
                    raise
                records = []  # nothing arrived within POLL_TIMEOUT_S
            now = time.monotonic()
            if records:
                last_input = now
                writer.write_batch(transform(r.value) for r in records)
                written_since_checkpoint += len(records)
            if written_since_checkpoint and now - last_checkpoint >= args.checkpoint_interval:
                take_checkpoint()
            if (args.stop_after_idle_seconds is not None
                    and now - last_input >= args.stop_after_idle_seconds):
                # The final checkpoint; it also covers records buffered
                # before its barrier, which the loop would take next.
                take_checkpoint()
                tail = 0
                while True:
                    try:
                        more = reader.poll(500)
                    except FerryError as err:
                        if err.code != grpc.StatusCode.DEADLINE_EXCEEDED:
                            raise
                        break
                    if not more:
                        break
                    writer.write_batch(transform(r.value) for r in more)
                    tail += len(more)
                if tail:
                    take_checkpoint()
                    last_input = time.monotonic()
                    continue
                print(f"idle for {args.stop_after_idle_seconds}s; exiting at checkpoint "
                      f"{checkpoint_id}", flush=True)
                return 0


if __name__ == "__main__":
    sys.exit(main())
