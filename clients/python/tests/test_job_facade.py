"""The facade of checkpoints kept by ferry (set_job, JobCoordinator) against
a scripted ferry (in-process SourceService, SinkService and
CheckpointService that act like ferry for a job): what the open messages
carry, what readers and writers expose, the local refusals of client-held
states and of a session's own completion, and the coordinator's order of
barriers, records before them, prepares and the one completion. The real
server is tested in test_stored_checkpoints.py."""

from __future__ import annotations

import queue
import threading
from concurrent import futures
from typing import Any, Callable, Dict, Iterator, List, Optional, Set, Tuple

import grpc
import pytest

import ferry
from ferry.flink import (
    CompletedCheckpoint,
    DeliveryGuarantee,
    FerryError,
    JobCoordinator,
    KafkaRecord,
    KafkaRecordSerializationSchema,
    KafkaSink,
    KafkaSource,
    SimpleStringSchema,
    SinkWriter,
    SourceReader,
)
from ferry.v1 import (
    checkpoint_pb2,
    checkpoint_pb2_grpc,
    common_pb2,
    service_pb2_grpc,
    sink_pb2,
    source_pb2,
)

TOPIC = "t"
JOB = "job-a"
WAIT_S = 10.0


def _rec(partition: int, offset: int) -> common_pb2.Record:
    return common_pb2.Record(topic=TOPIC, partition=partition, offset=offset, value=f"r{partition}-{offset}".encode())


class ScriptedJob(
    service_pb2_grpc.SourceServiceServicer,
    service_pb2_grpc.SinkServiceServicer,
    checkpoint_pb2_grpc.CheckpointServiceServicer,
):
    """ferry for one job, in memory: opens answer ``restored`` and ``note``,
    a barrier follows what the test queued in ``source_send`` and carries
    ``barrier_state``, prepared answers carry one transaction, and
    CompleteCheckpoint checks that every stream that opened answered the id
    (FAILED_PRECONDITION naming operator and index, as ferry), then makes
    each sink answer committed. ``log`` has every request in order."""

    def __init__(self) -> None:
        self.restored = 0
        self.note = ""
        self.barrier_state = source_pb2.SourceState()
        self.source_send: "queue.Queue[source_pb2.ReadResponse]" = queue.Queue()
        self.log: List[Tuple[str, Any]] = []
        self.opens: List[Any] = []
        # (operator, index) -> the ids it answered
        self.answered: Dict[Tuple[str, int], Set[int]] = {}
        self.sinks: List["queue.Queue[Optional[sink_pb2.WriteResponse]]"] = []
        self.lock = threading.Lock()

    def _note(self, kind: str, value: Any) -> None:
        with self.lock:
            self.log.append((kind, value))

    def kinds(self) -> List[str]:
        with self.lock:
            return [k for k, _ in self.log]

    def _serve(
        self,
        request_iterator: Iterator[Any],
        kind: str,
        index: int,
        opened: Any,
        out: "queue.Queue[Any]",
        handle: Callable[[Any, Tuple[str, int]], bool],
    ) -> Iterator[Any]:
        """One stream after its open request: every request goes to
        handle(request, (operator, index)) on a thread until it returns True
        (close) or the client cancels; yields opened, then what was put in out."""
        op = self.opens[-1]
        self._note(kind + "-open", index)
        key = (op.job.operator, index)
        self.answered.setdefault(key, set())

        def drain() -> None:
            try:
                for req in request_iterator:
                    self._note(kind + "-" + req.WhichOneof("kind"), req)
                    if handle(req, key):
                        break
            except grpc.RpcError:
                pass  # the client cancelled
            out.put(None)

        threading.Thread(target=drain, daemon=True).start()
        yield opened
        while True:
            msg = out.get(timeout=WAIT_S)
            if msg is None:
                return
            yield msg

    def _answered(self, key: Tuple[str, int], checkpoint_id: int) -> None:
        with self.lock:
            self.answered[key].add(checkpoint_id)

    def Read(
        self, request_iterator: Iterator[source_pb2.ReadRequest], context: grpc.ServicerContext
    ) -> Iterator[source_pb2.ReadResponse]:
        op = next(request_iterator).open
        self.opens.append(op)
        out: "queue.Queue[Optional[source_pb2.ReadResponse]]" = queue.Queue()

        def handle(req: source_pb2.ReadRequest, key: Tuple[str, int]) -> bool:
            if req.WhichOneof("kind") == "checkpoint":
                while not self.source_send.empty():
                    out.put(self.source_send.get())
                cid = req.checkpoint.checkpoint_id
                self._answered(key, cid)
                out.put(source_pb2.ReadResponse(barrier=source_pb2.Barrier(checkpoint_id=cid, state=self.barrier_state)))
            return bool(req.WhichOneof("kind") == "close")

        opened = source_pb2.ReadResponse(
            opened=source_pb2.SourceOpened(session_id="s", restored_checkpoint_id=self.restored, restore_note=self.note)
        )
        return self._serve(request_iterator, "source", op.reader_index, opened, out, handle)

    def Write(
        self, request_iterator: Iterator[sink_pb2.WriteRequest], context: grpc.ServicerContext
    ) -> Iterator[sink_pb2.WriteResponse]:
        op = next(request_iterator).open
        self.opens.append(op)
        out: "queue.Queue[Optional[sink_pb2.WriteResponse]]" = queue.Queue()
        self.sinks.append(out)

        def handle(req: sink_pb2.WriteRequest, key: Tuple[str, int]) -> bool:
            kind = req.WhichOneof("kind")
            if kind == "checkpoint":
                cid = req.checkpoint.checkpoint_id
                self._answered(key, cid)
                state = sink_pb2.SinkState(
                    transactions=[sink_pb2.PreparedTransaction(transactional_id="p-0-1", checkpoint_id=cid)]
                )
                out.put(sink_pb2.WriteResponse(prepared=sink_pb2.Prepared(checkpoint_id=cid, state=state)))
            elif kind == "close":
                out.put(sink_pb2.WriteResponse(closed=sink_pb2.SinkClosed()))
            return bool(kind == "close")

        opened = sink_pb2.WriteResponse(
            opened=sink_pb2.SinkOpened(session_id="w", restored_checkpoint_id=self.restored, restore_note=self.note)
        )
        return self._serve(request_iterator, "sink", op.writer_index, opened, out, handle)

    def CompleteCheckpoint(
        self, request: checkpoint_pb2.CompleteCheckpointRequest, context: grpc.ServicerContext
    ) -> checkpoint_pb2.CompleteCheckpointResponse:
        self._note("complete", request)
        cid = request.checkpoint_id
        with self.lock:
            missing = sorted(k for k, ids in self.answered.items() if cid not in ids)
        if missing:
            op, index = missing[0]
            context.abort(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"checkpoint {cid} of job {request.job}: operator {op} index {index} has not answered it",
            )
        for sink in self.sinks:
            sink.put(sink_pb2.WriteResponse(committed=sink_pb2.TransactionsCommitted(checkpoint_id=cid)))
        ops: Dict[str, int] = {}
        for op, index in self.answered:
            ops[op] = max(ops.get(op, 0), index + 1)
        return checkpoint_pb2.CompleteCheckpointResponse(checkpoint_id=cid, operators=ops)


