"""The source: :class:`KafkaSource`, its builder and :class:`SourceReader`,
one reader session."""

from __future__ import annotations

import itertools
import sys
from collections import deque
from dataclasses import dataclass
from datetime import timedelta
from typing import (
    Any,
    Callable,
    Deque,
    Dict,
    Generic,
    Iterable,
    Iterator,
    List,
    Optional,
    Set,
    Tuple,
    TypeVar,
    Union,
    cast,
)

import grpc
from google.protobuf.internal.containers import RepeatedCompositeFieldContainer

from ferry.flink._job import JobSession, job_checkpoints, refuse_local_completion, refuse_restore_state
from ferry.flink._stream import _Builder, _Endpoint, _NoMessage, _Session, _stubs
from ferry.flink.errors import FerryError
from ferry.flink.offsets import KafkaOffsetsInitializer
from ferry.flink.records import (
    IdleEvent,
    KafkaRecord,
    KafkaTopicPartition,
    OffsetsCommittedEvent,
    SourceEvent,
    SplitFinishedEvent,
    SplitsAddedEvent,
    WatermarkEvent,
    _HAS_FIELD,
    _is_raw,
    _LazyKafkaRecord,
    _MakingLazyKafkaRecord,
    _materialize,
    _record_converter,
    _value_converter,
)
from ferry.flink.schemas import DeserializationSchema, RawBytesSchema
from ferry.flink.watermarks import WatermarkStrategy
from ferry.v1 import common_pb2, source_pb2

T = TypeVar("T")
U = TypeVar("U")


def _alone_count() -> int:
    """sys.getrefcount of an object that only a generator's local variable
    references, as SourceReader._lazy_records sees its records (measured: it
    differs between Python versions)."""

    def generator() -> Iterator[int]:
        record = object()
        yield sys.getrefcount(record)

    return next(generator())


_ALONE = _alone_count()


class KafkaSource(Generic[T]):
    """A built source; :meth:`open` starts one reader session."""

    def __init__(
        self,
        spec: source_pb2.SourceSpec,
        deserializer: DeserializationSchema[T],
        reader_index: int,
        parallelism: int,
        endpoint: _Endpoint,
        job: Optional[common_pb2.JobCheckpoints] = None,
    ) -> None:
        self._spec = spec
        self._deserializer = deserializer
        self._reader_index = reader_index
        self._parallelism = parallelism
        self._endpoint = endpoint
        self._job = job

    @staticmethod
    def builder() -> "KafkaSourceBuilder[Optional[bytes]]":
        return KafkaSourceBuilder()

    @property
    def spec(self) -> source_pb2.SourceSpec:
        """A copy of the SourceSpec this source opens with."""
        out = source_pb2.SourceSpec()
        out.CopyFrom(self._spec)
        return out

    def with_watermark_strategy(self, strategy: WatermarkStrategy) -> "KafkaSource[T]":
        """This source with another watermark strategy: what Flink's
        ``env.from_source(source, strategy, name)`` gives a source, for code
        that builds the source first and picks the strategy where it reads
        it. The same as :meth:`KafkaSourceBuilder.set_watermark_strategy`."""
        spec = self.spec
        spec.watermark_strategy.CopyFrom(strategy.to_proto())
        return KafkaSource(
            spec, self._deserializer, self._reader_index, self._parallelism, self._endpoint, self._job
        )

    def open(
        self,
        restore_state: Union[source_pb2.SourceState, bytes, None] = None,
        *,
        timeout: Optional[float] = None,
    ) -> "SourceReader[T]":
        """Opens a reader session and waits for the server's ``opened``.

        Args:
            restore_state: A state from :meth:`SourceReader.checkpoint` (the
                union of all readers' states of one checkpoint), or its
                serialized bytes; None starts from the starting offsets.
                Not with :meth:`KafkaSourceBuilder.set_job`, where ferry keeps
                the states (ValueError).
            timeout: Seconds any single wait for the server may take; None
                waits forever. A timeout raises FerryError(DEADLINE_EXCEEDED).
        """
        open_msg = source_pb2.OpenSource(
            spec=self._spec, reader_index=self._reader_index, parallelism=self._parallelism
        )
        if self._job is not None:
            refuse_restore_state(restore_state, "source")
            open_msg.job.CopyFrom(self._job)
        return self._endpoint.open(
            open_msg.restore,
            restore_state,
            lambda channel, owned: SourceReader(channel, owned, open_msg, self._deserializer, timeout),
        )


