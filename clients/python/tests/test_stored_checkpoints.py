"""Checkpoints kept by ferry (issue 13) against the real broker.

The headline: three ferry processes of the test's own, one client channel
over all three (round robin), and job_pipeline.py, a read -> process -> write
EXACTLY_ONCE program that keeps no state: ferry stores its barriers and
prepared transactions, it completes each checkpoint once, and after any
failure it reopens with restore_latest. The ferries are SIGKILLed (and come
back on the same port with an empty memory) at random moments, between a
stored prepare and the completion, and between the completion and the
commits; at the end Kafka's own read_committed consumer finds every input
value exactly once in the output, and no transaction of the prefix is open.

Also: rescaling a job's source with stored state (4 readers, then 3, then 5:
nothing lost or repeated), and bad input (restore latest of an unknown job,
a completion some stream never answered, completions sent by sessions, a
job used by two parallelisms at once).
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
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import grpc
import pytest

from conftest import TestEnv, _java
from ferry.flink import (
    DeliveryGuarantee,
    FerryError,
    JobCoordinator,
    KafkaOffsetsInitializer,
    KafkaRecord,
    KafkaRecordSerializationSchema,
    KafkaSink,
    KafkaSource,
    SimpleStringSchema,
    SourceReader,
)
from ferry.v1 import common_pb2, service_pb2_grpc, sink_pb2, source_pb2
from ferry_fleet import Fleet, FerryProcess
from streams import BidiStream

PIPELINE = Path(__file__).resolve().parent / "job_pipeline.py"
WAIT_S = 20.0
# Seconds the program may take to show progress after a step, and to finish.
PROGRESS_TIMEOUT_S = 30.0
FINISH_TIMEOUT_S = 60.0
KAFKA_TOOL_TIMEOUT_S = 60.0
# Open transaction states (TransactionsCommand list): none may be left.
OPEN_STATES = {"Ongoing", "PrepareCommit", "PrepareAbort", "PrepareEpochFence"}

_stubs: Any = service_pb2_grpc


# -- helpers


def _write_input(channel: grpc.Channel, topic: str, values: List[str], partitions: int) -> None:
    """Writes values AT_LEAST_ONCE, value i to partition i mod partitions."""
    sink = (
        KafkaSink.builder()
        .set_channel(channel)
        .set_record_serializer(
            KafkaRecordSerializationSchema.builder()
            .set_topic(topic)
            .set_value_serialization_schema(SimpleStringSchema())
            .set_partition_selector(lambda v: int(v.rsplit("-", 1)[1]) % partitions)
            .build()
        )
        .set_delivery_guarantee(DeliveryGuarantee.AT_LEAST_ONCE)
        .build()
    )
    with sink.open(timeout=WAIT_S) as writer:
        writer.write_batch(values)
        writer.prepare(1)
        assert writer.close() == len(values)


def _kafka_tool(env: TestEnv, main: str, *args: str) -> str:
    """Runs one of Kafka's own command-line tools; its stdout."""
    cmd = [_java(), "-cp", env.kafka_classpath, main, "--bootstrap-server", env.kafka, *args]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=KAFKA_TOOL_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{main} {' '.join(args)} did not finish in {KAFKA_TOOL_TIMEOUT_S:.0f}s", pytrace=False)
    if proc.returncode != 0:
        pytest.fail(f"{main} exited {proc.returncode}:\nstdout: {proc.stdout}\nstderr: {proc.stderr}", pytrace=False)
    return proc.stdout


def _console_consume_committed(env: TestEnv, topic: str) -> List[str]:
    """Every value of topic as Kafka's ConsoleConsumer reads it under
    read_committed (it stops after 5 s without a record). Records are the
    lines "Partition:P<TAB>VALUE"; the tool's own log lines go to stdout too."""
    out = _kafka_tool(
        env, "org.apache.kafka.tools.consumer.ConsoleConsumer",
        "--topic", topic, "--from-beginning", "--isolation-level", "read_committed",
        "--timeout-ms", "5000", "--property", "print.partition=true",
    )  # fmt: skip
    return [line.split("\t", 1)[1] for line in out.splitlines() if line.startswith("Partition:")]


