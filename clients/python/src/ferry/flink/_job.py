"""What the source and the sink share for checkpoints kept by ferry
(``set_job``): the open message's JobCheckpoints and the local refusals of a
client-held state and of a session's own completion."""

from __future__ import annotations

from typing import Optional, Union

import grpc

from ferry.flink.errors import FerryError
from ferry.v1 import common_pb2, sink_pb2, source_pb2


def job_checkpoints(job: str, operator: str, restore_latest: bool) -> common_pb2.JobCheckpoints:
    """The JobCheckpoints of ``set_job`` on either builder; ValueError for an
    empty job or operator."""
    if not job:
        raise ValueError("set_job: job must be a non-empty name")
    if not operator:
        raise ValueError("set_job: operator must be a non-empty name (Flink's operator uid)")
    return common_pb2.JobCheckpoints(job=job, operator=operator, restore_latest=restore_latest)


def refuse_restore_state(restore_state: object, kind: str) -> None:
    """A job session restores from what ferry keeps, never from a state
    the client passes."""
    if restore_state is not None:
        raise ValueError(
            f"restore_state is not used by a {kind} with set_job: ferry keeps the job's "
            "checkpoints, and restore_latest resumes from the newest completed one"
        )


def refuse_local_completion(job: common_pb2.JobCheckpoints, call: str) -> FerryError:
    """The error of a completion sent by a session of a job, whose
    checkpoints complete once for the whole job."""
    return FerryError(
        grpc.StatusCode.FAILED_PRECONDITION,
        f"{call} is not used by a session of job {job.job!r} (operator {job.operator!r}): "
        "its checkpoints complete once for the whole job, through "
        "ferry.flink.JobCoordinator(job, channel).complete(checkpoint_id) (or .checkpoint)",
    )


class JobSession:
    """What readers and writers tell of the job they belong to (``set_job``
    on their builder); the base of :class:`~ferry.flink.SourceReader` and
    :class:`~ferry.flink.SinkWriter`, which set the attributes."""

    _job: Optional[common_pb2.JobCheckpoints]
    _index: int
    opened: Union[source_pb2.SourceOpened, sink_pb2.SinkOpened]

    @property
    def job(self) -> Optional[str]:
        """The job of ``set_job``; None for a session whose states the
        client holds."""
        return self._job.job if self._job is not None else None

    @property
    def operator(self) -> Optional[str]:
        """The operator of ``set_job`` (Flink's operator uid), if any."""
        return self._job.operator if self._job is not None else None

    @property
    def index(self) -> int:
        """This reader's or writer's index among those of its source or sink."""
        return self._index

    @property
    def restored_checkpoint_id(self) -> int:
        """With ``set_job(..., restore_latest=True)``: the completed
        checkpoint the session restored (a reader resumed from its states, a
        writer committed its transactions at open), 0 for a fresh start.
        Continue with larger checkpoint ids (the next one is this + 1)."""
        return self.opened.restored_checkpoint_id

    @property
    def restore_note(self) -> str:
        """With ``set_job(..., restore_latest=True)``: what ferry restored,
        or why nothing (a job it keeps nothing of)."""
        return self.opened.restore_note
