"""Crash tests of the example programs in clients/python/examples.

Each example copies an input topic to an output topic exactly once. The test
runs it as a subprocess, SIGKILLs it at random moments while its output
progresses, restarts it, finally lets it exit after an idle period, and then
checks with a read_committed reader that the output holds every transformed
input value exactly once.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any, Callable, List, Optional

import grpc
import pytest

from ferry.flink import (
    DeliveryGuarantee,
    KafkaOffsetsInitializer,
    KafkaRecordSerializationSchema,
    KafkaSink,
    KafkaSource,
    SimpleStringSchema,
)

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
N = 3000
CHUNKS = 3
PARTITIONS = 3
WAIT_S = 20.0
# Seconds a run may take to show progress, and the last run to finish.
PROGRESS_TIMEOUT_S = 20.0
FINISH_TIMEOUT_S = 30.0
IDLE_EXIT_S = 1.5
# Records per input write while an example runs.
FEED_PIECE = 50


def _write(channel: grpc.Channel, topic: str, values: List[str]) -> None:
    sink = (
        KafkaSink.builder()
        .set_channel(channel)
        .set_record_serializer(
            KafkaRecordSerializationSchema.builder()
            .set_topic(topic)
            .set_value_serialization_schema(SimpleStringSchema())
            .build()
        )
        .set_delivery_guarantee(DeliveryGuarantee.AT_LEAST_ONCE)
        .build()
    )
    with sink.open(timeout=WAIT_S) as writer:
        writer.write_batch(values)
        writer.prepare(1)
        assert writer.close() == len(values)


def _read_committed(channel: grpc.Channel, topic: str) -> List[Optional[str]]:
    source = (
        KafkaSource.builder()
        .set_channel(channel)
        .set_topics(topic)
        .set_starting_offsets(KafkaOffsetsInitializer.earliest())
        .set_bounded(KafkaOffsetsInitializer.latest())
        .set_property("isolation.level", "read_committed")
        .set_value_only_deserializer(SimpleStringSchema())
        .build()
    )
    with source.open(timeout=WAIT_S) as reader:
        return list(reader.values())


def _start(args: List[str], log: Path) -> subprocess.Popen:  # type: ignore[type-arg]
    out = open(log, "ab")
    try:
        return subprocess.Popen(
            [sys.executable, *args], stdout=out, stderr=subprocess.STDOUT, cwd=EXAMPLES
        )
    finally:
        out.close()


def _wait_progress(proc: "subprocess.Popen[bytes]", progress: Callable[[], int], baseline: int, log: Path) -> None:
    deadline = time.monotonic() + PROGRESS_TIMEOUT_S
    while progress() <= baseline:
        if proc.poll() is not None:
            pytest.fail(f"example exited {proc.returncode} early:\n{log.read_text()}", pytrace=False)
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"no progress within {PROGRESS_TIMEOUT_S}s:\n{log.read_text()}", pytrace=False)
        time.sleep(0.02)


def _crash_and_finish(
    channel: grpc.Channel,
    input_topic: str,
    output_topic: str,
    args: List[str],
    progress: Callable[[], int],
    log: Path,
) -> None:
    """Writes the input in CHUNKS chunks; per chunk starts the example, waits
    for progress, kills it at a random moment; then runs it to its idle exit
    and checks the output."""
    values = [f"rec-{i:05d}" for i in range(N)]
    size = N // CHUNKS
    chunks = [values[i * size:(i + 1) * size] for i in range(CHUNKS - 1)]
    chunks.append(values[(CHUNKS - 1) * size:])
    rng = random.Random()
    kills = 0
    for chunk in chunks:
        baseline = progress()
        proc = _start(args, log)
        # The chunk goes in in small pieces while the example runs, so the
        # kill lands while input is still arriving and being copied.
        errors: List[BaseException] = []

        def feed(values: List[str] = chunk) -> None:
            try:
                for i in range(0, len(values), FEED_PIECE):
                    _write(channel, input_topic, values[i:i + FEED_PIECE])
                    time.sleep(0.02)
            except BaseException as err:  # reported by the test thread
                errors.append(err)

        feeder = threading.Thread(target=feed, daemon=True)
        feeder.start()
        try:
            _wait_progress(proc, progress, baseline, log)
            time.sleep(rng.uniform(0.0, 0.5))
        finally:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                kills += 1
                print(f"killed run {kills} with {len(errors) or 'no'} feed error(s), "
                      f"feeder {'running' if feeder.is_alive() else 'done'}, progress {progress()}")
            proc.wait(timeout=10)
            feeder.join(timeout=WAIT_S)
        assert not feeder.is_alive(), "writing the input did not finish"
        assert not errors, f"writing the input failed: {errors[0]!r}"
    assert kills >= 2, f"only {kills} run(s) were killed mid-stream:\n{log.read_text()}"

    proc = _start([*args, "--stop-after-idle-seconds", str(IDLE_EXIT_S)], log)
    try:
        rc = proc.wait(timeout=FINISH_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        pytest.fail(f"final run did not exit within {FINISH_TIMEOUT_S}s:\n{log.read_text()}", pytrace=False)
    assert rc == 0, f"final run exited {rc}:\n{log.read_text()}"

    got = _read_committed(channel, output_topic)
    counts = Counter(got)
    expected = {"out-" + v for v in values}
    dups = {v: c for v, c in counts.items() if c > 1}
    missing = expected - set(counts)
    extra = set(counts) - expected
    assert not dups and not missing and not extra, (
        f"{len(got)} output records; {len(dups)} duplicated (e.g. {sorted(dups)[:5]}), "
        f"{len(missing)} missing (e.g. {sorted(missing)[:5]}), {len(extra)} unexpected "
        f"(e.g. {sorted(extra)[:5]})\n{log.read_text()}"
    )
    assert len(got) == N


def test_exactly_once_copy_survives_kills(
    test_env: Any, channel: grpc.Channel, create_topic: Callable[..., str], tmp_path: Path
) -> None:
    input_topic = create_topic("py-ex1-in", PARTITIONS)
    output_topic = create_topic("py-ex1-out", PARTITIONS)
    state_file = tmp_path / "copy.state"
    log = tmp_path / "example.log"

    def checkpoint_id() -> int:
        try:
            return int(json.loads(state_file.read_text())["checkpoint_id"])
        except FileNotFoundError:
            return 0

    args = [
        str(EXAMPLES / "exactly_once_copy.py"),
        "--ferry-address", test_env.ferry_addr,
        "--input", input_topic,
        "--output", output_topic,
        "--state-file", str(state_file),
        "--transactional-id-prefix", f"py-ex1-{uuid.uuid4().hex}",
    ]
    _crash_and_finish(channel, input_topic, output_topic, args, checkpoint_id, log)


def test_offsets_in_transaction_survives_kills(
    test_env: Any, channel: grpc.Channel, create_topic: Callable[..., str], tmp_path: Path
) -> None:
    input_topic = create_topic("py-ex2-in", PARTITIONS)
    output_topic = create_topic("py-ex2-out", PARTITIONS)
    log = tmp_path / "example.log"

    def committed_output() -> int:
        return len(_read_committed(channel, output_topic))

    args = [
        str(EXAMPLES / "offsets_in_transaction.py"),
        "--ferry-address", test_env.ferry_addr,
        "--input", input_topic,
        "--output", output_topic,
        "--group-id", f"py-ex2-{uuid.uuid4().hex}",
        "--transactional-id-prefix", f"py-ex2-{uuid.uuid4().hex}",
    ]
    _crash_and_finish(channel, input_topic, output_topic, args, committed_output, log)