def _open_transactions(env: TestEnv, prefix: str) -> Dict[str, str]:
    """The transactional ids of prefix that Kafka lists as open, with their state."""
    out = _kafka_tool(env, "org.apache.kafka.tools.TransactionsCommand", "list")
    lines = out.splitlines()
    assert lines and lines[0].split()[:1] == ["TransactionalId"], f"unexpected TransactionsCommand output: {out}"
    state_col = lines[0].split().index("TransactionState")
    found: Dict[str, str] = {}
    for line in lines[1:]:
        cols = line.split()
        if cols and cols[0].startswith(prefix + "-"):
            found[cols[0]] = cols[state_col]
    assert found, f"no transactional id of {prefix} is known to Kafka:\n{out}"
    return {tid: state for tid, state in found.items() if state in OPEN_STATES}


class Pipeline:
    """job_pipeline.py as a subprocess, with its control directory."""

    def __init__(self, directory: Path, args: List[str]) -> None:
        self.control = directory / "control"
        self.control.mkdir(parents=True)
        self.log = directory / "pipeline.log"
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, str(PIPELINE), *args, "--control", str(self.control)],
                stdout=out, stderr=subprocess.STDOUT, cwd=PIPELINE.parent,
            )  # fmt: skip

    def events(self) -> List[Dict[str, Any]]:
        path = self.control / "events.jsonl"
        if not path.exists():
            return []
        out = []
        for line in path.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                break  # a line being written
        return out

    def last_completed(self) -> int:
        done = [e["checkpoint"] for e in self.events() if e["event"] == "completed"]
        return max(done, default=0)

    def _put(self, name: str, text: str = "") -> None:
        tmp = self.control / f".{name}"
        tmp.write_text(text)
        os.replace(tmp, self.control / name)

    def request_pause(self, point: str, from_checkpoint: int) -> None:
        """Asks for a pause at point of the first checkpoint >= from_checkpoint."""
        self._put(f"pause-{point}", str(from_checkpoint))

    def wait_at(self, point: str) -> Dict[str, Any]:
        """Waits until the program paused at point; what it says there."""
        path = self.control / f"at-{point}"
        self._wait(path.exists, f"the program never paused at {point}")
        info: Dict[str, Any] = json.loads(path.read_text())
        path.unlink()
        return info

    def go(self, point: str, text: str = "") -> None:
        self._put(f"go-{point}", text)

    def stop(self) -> None:
        self._put("stop")

    def wait_completed_after(self, checkpoint: int) -> int:
        """Waits for a completed checkpoint newer than checkpoint."""
        self._wait(lambda: self.last_completed() > checkpoint, f"no checkpoint completed after {checkpoint}")
        return self.last_completed()

    def _wait(self, cond: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + PROGRESS_TIMEOUT_S
        while not cond():
            if self.proc.poll() is not None:
                pytest.fail(f"{what}: the program exited {self.proc.returncode}:\n{self.output()}", pytrace=False)
            if time.monotonic() > deadline:
                pytest.fail(f"{what} within {PROGRESS_TIMEOUT_S:.0f}s:\n{self.output()}", pytrace=False)
            time.sleep(0.01)

    def output(self) -> str:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGUSR1)  # its stacks, into the log
            time.sleep(0.5)
        events = "\n".join(json.dumps(e) for e in self.events()[-40:])
        return f"-- program output:\n{self.log.read_text()[-4000:]}\n-- last events:\n{events}"

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class Feeder:
    """Writes one phase of the input in small pieces on a thread, so that
    input is still arriving while a ferry dies."""

    PIECE = 50

    def __init__(self, channel: grpc.Channel, topic: str, values: List[str], partitions: int) -> None:
        self.errors: List[BaseException] = []

        def feed() -> None:
            try:
                for i in range(0, len(values), self.PIECE):
                    _write_input(channel, topic, values[i:i + self.PIECE], partitions)
                    time.sleep(0.01)
            except BaseException as err:  # reported by join
                self.errors.append(err)

        self.thread = threading.Thread(target=feed, daemon=True)
        self.thread.start()

    def join(self) -> None:
        self.thread.join(timeout=WAIT_S)
        assert not self.thread.is_alive(), "writing the input did not finish"
        assert not self.errors, f"writing the input failed: {self.errors[0]!r}"


