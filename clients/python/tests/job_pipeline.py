"""A read -> process -> write EXACTLY_ONCE program that keeps no state of its
own: ferry keeps its checkpoints (set_job), so after any failure it reopens
its source and sink with restore_latest and continues with checkpoint id
restored + 1. Run by test_stored_checkpoints.py as a subprocess, through one
gRPC channel over several ferry processes (round robin).

Each value v of INPUT becomes "out-" + v in OUTPUT. Every
--checkpoint-interval seconds (input or not) the program takes checkpoint n of the job with
JobCoordinator.checkpoint: the barriers of the reader, the records before
them processed, the writer's prepare (each stored by ferry before it is
answered), then the one completion; the commits follow on ferry's side.

The control directory lets a test act at the two moments a crash is most
delicate (the test writes the files atomically):

- ``pause-prepared`` (holding a checkpoint id K): at the first checkpoint
  n >= K, after the writer's prepare was stored and before the completion,
  the program writes ``at-prepared`` (JSON: n and the session ids) and waits
  for ``go-prepared``; if that says ``abandon`` the program drops checkpoint
  n as if it had crashed (reopen, restore, redo n), else it completes n.
- ``pause-completed``: after the completion, before waiting for the
  writer's commit: ``at-completed`` and ``go-completed`` likewise.
- ``stop``: once present and no input came for --idle-seconds, the program
  takes a final checkpoint, waits for its commit and exits 0.

It appends one JSON line per event to ``events.jsonl`` (opened, completed,
failure), for the test to follow; the program never reads it.
"""

from __future__ import annotations

import argparse
import faulthandler
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import grpc

import ferry
from ferry.flink import (
    CompletedCheckpoint,
    DeliveryGuarantee,
    FerryError,
    JobCoordinator,
    KafkaOffsetsInitializer,
    KafkaRecord,
    KafkaRecordSerializationSchema,
    KafkaSink,
    KafkaSource,
    SimpleStringSchema,
)

# Seconds a poll waits for records (then the loop goes on), and any other
# wait for a ferry (open, barrier, prepare, commit) may take.
POLL_TIMEOUT_S = 0.5
SESSION_TIMEOUT_S = 15.0
COMPLETE_TIMEOUT_S = 2.0
COMPLETE_ATTEMPTS = 30
PAUSE_TIMEOUT_S = 60.0
# Statuses of a completion that may be retried: the call did not reach a
# ferry, or the ferry died or hung (the completion may or may not be stored;
# completing again answers the same).
RETRY = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED)


class Abandon(Exception):
    """The test asked to drop the checkpoint before its completion."""


class Control:
    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.events = open(directory / "events.jsonl", "a", encoding="utf-8")

    def event(self, kind: str, **fields: Any) -> None:
        self.events.write(json.dumps({"event": kind, "t": time.time(), **fields}) + "\n")
        self.events.flush()

    def pause(self, point: str, checkpoint: int, info: Dict[str, Any]) -> str:
        """At a pause point of checkpoint: if the test asked for a pause there
        from this checkpoint on, says where the program is and waits for the
        go-ahead; returns its text ("" without a pause)."""
        request = self.dir / f"pause-{point}"
        try:
            from_checkpoint = int(request.read_text() or 0)
        except FileNotFoundError:
            return ""
        if checkpoint < from_checkpoint:
            return ""
        request.unlink()
        info = {"checkpoint": checkpoint, **info}
        tmp = self.dir / f".at-{point}"
        tmp.write_text(json.dumps(info))
        os.replace(tmp, self.dir / f"at-{point}")
        go = self.dir / f"go-{point}"
        deadline = time.monotonic() + PAUSE_TIMEOUT_S
        while not go.exists():
            if time.monotonic() > deadline:
                self.event("pause-timeout", point=point)
                return ""
            time.sleep(0.005)
        text = go.read_text()
        go.unlink()
        return text

    def stopping(self) -> bool:
        return (self.dir / "stop").exists()


def transform(value: Optional[str]) -> Optional[str]:
    return None if value is None else "out-" + value


class PipelineCoordinator(JobCoordinator):
    """The job's coordinator, pausing before the completion when the test
    asks, and retrying the completion while ferries die or hang (any ferry
    will do)."""

    def __init__(self, job: str, channel: grpc.Channel, control: Control) -> None:
        super().__init__(job, channel)
        self.control = control
        # What a pause tells the test: session ids, records written since
        # the last checkpoint.
        self.info: Dict[str, Any] = {}

    def complete(self, checkpoint_id: int, *, timeout: Optional[float] = None) -> CompletedCheckpoint:
        go = self.control.pause("prepared", checkpoint_id, self.info)
        if go.strip() == "abandon":
            raise Abandon(f"checkpoint {checkpoint_id} abandoned before its completion")
        for attempt in range(COMPLETE_ATTEMPTS):
            try:
                return super().complete(checkpoint_id, timeout=COMPLETE_TIMEOUT_S)
            except FerryError as err:
                if err.code not in RETRY or attempt == COMPLETE_ATTEMPTS - 1:
                    raise
                time.sleep(0.1)
        raise AssertionError("unreachable")


