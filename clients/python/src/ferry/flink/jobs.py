"""Checkpoints kept by ferry: :class:`JobCoordinator`, what Flink's job
manager does for the readers and writers of a job (``set_job`` on the
builders), and :class:`CompletedCheckpoint`, its answer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Type, Union, cast

import grpc

from ferry.flink.errors import FerryError
from ferry.flink.records import KafkaRecord
from ferry.flink.sink import SinkWriter
from ferry.flink.source import SourceReader
from ferry.v1 import checkpoint_pb2, checkpoint_pb2_grpc

# The generated gRPC stubs carry no type hints.
_stubs: Any = checkpoint_pb2_grpc


@dataclass(frozen=True)
class CompletedCheckpoint:
    """A checkpoint of a job that ferry wrote as complete (durably)."""

    checkpoint_id: int
    operators: Dict[str, int]
    """The job's operators and their parallelism at this checkpoint."""


class JobCoordinator:
    """Completes the checkpoints of a job whose readers and writers were
    built with ``set_job`` (Flink's checkpoint coordinator, with ferry as
    the checkpoint storage). The client keeps nothing: ferry stores each
    reader's barrier state and each writer's prepared transactions before it
    answers them, and a checkpoint completes once, for the whole job, by
    :meth:`complete`; only then do the job's sessions, on whichever ferry
    serves them, commit offsets and transactions. A crash before the
    completion means the checkpoint never happened; after it, a restore
    (``restore_latest``) finishes the commits.

    ::

        coordinator = JobCoordinator("my-job", channel)
        n = max(reader.restored_checkpoint_id, writer.restored_checkpoint_id)
        while True:
            writer.write_batch(transform(r.value) for r in reader.poll(500))
            n += 1
            coordinator.checkpoint(n, readers=[reader], writers=[writer],
                                   process=lambda records: writer.write_batch(
                                       transform(r.value) for r in records))

    Args:
        job: The job's name, as given to ``set_job``.
        channel_or_address: A channel to any ferry (from
            :func:`ferry.connect`; the coordinator never closes it), or a
            ``host:port`` for which the coordinator opens a plaintext channel
            and closes it in :meth:`close`.
        cluster: The name of the ferry cluster whose checkpoint topic keeps
            the job; None is the server's default cluster.
        timeout: Seconds a :meth:`complete` call may take; None waits
            forever.
    """

    def __init__(
        self,
        job: str,
        channel_or_address: Union[grpc.Channel, str],
        cluster: Optional[str] = None,
        *,
        timeout: Optional[float] = None,
    ) -> None:
        if not job:
            raise ValueError("JobCoordinator: job must be a non-empty name")
        self.job = job
        self.cluster = cluster
        self._timeout = timeout
        if isinstance(channel_or_address, str):
            # Imported here: the ferry package imports this one last.
            from ferry import connect

            self._channel = connect(channel_or_address)
            self._owns_channel = True
        else:
            self._channel = channel_or_address
            self._owns_channel = False
        self._stub = _stubs.CheckpointServiceStub(self._channel)

    def complete(self, checkpoint_id: int, *, timeout: Optional[float] = None) -> CompletedCheckpoint:
        """Completes checkpoint ``checkpoint_id`` of the job
        (``CheckpointService.CompleteCheckpoint``), after every reader and
        writer of the job answered it; returns once ferry wrote the
        completion durably. Completing a completed id answers the same
        again, so a call that failed with UNAVAILABLE (the ferry died, the
        completion may or may not be written) may be retried, on any ferry.

        Raises FerryError: FAILED_PRECONDITION when a stream has not
        answered the checkpoint (the message names operator and index) or
        the id is older than the last completed one; NOT_FOUND for a job
        ferry keeps nothing of; UNAVAILABLE when the call or Kafka failed.

        Args:
            timeout: Seconds this call may take; None uses the
                coordinator's.
        """
        request = checkpoint_pb2.CompleteCheckpointRequest(job=self.job, checkpoint_id=checkpoint_id)
        if self.cluster is not None:
            request.cluster = self.cluster
        try:
            response = self._stub.CompleteCheckpoint(
                request, timeout=timeout if timeout is not None else self._timeout
            )
        except grpc.RpcError as err:
            call = cast(Any, err)
            raise FerryError(call.code(), call.details() or "") from None
        return CompletedCheckpoint(response.checkpoint_id, dict(response.operators))

    def checkpoint(
        self,
        checkpoint_id: int,
        readers: Sequence[SourceReader[Any]] = (),
        writers: Sequence[SinkWriter[Any]] = (),
        process: Optional[Callable[[List[KafkaRecord[Any]]], None]] = None,
    ) -> CompletedCheckpoint:
        """Takes checkpoint ``checkpoint_id`` of every given stream of the
        job and completes it, as Flink's job manager does:

        1. asks every reader for its barrier and waits for them (ferry
           stored each reader's state before answering);
        2. the records that arrived before a reader's barrier and were not
           taken yet belong to this checkpoint (its stored state is past
           them): they go to ``process``, reader by reader, which must write
           what it makes of them to the writers;
        3. every writer prepares (flushes; ferry stored its state before
           answering);
        4. :meth:`complete`.

        Call it between polls, when every record taken from the readers has
        been written. The writers' commits follow the completion
        asynchronously (:meth:`SinkWriter.await_committed`). The id must be
        larger than the last completed one: after a restore,
        ``restored_checkpoint_id + 1`` or more.

        Raises FerryError as the readers, the writers and :meth:`complete`
        do, and FerryError(FAILED_PRECONDITION) without preparing any writer
        when a reader holds records before its barrier and ``process`` is
        None. ValueError when a stream is not a session of this job.
        """
        streams: List[Union[SourceReader[Any], SinkWriter[Any]]] = [*readers, *writers]
        for stream in streams:
            if stream.job != self.job:
                kind = "reader" if isinstance(stream, SourceReader) else "writer"
                raise ValueError(
                    f"{kind} {stream.index} of operator {stream.operator!r} is not a session of job "
                    f"{self.job!r} (its job: {stream.job!r}; use set_job on its builder)"
                )
        for reader in readers:
            reader._request_checkpoint(checkpoint_id)
        for reader in readers:
            reader._await_barrier(checkpoint_id)
        if process is None:
            for reader in readers:
                if reader._has_buffered():
                    raise FerryError(
                        grpc.StatusCode.FAILED_PRECONDITION,
                        f"reader {reader.index} of operator {reader.operator!r} holds records that came "
                        f"before the barrier of checkpoint {checkpoint_id}; they belong to it and must "
                        "reach the writers before the writers prepare: pass process= to "
                        "JobCoordinator.checkpoint (the checkpoint is not completed)",
                    )
        else:
            for reader in readers:
                records = reader.take_buffered()
                if records:
                    process(records)
        for writer in writers:
            writer._request_prepare(checkpoint_id)
        for writer in writers:
            writer._await_prepared(checkpoint_id)
        return self.complete(checkpoint_id)

    def close(self) -> None:
        """Closes the channel if the coordinator opened it."""
        if self._owns_channel:
            self._channel.close()

    def __enter__(self) -> "JobCoordinator":
        return self

    def __exit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException], tb: Any) -> None:
        self.close()