@pytest.fixture
def fleet(test_env: TestEnv, tmp_path: Path) -> Iterator[Fleet]:
    f = Fleet(tmp_path / "fleet", test_env.kafka, 3)
    f.start()
    try:
        yield f
    finally:
        f.stop()


# -- the headline


N = 4000
PARTITIONS = 3
# What the test does between phases of the input; see test_three_ferries_sigkilled.
STEPS = [
    "random",
    "before-completion",
    "random",
    "after-completion",
    "random",
    "abandon-before-completion",
    "random",
    "after-completion-returned",
    "all-three",
    "random",
    "after-completion",
    "random",
]


def test_three_ferries_sigkilled_exactly_once(
    test_env: TestEnv, channel: grpc.Channel, create_topic: Callable[..., str], fleet: Fleet, tmp_path: Path
) -> None:
    """Steps, each while a phase of the input is being written:

    - random: SIGKILL a random ferry at a random moment of progress;
    - before-completion: the program paused after the prepare was stored
      and before the completion; SIGKILL the ferry of the sink session, then
      let the program complete (on another ferry) and go on;
    - abandon-before-completion: the same, then the program drops the
      checkpoint as if it had crashed: restore must go back to the previous
      one, and the id is taken again;
    - after-completion: SIGSTOP the sink session's ferry before the
      completion, let the program complete through another ferry, then
      SIGKILL the stopped one: the completion is stored and the commit never
      happened there; the restored sink must commit it;
    - after-completion-returned: SIGKILL the sink's ferry as soon as the
      completion returned;
    - all-three: SIGKILL every ferry at once: the program's restore is served
      by ferries that rebuilt their index from the topic.

    Every killed ferry comes back on its port with an empty memory."""
    rng = random.Random()
    input_topic = create_topic("py-jobs-in", PARTITIONS)
    output_topic = create_topic("py-jobs-out", PARTITIONS)
    run = uuid.uuid4().hex[:12]
    job, prefix = f"py-job-{run}", f"py-job-{run}"
    values = [f"rec-{i:05d}" for i in range(N)]
    size = N // (len(STEPS) + 1)
    phases = [values[i * size:(i + 1) * size] for i in range(len(STEPS))] + [values[len(STEPS) * size:]]

    program = Pipeline(tmp_path, [
        "--target", fleet.target, "--input", input_topic, "--output", output_topic,
        "--job", job, "--prefix", prefix,
    ])  # fmt: skip
    kills = 0
    # Checkpoints a later open must restore, and whether they wrote records.
    expect_restored: List[Tuple[int, bool]] = []
    started = time.monotonic()
    try:
        for step, phase in zip(STEPS, phases):
            before = program.last_completed()
            pause = {
                "before-completion": ["prepared"],
                "abandon-before-completion": ["prepared"],
                "after-completion": ["prepared", "completed"],
                "after-completion-returned": ["completed"],
            }.get(step, [])
            for point in pause:
                # Two ahead: the program may be completing the next one
                # already, past its pause points.
                program.request_pause(point, before + 2)
            feeder = Feeder(channel, input_topic, phase, PARTITIONS)
            if not pause:
                program.wait_completed_after(before)
                time.sleep(rng.uniform(0.0, 0.4))
                victims = fleet.ferries if step == "all-three" else [rng.choice(fleet.ferries)]
                for f in victims:
                    f.kill()
                for f in victims:
                    f.start()
                for f in victims:
                    f.wait_serving()
                kills += len(victims)
            elif step == "after-completion":
                at = program.wait_at("prepared")
                victim = _serving(fleet, at["sink"], program)
                victim.pause()  # holds the sink session, answers nothing
                program.go("prepared")
                done = program.wait_at("completed")
                assert done["checkpoint"] == at["checkpoint"]
                victim.restart()  # SIGKILL while stopped: its commit never ran
                kills += 1
                expect_restored.append((done["checkpoint"], done["written"] > 0))
                program.go("completed")
            else:
                point = pause[0]
                at = program.wait_at(point)
                victim = _serving(fleet, at["sink"], program)
                victim.restart()
                kills += 1
                program.go(point, "abandon" if step.startswith("abandon") else "")
            feeder.join()
            print(f"{step}: {kills} kills so far, checkpoint {program.last_completed()}, "
                  f"{time.monotonic() - started:.1f}s")  # fmt: skip
        feeder = Feeder(channel, input_topic, phases[-1], PARTITIONS)
        feeder.join()
        program.stop()
        try:
            rc = program.proc.wait(timeout=FINISH_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the program did not finish within {FINISH_TIMEOUT_S:.0f}s:\n{program.output()}",
                        pytrace=False)  # fmt: skip
        assert rc == 0, program.output()
    finally:
        program.kill()
    assert kills >= 5

    got = _console_consume_committed(test_env, output_topic)
    counts = Counter(got)
    expected = {"out-" + v for v in values}
    dups = sorted(v for v, c in counts.items() if c > 1)
    missing = sorted(expected - set(counts))
    extra = sorted(set(counts) - expected)
    assert not dups and not missing and not extra and len(got) == N, (
        f"{len(got)} committed output records of {N}: {len(dups)} duplicated (e.g. {dups[:5]}), "
        f"{len(missing)} missing (e.g. {missing[:5]}), {len(extra)} unexpected (e.g. {extra[:5]})\n"
        f"{program.output()}\n{fleet.logs()}"
    )
    assert _open_transactions(test_env, prefix) == {}

    events = program.events()
    opens = [e for e in events if e["event"] == "opened"]
    assert opens[0]["source"] == opens[0]["sink"] == 0, "the first open of a new job is a fresh start"
    assert opens[0]["source_note"] and opens[0]["sink_note"], "a fresh start says why"
    # Every step but the random kills broke the program's sessions (a random
    # kill may hit a ferry that serves none of them).
    restores = sum(1 for e in opens if e["sink"] > 0)
    assert restores >= sum(1 for s in STEPS if s != "random"), f"{restores} restores from stored checkpoints"
    for e in opens:
        assert e["source"] == e["sink"], f"source and sink restored different checkpoints: {e}"
    for n, wrote in expect_restored:
        # The next open after the kill behind the completion of n restores n.
        later = [e for e in opens if e["t"] > next(c["t"] for c in events if c["event"] == "completed"
                                                    and c["checkpoint"] == n)]  # fmt: skip
        assert later and later[0]["sink"] == n, f"after the completion of {n}, restored {later[:1]}"
        if wrote:
            assert later[0]["restored_transactions"] >= 1, f"the sink committed no transaction of {n}: {later[0]}"
    print(f"{kills} kills, {len(opens)} opens, {program.last_completed()} checkpoints, "
          f"{time.monotonic() - started:.1f}s")  # fmt: skip