class KafkaSourceBuilder(_Builder, Generic[T]):
    """Flink's KafkaSourceBuilder. Every setter returns the builder."""

    def __init__(self) -> None:
        super().__init__()
        self._topics: Optional[List[str]] = None
        self._topic_pattern: Optional[str] = None
        self._partitions: Optional[List[Tuple[str, int]]] = None
        self._group_id: Optional[str] = None
        self._starting: Optional[KafkaOffsetsInitializer] = None
        self._boundedness = source_pb2.BOUNDEDNESS_CONTINUOUS_UNBOUNDED
        self._stopping: Optional[KafkaOffsetsInitializer] = None
        self._deserializer: Any = RawBytesSchema()
        self._watermarks: Optional[WatermarkStrategy] = None
        self._reader_index = 0
        self._parallelism = 1
        self._job: Optional[common_pb2.JobCheckpoints] = None

    def _ensure_subscriber_is_none(self, attempting: str) -> None:
        """Flink's check: one subscription per builder (ValueError with
        Flink's message)."""
        if self._topics is not None:
            subscriber = "TopicListSubscriber"
        elif self._topic_pattern is not None:
            subscriber = "TopicPatternSubscriber"
        elif self._partitions is not None:
            subscriber = "PartitionSetSubscriber"
        else:
            return
        raise ValueError(
            f"Cannot use {attempting} for consumption because a {subscriber} is already set for consumption."
        )

    def set_topics(self, *topics: Union[str, Iterable[str]]) -> "KafkaSourceBuilder[T]":
        """Subscribes to these topics (names, or iterables of names).
        ValueError when a subscription is set already (Flink's message)."""
        self._ensure_subscriber_is_none("topics")
        names: List[str] = []
        for t in topics:
            if isinstance(t, str):
                names.append(t)
            else:
                names.extend(t)
        self._topics = names
        return self

    def set_topic_pattern(self, pattern: str) -> "KafkaSourceBuilder[T]":
        """A Go RE2 pattern matched against whole topic names. ValueError
        when a subscription is set already (Flink's message)."""
        self._ensure_subscriber_is_none("topic pattern")
        self._topic_pattern = pattern
        return self

    def set_partitions(self, partitions: Iterable[Tuple[str, int]]) -> "KafkaSourceBuilder[T]":
        """These partitions: PyFlink's :class:`KafkaTopicPartition` objects or
        ``(topic, partition)`` tuples. ValueError when a subscription is set
        already (Flink's message)."""
        self._ensure_subscriber_is_none("partitions")
        self._partitions = sorted({(t, p) for t, p in partitions})
        return self

    def set_group_id(self, group_id: str) -> "KafkaSourceBuilder[T]":
        self._group_id = group_id
        return self

    def set_starting_offsets(self, initializer: KafkaOffsetsInitializer) -> "KafkaSourceBuilder[T]":
        self._starting = initializer
        return self

    def set_bounded(self, stopping: KafkaOffsetsInitializer) -> "KafkaSourceBuilder[T]":
        """Stop at these offsets and end the input (iteration ends)."""
        self._boundedness = source_pb2.BOUNDEDNESS_BOUNDED
        self._stopping = stopping
        return self

    def set_unbounded(self, stopping: KafkaOffsetsInitializer) -> "KafkaSourceBuilder[T]":
        """Continuous mode that still stops every split at these offsets."""
        self._boundedness = source_pb2.BOUNDEDNESS_CONTINUOUS_UNBOUNDED
        self._stopping = stopping
        return self

    def set_value_only_deserializer(
        self, schema: DeserializationSchema[U]
    ) -> "KafkaSourceBuilder[U]":
        self._deserializer = schema
        return cast("KafkaSourceBuilder[U]", self)

    def set_watermark_strategy(self, strategy: WatermarkStrategy) -> "KafkaSourceBuilder[T]":
        self._watermarks = strategy
        return self

    def set_reader(self, index: int, parallelism: int) -> "KafkaSourceBuilder[T]":
        """This reader's index in [0, parallelism)."""
        self._reader_index = index
        self._parallelism = parallelism
        return self

    def set_job(self, job: str, operator: str, restore_latest: bool = True) -> "KafkaSourceBuilder[T]":
        """Checkpoints kept by ferry: the readers are streams of operator
        ``operator`` (Flink's operator uid) of job ``job``. ferry stores each
        barrier's state before it answers, the job's checkpoints complete
        through :class:`~ferry.flink.JobCoordinator` (not
        :meth:`SourceReader.notify_checkpoint_complete`), and with
        ``restore_latest`` (the default) a reader resumes from the newest
        completed checkpoint of the job: the union of the operator's reader
        states, whatever the parallelism was (``reader.restored_checkpoint_id``
        says which; 0 and ``reader.restore_note`` when nothing was stored,
        a fresh start from the starting offsets). The client keeps nothing.
        """
        self._job = job_checkpoints(job, operator, restore_latest)
        return self

    def build(self) -> KafkaSource[T]:
        """The source, after Flink's checks of ``KafkaSourceBuilder.build()``,
        with its messages (ValueError): a subscription is required, and a
        group id (:meth:`set_group_id` or the property ``group.id``) when
        offsets are committed by an explicit ``enable.auto.commit`` or
        ``commit.offsets.on.checkpoint`` of true, or read with
        ``committed_offsets``. Unlike Flink, bootstrap servers are not
        required (the server's default cluster) and the deserializer defaults
        to :class:`RawBytesSchema`. The server checks the rest at open."""
        if self._topics is None and self._topic_pattern is None and self._partitions is None:
            raise ValueError(
                "No subscribe mode is specified, should be one of topics, topic pattern and partition set."
            )
        has_group = bool(self._group_id) or "group.id" in self._properties
        if not has_group and any(
            self._properties.get(k, "").strip().lower() == "true"
            for k in ("enable.auto.commit", "commit.offsets.on.checkpoint")
        ):
            raise ValueError("Property group.id is required when offset commit is enabled")
        if not has_group and any(
            init is not None and init.to_proto().HasField("committed") for init in (self._starting, self._stopping)
        ):
            raise ValueError("Property group.id is required when using committed offset for offsets initializer")
        endpoint = self._endpoint()
        spec = source_pb2.SourceSpec(boundedness=self._boundedness, properties=self._properties)
        self._fill_cluster(spec.cluster)
        if self._topics is not None:
            spec.topics.CopyFrom(source_pb2.TopicList(topics=self._topics))
        if self._topic_pattern is not None:
            spec.topic_pattern = self._topic_pattern
        if self._partitions is not None:
            spec.partitions.CopyFrom(
                source_pb2.PartitionSet(
                    partitions=[
                        common_pb2.TopicPartition(topic=t, partition=p) for t, p in self._partitions
                    ]
                )
            )
        if self._group_id is not None:
            spec.group_id = self._group_id
        if self._starting is not None:
            spec.starting_offsets.CopyFrom(self._starting.to_proto())
        if self._stopping is not None:
            spec.stopping_offsets.CopyFrom(self._stopping.to_proto())
        if self._watermarks is not None:
            spec.watermark_strategy.CopyFrom(self._watermarks.to_proto())
        return KafkaSource(
            spec,
            cast(DeserializationSchema[T], self._deserializer),
            self._reader_index,
            self._parallelism,
            endpoint,
            self._job,
        )