@pytest.fixture
def scripted() -> Iterator[Tuple[ScriptedJob, grpc.Channel, str]]:
    servicer = ScriptedJob()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
    stubs: Any = service_pb2_grpc
    cp: Any = checkpoint_pb2_grpc
    stubs.add_SourceServiceServicer_to_server(servicer, server)
    stubs.add_SinkServiceServicer_to_server(servicer, server)
    cp.add_CheckpointServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    channel = ferry.connect(f"127.0.0.1:{port}")
    try:
        yield servicer, channel, f"127.0.0.1:{port}"
    finally:
        channel.close()
        server.stop(grace=None)


def _source(channel: grpc.Channel, index: int = 0, parallelism: int = 1, job: str = JOB) -> SourceReader[Optional[str]]:
    source = (
        KafkaSource.builder()
        .set_channel(channel)
        .set_topics(TOPIC)
        .set_reader(index, parallelism)
        .set_job(job, "src")
        .set_value_only_deserializer(SimpleStringSchema())
        .build()
    )
    return source.open(timeout=WAIT_S)


def _sink(channel: grpc.Channel, job: str = JOB) -> SinkWriter[str]:
    sink = (
        KafkaSink.builder()
        .set_channel(channel)
        .set_record_serializer(
            KafkaRecordSerializationSchema.builder()
            .set_topic("out")
            .set_value_serialization_schema(SimpleStringSchema())
            .build()
        )
        .set_delivery_guarantee(DeliveryGuarantee.EXACTLY_ONCE)
        .set_transactional_id_prefix("p")
        .set_job(job, "snk")
        .build()
    )
    return sink.open(timeout=WAIT_S)