def _serving(fleet: Fleet, session_id: str, program: Pipeline) -> FerryProcess:
    f = fleet.serving(session_id)
    if f is None:
        pytest.fail(f"no ferry serves session {session_id}:\n{program.output()}", pytrace=False)
    return f


# -- rescaling with stored state


def _readers(channel: grpc.Channel, topic: str, job: str, parallelism: int) -> List[SourceReader[Optional[str]]]:
    out: List[SourceReader[Optional[str]]] = []
    for i in range(parallelism):
        source = (
            KafkaSource.builder()
            .set_channel(channel)
            .set_topics(topic)
            .set_starting_offsets(KafkaOffsetsInitializer.earliest())
            .set_value_only_deserializer(SimpleStringSchema())
            .set_reader(i, parallelism)
            .set_job(job, "source")
            .build()
        )
        out.append(source.open(timeout=WAIT_S))
    return out


def _take(reader: SourceReader[Optional[str]], at_most: int) -> List[str]:
    """Up to at_most values, polling until none comes for a second."""
    out: List[str] = []
    while len(out) < at_most:
        records = reader.poll(at_most - len(out), timeout=1.0)
        if not records:
            break
        out.extend(r.value for r in records if r.value is not None)
    return out


def test_rescale_with_stored_state(
    test_env: TestEnv, channel: grpc.Channel, create_topic: Callable[..., str]
) -> None:
    """A job's source read by 4 readers, restored by 3, then by 5: each value
    is taken exactly once over the completed checkpoints, and what was taken
    after the last completion comes again."""
    partitions, n = 6, 1200
    topic = create_topic("py-jobs-rescale", partitions)
    values = [f"v-{i:05d}" for i in range(n)]
    _write_input(channel, topic, values, partitions)
    job = f"py-rescale-{uuid.uuid4().hex[:12]}"
    coordinator = JobCoordinator(job, channel, timeout=WAIT_S)
    taken: List[str] = []

    def collect(records: List[KafkaRecord[Optional[str]]]) -> None:
        taken.extend(r.value for r in records if r.value is not None)

    restored = 0
    for parallelism, per_reader in ((4, 60), (3, 90), (5, n)):
        readers = _readers(channel, topic, job, parallelism)
        try:
            assert {r.restored_checkpoint_id for r in readers} == {restored}, [r.restore_note for r in readers]
            for r in readers:
                taken.extend(_take(r, per_reader))
            restored += 1
            done = coordinator.checkpoint(restored, readers=readers, process=collect)
            assert done.checkpoint_id == restored and done.operators == {"source": parallelism}
            # Taken after the completion, never completed: read again after the restore.
            _take(readers[0], 25)
        finally:
            for r in readers:
                r.close()
    counts = Counter(taken)
    assert sorted(counts) == values and set(counts.values()) == {1}, (
        f"{len(taken)} taken: {sum(1 for c in counts.values() if c > 1)} repeated, "
        f"{len(set(values) - set(counts))} missing"
    )