@dataclass(frozen=True)
class _BarrierMark:
    """In the pending queue: a checkpoint's barrier arrived here."""

    checkpoint_id: int


# The records of one server message, in the pending queue.
# A batch is the repeated field of the server message itself: a list of its
# records would keep a wrapper object per record alive (objects the garbage
# collector then goes through), where these are made as they are taken.
_Batch = RepeatedCompositeFieldContainer[common_pb2.Record]
_BATCH = type(source_pb2.RecordBatch().records)


class SourceReader(_Session[source_pb2.ReadRequest, source_pb2.ReadResponse], JobSession, Generic[T]):
    """One source session (a Flink SourceReader). Iterate it for records; it is
    a context manager that closes the session. In a job (``set_job``):
    ``restored_checkpoint_id``, ``restore_note``, ``job``, ``operator``,
    ``index`` (:class:`~ferry.flink._job.JobSession`)."""

    def __init__(
        self,
        channel: grpc.Channel,
        owns_channel: bool,
        open_msg: source_pb2.OpenSource,
        deserializer: DeserializationSchema[T],
        timeout: Optional[float],
    ) -> None:
        self._deserializer = deserializer
        self._convert = _record_converter(deserializer.deserialize)
        self._pending: Deque[Union[_Batch, SourceEvent, _BarrierMark]] = deque()
        # The cursor in the batch at the front of _pending (0 when no batch is there).
        self._pos = 0
        self._barriers: Dict[int, source_pb2.SourceState] = {}
        # Barriers whose position iteration has not passed yet, and the
        # completions waiting for that.
        self._unpassed: Set[int] = set()
        self._deferred_complete: List[int] = []
        self._ended = False
        self._job: Optional[common_pb2.JobCheckpoints] = open_msg.job if open_msg.HasField("job") else None
        self._index = open_msg.reader_index
        self.watermark: Optional[int] = None
        """The latest watermark the server sent (ms), if any."""
        first = self._start(
            channel,
            owns_channel,
            _stubs.SourceServiceStub(channel).Read,
            source_pb2.ReadRequest(open=open_msg),
            timeout,
        )
        self.opened: source_pb2.SourceOpened = first.opened

    # -- info

    @property
    def session_id(self) -> str:
        return self.opened.session_id

    @property
    def bounded(self) -> bool:
        return self.opened.bounded

    @property
    def splits(self) -> List[KafkaTopicPartition]:
        """The splits this reader owns at open (``(topic, partition)`` tuples)."""
        return [KafkaTopicPartition(s.topic, s.partition) for s in self.opened.splits]

    # -- reading
    #
    # The pending queue holds, in stream order, batches (the records of one
    # server message, _Batch), events and barrier marks. The batch at the
    # front is taken from index self._pos on; a batch leaves the queue with
    # its last record, so every batch in the queue has a record left.

    def _pull(self) -> None:
        """Reads one server message into the pending queue."""
        msg = self._stream.recv(self._timeout)
        if msg is None:
            self._ended = True
            return
        kind = msg.WhichOneof("kind")
        if kind == "records":
            records = msg.records.records
            if records:
                self._pending.append(records)
        elif kind == "barrier":
            cid = msg.barrier.checkpoint_id
            # A job's barrier state is what ferry stored; a client-held one
            # is moved back to the iterator's position.
            state = msg.barrier.state
            self._barriers[cid] = state if self._job is not None else self._iterator_state(state)
            if self._pending:
                self._unpassed.add(cid)
                self._pending.append(_BarrierMark(cid))
        elif kind == "watermark":
            self.watermark = msg.watermark.timestamp_ms
            self._pending.append(WatermarkEvent(msg.watermark.timestamp_ms))
        elif kind == "idle":
            self._pending.append(IdleEvent())
        elif kind == "splits_added":
            self._pending.append(
                SplitsAddedEvent(
                    [(s.topic, s.partition, s.next_offset) for s in msg.splits_added.splits]
                )
            )
        elif kind == "split_finished":
            sf = msg.split_finished
            self._pending.append(SplitFinishedEvent(sf.topic, sf.partition, sf.stopping_offset))
        elif kind == "committed":
            c = msg.committed
            self._pending.append(OffsetsCommittedEvent(c.checkpoint_id, c.error, c.failed_commits))
        elif kind == "end_of_input":
            pass  # the stream ends OK next
        # "opened" twice cannot happen; unknown kinds from a newer server are ignored.

    def _iterator_state(self, state: source_pb2.SourceState) -> source_pb2.SourceState:
        """The barrier's state moved back to the first buffered record of each split."""
        first: Dict[Tuple[str, int], int] = {}
        for i, item in enumerate(self._pending):
            if isinstance(item, _BATCH):
                for rec in itertools.islice(item, self._pos if i == 0 else 0, None):
                    first.setdefault((rec.topic, rec.partition), rec.offset)
        out = source_pb2.SourceState()
        out.CopyFrom(state)
        for split in out.splits:
            off = first.get((split.topic, split.partition))
            if off is not None and off < split.next_offset:
                split.next_offset = off
        return out

    def _head(self, wait: bool = True) -> Union[_Batch, SourceEvent, None]:
        """The front of the pending queue, left there, after passing the
        barrier marks before it. When nothing is buffered: pulls from the
        server if wait, else returns None. None at the end."""
        pending = self._pending
        while True:
            if pending:
                item = pending[0]
                if not isinstance(item, _BarrierMark):
                    return item
                pending.popleft()
                self._pass_barrier(item.checkpoint_id)
            elif self._ended or self._closed or not wait:
                return None
            else:
                self._pull()

    def _take(self, batch: _Batch) -> common_pb2.Record:
        """The record at the cursor of batch, the front of the queue; moves
        the cursor past it (and the batch off the queue after its last)."""
        pos = self._pos
        if pos + 1 < len(batch):
            self._pos = pos + 1
        else:
            self._pending.popleft()
            self._pos = 0
        return batch[pos]

    def _pass_barrier(self, checkpoint_id: int) -> None:
        self._unpassed.discard(checkpoint_id)
        ready = [c for c in self._deferred_complete if c <= checkpoint_id]
        self._deferred_complete = [c for c in self._deferred_complete if c > checkpoint_id]
        for c in ready:
            self._send_complete(c)

    def _records(self, convert: Callable[[common_pb2.Record], U]) -> Iterator[U]:
        """convert(record) for each record in stream order, events dropped;
        ends at the end of a bounded input. The loop of __iter__ and values()."""
        pending = self._pending
        while True:
            # The common case, a batch at the front, inline: this runs once per record.
            batch = pending[0] if pending else None
            if not isinstance(batch, _BATCH):
                head = self._head()
                if head is None:
                    return
                if not isinstance(head, _BATCH):
                    pending.popleft()  # an event
                    continue
                batch = head
            pos = self._pos
            if pos + 1 < len(batch):
                self._pos = pos + 1
            else:
                pending.popleft()
                self._pos = 0
            # The cursor moves past the record before it is converted, as in
            # _take: a deserializer that raises does not make it come again.
            yield convert(batch[pos])

    def __iter__(self) -> Iterator[KafkaRecord[T]]:
        """Records in stream order (events are dropped); ends at the end of a bounded input."""
        return self._lazy_records()

    def _lazy_records(self) -> Iterator[KafkaRecord[T]]:
        """The loop of _records, where the records may be lazy.

        A lazy record (_LazyKafkaRecord) has its value, and reads its other
        fields from the wire record when one is first used: a loop that uses
        only the values never reads them. But until then it holds the whole
        server message it came in, so it must not outlive its use in the
        loop. Each lazy record is looked at two records later, when a loop
        has let go of it: if it is still referenced (the loop kept it), it
        is materialized (it becomes a plain KafkaRecord, which drops the
        message). Records come lazy as long as the last one looked at was
        neither kept nor had a field used; else they come plain, as
        _records gives them (reading the fields at once costs less than
        reading them on first use), but for the first of each message, so
        that a loop that changes is seen."""
        pending = self._pending
        convert = self._convert
        deserialize = self._deserializer.deserialize
        raw = _is_raw(deserialize)
        has = _HAS_FIELD
        making: Any = _MakingLazyKafkaRecord
        lazy = _LazyKafkaRecord
        getrefcount = sys.getrefcount
        alone = _ALONE
        materialize = _materialize
        # The batch being taken, and its length.
        current: Any = None
        size = 0
        wire: Any = None
        # The lazy records yielded one and two records ago (None for a
        # plain one).
        last: Any = None
        before: Any = None
        # Whether records come plain, and whether the next one is the first
        # of its message.
        plain = False
        first = False
        try:
            while True:
                if before is not None:
                    # The loop is two records past it.
                    if type(before) is not lazy:
                        plain = True  # a field was used
                    elif getrefcount(before) > alone:
                        materialize(before)  # kept
                        plain = True
                    else:
                        plain = False
                    before = None
                if pending and pending[0] is current:
                    pos = self._pos
                else:
                    # Nothing here holds the message past while it waits.
                    current = wire = None
                    if pending and isinstance(pending[0], _BATCH):
                        current = pending[0]
                    else:
                        if not pending and last is not None:
                            # Waiting for the server: the record the loop
                            # may still hold must not hold the message
                            # meanwhile.
                            materialize(last)
                            last = None
                        head = self._head()
                        if head is None:
                            return
                        if not isinstance(head, _BATCH):
                            pending.popleft()  # an event
                            continue
                        current = head
                    size = len(current)
                    first = True
                    pos = self._pos
                if pos + 1 < size:
                    self._pos = pos + 1
                else:
                    pending.popleft()
                    self._pos = 0
                # As in _records, the cursor is past the record before its
                # value is deserialized.
                wire = current[pos]
                before = last
                if plain and not first:
                    last = None
                    yield convert(wire)
                    continue
                value: Any = wire.value
                if not value:
                    value = b"" if has(wire, "value") else None
                if not raw:
                    value = deserialize(value)
                # Assigned plainly, then the class that is frozen.
                last = making()
                last.value = value
                last._wire = wire
                last.__class__ = lazy
                first = False
                yield last
        finally:
            # The loop ended or left the iterator, and may hold the last
            # records still.
            if before is not None:
                materialize(before)
            if last is not None:
                materialize(last)

    def values(self) -> Iterator[T]:
        """The deserialized values alone (no KafkaRecord is built)."""
        return self._records(_value_converter(self._deserializer.deserialize))

    def with_events(self) -> Iterator[Union[KafkaRecord[T], SourceEvent]]:
        """Records and events in stream order; ends at the end of a bounded input."""
        convert = self._convert
        while True:
            head = self._head()
            if head is None:
                return
            if isinstance(head, _BATCH):
                yield convert(self._take(head))
            else:
                self._pending.popleft()
                yield cast(SourceEvent, head)

    def poll(
        self, max_records: int = 500, timeout: Union[float, timedelta, None] = None
    ) -> List[KafkaRecord[T]]:
        """Up to max_records records that arrived, waiting for at least one
        server message when nothing is buffered; [] at the end of a bounded
        input (then :attr:`ended` is true).

        ``timeout`` (seconds, or a ``timedelta``) bounds that wait as Java's
        ``poll(Duration)`` does: when nothing came within it, ``poll``
        returns [] and the session goes on, so an idle unbounded source
        returns control to its caller. Without it (None) the wait takes the
        session's timeout of ``open`` (forever without one), which raises
        FerryError(DEADLINE_EXCEEDED) when it runs out. So a session may
        wait long for barriers and briefly for records."""
        if timeout is None:
            return self._poll(max_records)
        session_timeout = self._timeout
        self._timeout = timeout.total_seconds() if isinstance(timeout, timedelta) else float(timeout)
        try:
            return self._poll(max_records)
        except _NoMessage:
            return []
        finally:
            self._timeout = session_timeout

    def _poll(self, max_records: int) -> List[KafkaRecord[T]]:
        convert = self._convert
        out: List[KafkaRecord[T]] = []
        while len(out) < max_records:
            # Waits for the server only while out is empty: records in hand
            # are returned, not held until the next server message.
            head = self._head(wait=not out)
            if head is None:
                break
            if isinstance(head, _BATCH):
                out.append(convert(self._take(head)))
            else:
                self._pending.popleft()  # an event
        return out

    def take_buffered(self) -> List[KafkaRecord[T]]:
        """Every record that arrived and was not taken yet, without waiting
        for the server (events among them are dropped, as :meth:`poll` drops
        them). Right after :meth:`checkpoint` these are the records that came
        before its barrier: in a job (:meth:`KafkaSourceBuilder.set_job`),
        where ferry stored the barrier's position, they belong to that
        checkpoint and must reach the sink before the sink prepares it
        (:meth:`ferry.flink.JobCoordinator.checkpoint` hands them to its
        ``process``)."""
        convert = self._convert
        out: List[KafkaRecord[T]] = []
        while True:
            head = self._head(wait=False)
            if head is None:
                return out
            if isinstance(head, _BATCH):
                out.append(convert(self._take(head)))
            else:
                self._pending.popleft()  # an event

    def _has_buffered(self) -> bool:
        """Whether a record arrived that was not taken yet."""
        return any(isinstance(item, _BATCH) for item in self._pending)

    @property
    def ended(self) -> bool:
        """True once a bounded input ended and every record was taken."""
        return self._ended and not any(not isinstance(i, _BarrierMark) for i in self._pending)

    # -- checkpoints

    def checkpoint(self, checkpoint_id: int) -> source_pb2.SourceState:
        """Takes a checkpoint: returns the state once its barrier arrived.

        Records that arrive before the barrier are buffered and still yielded
        by iteration. The state is that of the iterator: restoring from it
        yields exactly the records not yet taken from this reader.

        In a job (:meth:`KafkaSourceBuilder.set_job`) ferry stored the
        barrier's state before answering, and that state is returned: it
        counts the records buffered before the barrier (see
        :meth:`take_buffered`), which therefore belong to this checkpoint.
        """
        self._request_checkpoint(checkpoint_id)
        return self._await_barrier(checkpoint_id)

    def _request_checkpoint(self, checkpoint_id: int) -> None:
        """Asks for the barrier of checkpoint_id (the first half of :meth:`checkpoint`)."""
        if self._ended:
            raise FerryError(grpc.StatusCode.FAILED_PRECONDITION, "the input has ended")
        self._stream.send(
            source_pb2.ReadRequest(checkpoint=common_pb2.Checkpoint(checkpoint_id=checkpoint_id))
        )

    def _await_barrier(self, checkpoint_id: int) -> source_pb2.SourceState:
        """Waits for the barrier of checkpoint_id (the second half of :meth:`checkpoint`)."""
        while checkpoint_id not in self._barriers:
            if self._ended:
                raise FerryError(
                    grpc.StatusCode.FAILED_PRECONDITION,
                    f"the input ended before the barrier of checkpoint {checkpoint_id}",
                )
            self._pull()
        return self._barriers.pop(checkpoint_id)

    def notify_checkpoint_complete(self, checkpoint_id: int) -> None:
        """Says the checkpoint is durable; the server commits its offsets to the
        group if committing is on (the outcome arrives as OffsetsCommittedEvent).

        If records buffered before the checkpoint's barrier have not been
        taken yet, the notification is sent once iteration passes them.

        Not for a session of a job (:meth:`KafkaSourceBuilder.set_job`),
        whose checkpoints complete through
        :meth:`ferry.flink.JobCoordinator.complete`: raises
        FerryError(FAILED_PRECONDITION) without sending anything.
        """
        if self._job is not None:
            raise refuse_local_completion(self._job, "notify_checkpoint_complete")
        if any(c <= checkpoint_id for c in self._unpassed):
            self._deferred_complete.append(checkpoint_id)
            return
        self._send_complete(checkpoint_id)

    def _send_complete(self, checkpoint_id: int) -> None:
        self._stream.send(
            source_pb2.ReadRequest(
                checkpoint_complete=source_pb2.CheckpointComplete(checkpoint_id=checkpoint_id)
            )
        )

    # -- closing

    def close(self) -> None:
        """Ends the session gracefully (idempotent); raises FerryError if the
        stream had failed."""
        if self._closed:
            return
        self._closed = True
        try:
            if not self._ended:
                self._stream.send(source_pb2.ReadRequest(close=common_pb2.Close()))
                self._drain()
                self._ended = True
        finally:
            self._release()