def test_open_carries_the_job_and_reports_the_restore(scripted: Tuple[ScriptedJob, grpc.Channel, str]) -> None:
    server, channel, _ = scripted
    server.restored = 41
    server.note = "restored checkpoint 41 of job job-a"
    with _source(channel, 1, 2) as reader, _sink(channel) as writer:
        for stream in (reader, writer):
            assert stream.job == JOB
            assert stream.restored_checkpoint_id == 41
            assert stream.restore_note == "restored checkpoint 41 of job job-a"
        assert (reader.operator, reader.index, writer.operator, writer.index) == ("src", 1, "snk", 0)
    src_open, snk_open = server.opens
    assert src_open.job == common_pb2.JobCheckpoints(job=JOB, operator="src", restore_latest=True)
    assert not src_open.HasField("restore")
    assert snk_open.job == common_pb2.JobCheckpoints(job=JOB, operator="snk", restore_latest=True)
    assert not snk_open.HasField("restore")


def test_restore_latest_false_and_sessions_without_a_job(scripted: Tuple[ScriptedJob, grpc.Channel, str]) -> None:
    server, channel, _ = scripted
    source = (
        KafkaSource.builder().set_channel(channel).set_topics(TOPIC).set_job(JOB, "src", restore_latest=False).build()
    )
    with source.open(timeout=WAIT_S) as reader:
        assert reader.restored_checkpoint_id == 0
    assert server.opens[0].job == common_pb2.JobCheckpoints(job=JOB, operator="src", restore_latest=False)
    with KafkaSource.builder().set_channel(channel).set_topics(TOPIC).build().open(timeout=WAIT_S) as plain:
        assert plain.job is None and plain.operator is None
    assert not server.opens[1].HasField("job")


def test_a_job_refuses_client_held_state_and_empty_names(scripted: Tuple[ScriptedJob, grpc.Channel, str]) -> None:
    server, channel, _ = scripted
    source = KafkaSource.builder().set_channel(channel).set_topics(TOPIC).set_job(JOB, "src").build()
    with pytest.raises(ValueError, match="restore_state is not used by a source with set_job"):
        source.open(restore_state=source_pb2.SourceState())
    sink = (
        KafkaSink.builder()
        .set_channel(channel)
        .set_record_serializer(
            KafkaRecordSerializationSchema.builder().set_topic("o").set_value_serialization_schema(SimpleStringSchema()).build()
        )
        .set_job(JOB, "snk")
        .build()
    )
    with pytest.raises(ValueError, match="restore_state is not used by a sink with set_job"):
        sink.open(restore_state=b"")
    assert server.opens == []  # refused before any call
    with pytest.raises(ValueError, match="job must be a non-empty name"):
        KafkaSource.builder().set_job("", "src")
    with pytest.raises(ValueError, match="operator must be a non-empty name"):
        KafkaSink.builder().set_job(JOB, "")
    with pytest.raises(ValueError, match="job must be a non-empty name"):
        JobCoordinator("", channel)


def test_a_session_of_a_job_does_not_complete_by_itself(scripted: Tuple[ScriptedJob, grpc.Channel, str]) -> None:
    server, channel, _ = scripted
    with _source(channel) as reader, _sink(channel) as writer:
        reader.checkpoint(1)
        writer.prepare(1)
        with pytest.raises(FerryError) as err:
            reader.notify_checkpoint_complete(1)
        assert err.value.code == grpc.StatusCode.FAILED_PRECONDITION
        assert "JobCoordinator" in err.value.message and "'src'" in err.value.message
        with pytest.raises(FerryError) as err:
            writer.commit(1)
        assert err.value.code == grpc.StatusCode.FAILED_PRECONDITION
        assert "JobCoordinator" in err.value.message and "job 'job-a'" in err.value.message
        # Both sessions still work: nothing was sent.
        reader.checkpoint(2)
        writer.prepare(2)
    kinds = server.kinds()
    assert "source-checkpoint_complete" not in kinds and "sink-commit" not in kinds