# -- bad input


def _job_source(channel: grpc.Channel, topic: str, job: str, index: int = 0, parallelism: int = 1) -> SourceReader[Optional[str]]:
    return (
        KafkaSource.builder()
        .set_channel(channel)
        .set_topics(topic)
        .set_value_only_deserializer(SimpleStringSchema())
        .set_reader(index, parallelism)
        .set_job(job, "source")
        .build()
        .open(timeout=WAIT_S)
    )


def _job_sink_builder(channel: grpc.Channel, topic: str, job: str) -> Any:
    return (
        KafkaSink.builder()
        .set_channel(channel)
        .set_record_serializer(
            KafkaRecordSerializationSchema.builder().set_topic(topic).set_value_serialization_schema(SimpleStringSchema()).build()
        )
        .set_delivery_guarantee(DeliveryGuarantee.EXACTLY_ONCE)
        .set_transactional_id_prefix(f"{job}-tx")
        .set_job(job, "sink")
    )


def test_restore_latest_of_an_unknown_job_starts_fresh_and_says_so(
    channel: grpc.Channel, create_topic: Callable[..., str]
) -> None:
    topic = create_topic("py-jobs-fresh", 1)
    _write_input(channel, topic, ["v-0", "v-1", "v-2"], 1)
    job = f"py-unknown-{uuid.uuid4().hex[:12]}"
    with _job_source(channel, topic, job) as reader, _job_sink_builder(channel, topic, job).build().open(timeout=WAIT_S) as writer:
        for stream in (reader, writer):
            assert stream.restored_checkpoint_id == 0
            assert stream.restore_note, "a fresh start says so"
        assert writer.opened.restored_transactions == 0
        assert [r.value for r in reader.poll(10)] == ["v-0", "v-1", "v-2"]  # the starting offsets


def test_a_completion_some_stream_never_answered_is_refused_naming_it(
    channel: grpc.Channel, create_topic: Callable[..., str]
) -> None:
    topic = create_topic("py-jobs-unanswered", 2)
    job = f"py-unanswered-{uuid.uuid4().hex[:12]}"
    coordinator = JobCoordinator(job, channel, timeout=WAIT_S)
    r0 = _job_source(channel, topic, job, 0, 2)
    r1 = _job_source(channel, topic, job, 1, 2)
    writer = _job_sink_builder(channel, topic, job).build().open(timeout=WAIT_S)
    try:
        r0.checkpoint(1)
        writer.prepare(1)
        with pytest.raises(FerryError) as err:
            coordinator.complete(1)
        assert err.value.code == grpc.StatusCode.FAILED_PRECONDITION
        assert 'operator "source" index 1' in err.value.message, err.value.message
        r1.checkpoint(1)
        assert coordinator.complete(1).checkpoint_id == 1
        assert coordinator.complete(1).checkpoint_id == 1  # idempotent

        r0.checkpoint(2)
        r1.checkpoint(2)
        with pytest.raises(FerryError) as err:
            coordinator.complete(2)  # the sink never prepared 2
        assert err.value.code == grpc.StatusCode.FAILED_PRECONDITION
        assert 'operator "sink" index 0' in err.value.message, err.value.message
        writer.prepare(2)
        coordinator.complete(2)
        assert writer.await_committed(2) >= 2
    finally:
        for s in (r0, r1, writer):
            s.close()

    nothing = f"py-nothing-{uuid.uuid4().hex[:12]}"
    with pytest.raises(FerryError) as err:
        JobCoordinator(nothing, channel, timeout=WAIT_S).complete(1)
    # checkpoint.proto says NOT_FOUND for a job ferry keeps nothing of; ferry
    # answers FAILED_PRECONDITION ("no operator has joined the job").
    assert err.value.code in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.FAILED_PRECONDITION)
    assert nothing in err.value.message, err.value.message