def run_once(
    args: argparse.Namespace, channel: grpc.Channel, control: Control, coordinator: PipelineCoordinator
) -> bool:
    """One life of the job's sessions, from a restore to a failure (raised)
    or to the stop (True)."""
    source = (KafkaSource.builder()
              .set_channel(channel)
              .set_topics(args.input)
              .set_starting_offsets(KafkaOffsetsInitializer.earliest())
              .set_value_only_deserializer(SimpleStringSchema())
              .set_job(args.job, "source")
              .build())  # fmt: skip
    sink = (KafkaSink.builder()
            .set_channel(channel)
            .set_record_serializer(KafkaRecordSerializationSchema.builder()
                                   .set_topic(args.output)
                                   .set_value_serialization_schema(SimpleStringSchema())
                                   .build())
            .set_delivery_guarantee(DeliveryGuarantee.EXACTLY_ONCE)
            .set_transactional_id_prefix(args.prefix)
            .set_job(args.job, "sink")
            .build())  # fmt: skip
    with source.open(timeout=SESSION_TIMEOUT_S) as reader, sink.open(timeout=SESSION_TIMEOUT_S) as writer:
        n = max(reader.restored_checkpoint_id, writer.restored_checkpoint_id)
        info = coordinator.info = {"source": reader.session_id, "sink": writer.session_id, "written": 0}
        control.event("opened", source=reader.restored_checkpoint_id, sink=writer.restored_checkpoint_id,
                      source_note=reader.restore_note, sink_note=writer.restore_note,
                      restored_transactions=writer.opened.restored_transactions)  # fmt: skip
        last_input = last_checkpoint = time.monotonic()

        def process(records: List[KafkaRecord[Optional[str]]]) -> None:
            writer.write_batch(transform(r.value) for r in records)
            info["written"] += len(records)

        def checkpoint() -> None:
            nonlocal n, last_checkpoint
            n += 1
            coordinator.checkpoint(n, readers=[reader], writers=[writer], process=process)
            control.event("completed", checkpoint=n)
            control.pause("completed", n, info)
            info["written"] = 0
            last_checkpoint = time.monotonic()

        while True:
            records = reader.poll(500, timeout=POLL_TIMEOUT_S)  # [] when nothing came
            now = time.monotonic()
            if records:
                last_input = now
                writer.write_batch(transform(r.value) for r in records)
                info["written"] += len(records)
            if now - last_checkpoint >= args.checkpoint_interval:
                checkpoint()
            if control.stopping() and now - last_input >= args.idle_seconds:
                checkpoint()  # the last one; it takes what came before its barrier too
                writer.await_committed(n)
                control.event("stopped", checkpoint=n)
                return True


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--target", required=True, help="gRPC target naming every ferry, e.g. ipv4:h:p1,h:p2")
    p.add_argument("--input", required=True)
    p.add_argument("--output", required=True)
    p.add_argument("--job", required=True)
    p.add_argument("--prefix", required=True, help="transactional id prefix")
    p.add_argument("--control", required=True, type=Path)
    p.add_argument("--checkpoint-interval", type=float, default=0.2)
    p.add_argument("--idle-seconds", type=float, default=1.5)
    args = p.parse_args()
    faulthandler.register(signal.SIGUSR1)  # the test asks for the stacks of a program that hangs

    control = Control(args.control)
    channel = ferry.connect(args.target, options=[
        ("grpc.lb_policy_name", "round_robin"),
        ("grpc.initial_reconnect_backoff_ms", 100),
        ("grpc.min_reconnect_backoff_ms", 100),
        ("grpc.max_reconnect_backoff_ms", 500),
    ])  # fmt: skip
    coordinator = PipelineCoordinator(args.job, channel, control)
    while True:
        try:
            if run_once(args, channel, control, coordinator):
                return 0
        except (FerryError, Abandon) as err:
            # Leaving the with block cancelled both sessions: nothing of this
            # life is committed unless its checkpoint completed.
            control.event("failure", error=str(err))
            time.sleep(0.1)


if __name__ == "__main__":
    sys.exit(main())