def test_checkpoint_hands_the_records_before_the_barriers_to_process_then_prepares_and_completes(
    scripted: Tuple[ScriptedJob, grpc.Channel, str]
) -> None:
    server, channel, _ = scripted
    server.barrier_state = source_pb2.SourceState(
        splits=[source_pb2.SplitState(topic=TOPIC, partition=0, next_offset=5)]
    )
    with _source(channel) as reader, _sink(channel) as writer:
        # Records the server sent before the barrier, none taken yet.
        server.source_send.put(source_pb2.ReadResponse(records=source_pb2.RecordBatch(records=[_rec(0, 3), _rec(0, 4)])))
        got: List[KafkaRecord[Any]] = []

        def process(records: List[KafkaRecord[Any]]) -> None:
            got.extend(records)
            writer.write_batch(f"out-{r.value}" for r in records)

        done = JobCoordinator(JOB, channel).checkpoint(7, readers=[reader], writers=[writer], process=process)
        assert done == CompletedCheckpoint(7, {"src": 1, "snk": 1})
        assert [(r.partition, r.offset) for r in got] == [(0, 3), (0, 4)]
        assert reader.take_buffered() == []
        assert writer.await_committed(7) == 7
        assert writer.committed_checkpoint_id == 7
        # The job's stored state is the barrier's, not moved back.
        server.source_send.put(source_pb2.ReadResponse(records=source_pb2.RecordBatch(records=[_rec(0, 5)])))
        assert [(s.partition, s.next_offset) for s in reader.checkpoint(8).splits] == [(0, 5)]
        assert [r.offset for r in reader.take_buffered()] == [5]
    log = server.log
    kinds = [k for k, _ in log]
    # The processed records went in a batch before the sink's checkpoint,
    # and the completion came after every answer.
    i_batch = kinds.index("sink-records")
    i_prepare = kinds.index("sink-checkpoint")
    i_complete = kinds.index("complete")
    assert kinds.index("source-checkpoint") < i_batch < i_prepare < i_complete
    assert [r.value for r in log[i_batch][1].records.records] == [b"out-r0-3", b"out-r0-4"]
    request = log[i_complete][1]
    assert (request.job, request.checkpoint_id, request.cluster) == (JOB, 7, "")
    assert kinds.count("complete") == 1


def test_checkpoint_without_process_refuses_records_before_a_barrier(
    scripted: Tuple[ScriptedJob, grpc.Channel, str]
) -> None:
    server, channel, _ = scripted
    with _source(channel) as reader, _sink(channel) as writer:
        server.source_send.put(source_pb2.ReadResponse(records=source_pb2.RecordBatch(records=[_rec(0, 0)])))
        with pytest.raises(FerryError) as err:
            JobCoordinator(JOB, channel).checkpoint(1, readers=[reader], writers=[writer])
        assert err.value.code == grpc.StatusCode.FAILED_PRECONDITION
        assert "reader 0 of operator 'src'" in err.value.message and "process=" in err.value.message
        # The records stay for iteration; no writer prepared, nothing completed.
        assert [r.offset for r in reader.poll(10)] == [0]
    kinds = server.kinds()
    assert "sink-checkpoint" not in kinds and "complete" not in kinds


def test_checkpoint_refuses_streams_of_another_job(scripted: Tuple[ScriptedJob, grpc.Channel, str]) -> None:
    server, channel, _ = scripted
    with _source(channel, job="other") as reader:
        with pytest.raises(ValueError, match="reader 0 of operator 'src' is not a session of job 'job-a'"):
            JobCoordinator(JOB, channel).checkpoint(1, readers=[reader])
    assert "source-checkpoint" not in server.kinds()


def test_complete_reports_a_stream_that_did_not_answer(scripted: Tuple[ScriptedJob, grpc.Channel, str]) -> None:
    server, channel, address = scripted
    with _source(channel, 0, 2) as r0, _source(channel, 1, 2) as r1:
        r0.checkpoint(3)
        with JobCoordinator(JOB, address, cluster="main", timeout=WAIT_S) as coordinator:
            with pytest.raises(FerryError) as err:
                coordinator.complete(3)
            assert err.value.code == grpc.StatusCode.FAILED_PRECONDITION
            assert "operator src index 1" in err.value.message
            r1.checkpoint(3)
            assert coordinator.complete(3).checkpoint_id == 3
    requests = [v for k, v in server.log if k == "complete"]
    assert [(r.job, r.checkpoint_id, r.cluster) for r in requests] == [(JOB, 3, "main")] * 2


def test_await_committed_is_for_writers_of_a_job(scripted: Tuple[ScriptedJob, grpc.Channel, str]) -> None:
    _, channel, _ = scripted
    sink = (
        KafkaSink.builder()
        .set_channel(channel)
        .set_record_serializer(
            KafkaRecordSerializationSchema.builder().set_topic("o").set_value_serialization_schema(SimpleStringSchema()).build()
        )
        .build()
    )
    with sink.open(timeout=WAIT_S) as writer:
        with pytest.raises(FerryError, match="await_committed is for writers of a job"):
            writer.await_committed(1)