def test_sessions_of_a_job_may_not_complete_by_themselves(
    channel: grpc.Channel, create_topic: Callable[..., str]
) -> None:
    """What the facade refuses locally, ferry refuses too."""
    topic = create_topic("py-jobs-selfcomplete", 1)
    job = f"py-self-{uuid.uuid4().hex[:12]}"
    spec = source_pb2.SourceSpec(topics=source_pb2.TopicList(topics=[topic]))
    jc = common_pb2.JobCheckpoints(job=job, operator="source", restore_latest=True)
    source = _stubs.SourceServiceStub(channel).Read
    with BidiStream[source_pb2.ReadRequest, source_pb2.ReadResponse](source) as read:
        read.send(source_pb2.ReadRequest(open=source_pb2.OpenSource(spec=spec, job=jc)))
        assert read.recv(what="opened").WhichOneof("kind") == "opened"
        read.send(source_pb2.ReadRequest(checkpoint=common_pb2.Checkpoint(checkpoint_id=1)))
        assert read.recv(what="barrier").WhichOneof("kind") == "barrier"
        read.send(source_pb2.ReadRequest(checkpoint_complete=source_pb2.CheckpointComplete(checkpoint_id=1)))
        end = _end(read)
        assert end.code == grpc.StatusCode.FAILED_PRECONDITION, end

    sink_spec = sink_pb2.SinkSpec(
        delivery_guarantee=sink_pb2.DELIVERY_GUARANTEE_EXACTLY_ONCE,
        transactional_id_prefix=f"{job}-tx",
        default_topic=topic,
    )
    sjc = common_pb2.JobCheckpoints(job=job, operator="sink", restore_latest=True)
    with BidiStream[sink_pb2.WriteRequest, sink_pb2.WriteResponse](_stubs.SinkServiceStub(channel).Write) as write:
        write.send(sink_pb2.WriteRequest(open=sink_pb2.OpenSink(spec=sink_spec, job=sjc)))
        assert write.recv(what="opened").WhichOneof("kind") == "opened"
        write.send(sink_pb2.WriteRequest(checkpoint=common_pb2.Checkpoint(checkpoint_id=1)))
        assert write.recv(what="prepared").WhichOneof("kind") == "prepared"
        write.send(sink_pb2.WriteRequest(commit=sink_pb2.CommitCheckpoint(checkpoint_id=1)))
        end = _end(write)
        assert end.code == grpc.StatusCode.FAILED_PRECONDITION, end

    # And a client-held restore state with a job is refused at open.
    with BidiStream[source_pb2.ReadRequest, source_pb2.ReadResponse](source) as read:
        read.send(source_pb2.ReadRequest(open=source_pb2.OpenSource(spec=spec, job=jc, restore=source_pb2.SourceState())))
        end = _end(read)
        assert end.code == grpc.StatusCode.INVALID_ARGUMENT, end


def _end(stream: BidiStream[Any, Any]) -> Any:
    """The end of a stream, skipping messages before it."""
    while True:
        item = stream.recv_any(what="the end of the stream")
        if not hasattr(item, "WhichOneof"):
            return item


def test_a_job_used_by_two_parallelisms_at_once_is_refused(
    channel: grpc.Channel, create_topic: Callable[..., str]
) -> None:
    topic = create_topic("py-jobs-twopar", 2)
    job = f"py-twopar-{uuid.uuid4().hex[:12]}"
    with _job_source(channel, topic, job, 0, 2):
        with pytest.raises(FerryError) as err:
            _job_source(channel, topic, job, 0, 3)
        assert err.value.code == grpc.StatusCode.FAILED_PRECONDITION
        assert "parallelism" in err.value.message, err.value.message
