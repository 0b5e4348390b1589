"""The sink: :class:`KafkaSink`, its builder, the record serialization schema
and :class:`SinkWriter`, one writer session."""

from __future__ import annotations

import enum
from typing import (
    Any,
    Callable,
    Generic,
    Iterable,
    Mapping,
    Optional,
    Tuple,
    TYPE_CHECKING,
    TypeVar,
    Union,
    cast,
)

import grpc

from ferry.flink._job import JobSession, job_checkpoints, refuse_local_completion, refuse_restore_state
from ferry.flink._stream import _Builder, _Endpoint, _Session, _stubs
from ferry.flink.errors import FerryError
from ferry.flink.schemas import SerializationSchema
from ferry.v1 import common_pb2, sink_pb2

if TYPE_CHECKING:
    from google.protobuf.internal.containers import RepeatedCompositeFieldContainer

T = TypeVar("T")
U = TypeVar("U")


class DeliveryGuarantee(enum.Enum):
    """Flink's DeliveryGuarantee."""

    NONE = sink_pb2.DELIVERY_GUARANTEE_NONE
    AT_LEAST_ONCE = sink_pb2.DELIVERY_GUARANTEE_AT_LEAST_ONCE
    EXACTLY_ONCE = sink_pb2.DELIVERY_GUARANTEE_EXACTLY_ONCE


class TransactionNamingStrategy(enum.Enum):
    """How an EXACTLY_ONCE sink names its transactions (Flink 4.x's
    TransactionNamingStrategy). ferry pools: each writer reuses a small pool
    of transactional ids, ``{prefix}-{writer index}-{n}``, and a restore
    aborts the prefix's lingering transactions by listing them (Flink's
    POOLING with the LISTING abort strategy). INCREMENTING, a new id per
    checkpoint, is not what ferry does and is refused."""

    INCREMENTING = "INCREMENTING"
    POOLING = "POOLING"


# Flink's limit on a transactional id prefix, in UTF-8 bytes.
_MAXIMUM_PREFIX_BYTES = 64000

_PARTITIONERS = {
    "default": sink_pb2.PARTITIONER_DEFAULT,
    "fixed": sink_pb2.PARTITIONER_FIXED,
    "round_robin": sink_pb2.PARTITIONER_ROUND_ROBIN,
}


# Upper bounds of a SinkRecord's encoding inside a WriteBatch besides its
# strings and bytes: the record's own tag and length (6 bytes), and the tag
# and length or value of each of its fields (topic, key, value: 6 bytes each;
# partition and timestamp_ms: 11 each, a negative int32 takes 10).
_RECORD_OVERHEAD = 46
# The same for one header: its tag and length, its key's and its value's.
_HEADER_OVERHEAD = 18

# Adds one value's record to a batch; returns its size estimate.
_Append = Callable[[Any, "RepeatedCompositeFieldContainer[sink_pb2.SinkRecord]"], int]


def _utf8_len(text: str) -> int:
    """The length of text encoded as UTF-8 (cheap for ASCII)."""
    return len(text) if text.isascii() else len(text.encode())


class KafkaRecordSerializationSchema(Generic[T]):
    """Turns a value into a record: topic, key, value (and optionally partition,
    headers, timestamp). Build one with :meth:`builder`."""

    def __init__(
        self,
        topic: Optional[str],
        topic_selector: Optional[Callable[[T], str]],
        key_schema: Optional[SerializationSchema[T]],
        value_schema: SerializationSchema[T],
        partition_selector: Optional[Callable[[T], Optional[int]]],
        headers_provider: Optional[Callable[[T], Iterable[Tuple[str, Optional[bytes]]]]],
        timestamp_selector: Optional[Callable[[T], Optional[int]]],
    ) -> None:
        self.topic = topic
        self._topic_selector = topic_selector
        self._key_schema = key_schema
        self._value_schema = value_schema
        self._partition_selector = partition_selector
        self._headers_provider = headers_provider
        self._timestamp_selector = timestamp_selector

    @staticmethod
    def builder() -> "KafkaRecordSerializationSchemaBuilder[Any]":
        return KafkaRecordSerializationSchemaBuilder()

    def serialize(self, value: T) -> sink_pb2.SinkRecord:
        rec = sink_pb2.SinkRecord()
        self._fill(value, rec, "")
        return rec

    def _fill(self, value: T, rec: sink_pb2.SinkRecord, default_topic: str) -> int:
        """Sets rec's fields from value, calling the selectors and schemas in
        this order: topic, key, value, partition, headers, timestamp; returns
        rec's size estimate. The topic stays empty when it is default_topic
        (the sink spec's, which the server then uses; "" for none)."""
        size = _RECORD_OVERHEAD
        if self._topic_selector is not None:
            topic = self._topic_selector(value)
            if topic != default_topic:
                rec.topic = topic  # raises TypeError for anything but a str
                size += _utf8_len(topic)
        elif self.topic is not None and self.topic != default_topic:
            rec.topic = self.topic
            size += _utf8_len(self.topic)
        if self._key_schema is not None:
            key = self._key_schema.serialize(value)
            if key is not None:
                rec.key = key
                size += len(key)
        data = self._value_schema.serialize(value)
        if data is not None:
            rec.value = data
            size += len(data)
        if self._partition_selector is not None:
            p = self._partition_selector(value)
            if p is not None:
                rec.partition = p
        if self._headers_provider is not None:
            add_header = rec.headers.add
            for k, v in self._headers_provider(value):
                h = add_header()
                h.key = k
                size += _HEADER_OVERHEAD + _utf8_len(k)
                if v is not None:
                    h.value = v
                    size += len(v)
        if self._timestamp_selector is not None:
            ts = self._timestamp_selector(value)
            if ts is not None:
                rec.timestamp_ms = ts
        return size

    def _appender(self, default_topic: str) -> _Append:
        """A function that adds a value's record to a batch and returns its
        size estimate; a record whose serialization raised is taken out of the
        batch again. For a schema of a fixed topic, an optional key schema and
        a value schema (the common case) the function serializes before it
        adds the record and sets only key and value: no topic when it is
        default_topic, no selector checks, one call per schema."""
        plain = (
            self._topic_selector is None
            and self._partition_selector is None
            and self._headers_provider is None
            and self._timestamp_selector is None
            and self.topic == default_topic
        )
        serialize_value = self._value_schema.serialize
        if plain and self._key_schema is None:

            def append_value(
                value: Any, records: "RepeatedCompositeFieldContainer[sink_pb2.SinkRecord]"
            ) -> int:
                data = serialize_value(value)
                rec = records.add()
                if data is None:
                    return _RECORD_OVERHEAD
                try:
                    rec.value = data
                except BaseException:
                    del records[-1]
                    raise
                return _RECORD_OVERHEAD + len(data)

            return append_value

        if plain:
            assert self._key_schema is not None
            serialize_key = self._key_schema.serialize

            def append_key_value(
                value: Any, records: "RepeatedCompositeFieldContainer[sink_pb2.SinkRecord]"
            ) -> int:
                key = serialize_key(value)
                data = serialize_value(value)
                rec = records.add()
                size = _RECORD_OVERHEAD
                try:
                    if key is not None:
                        rec.key = key
                        size += len(key)
                    if data is not None:
                        rec.value = data
                        size += len(data)
                except BaseException:
                    del records[-1]
                    raise
                return size

            return append_key_value

        fill = self._fill

        def append(value: Any, records: "RepeatedCompositeFieldContainer[sink_pb2.SinkRecord]") -> int:
            # The selectors run while the record is in the batch, in the
            # order serialize() calls them.
            rec = records.add()
            try:
                return fill(value, rec, default_topic)
            except BaseException:
                del records[-1]
                raise

        return append


class KafkaRecordSerializationSchemaBuilder(Generic[T]):
    def __init__(self) -> None:
        self._topic: Optional[str] = None
        self._topic_selector: Optional[Callable[[Any], str]] = None
        self._key: Optional[SerializationSchema[Any]] = None
        self._value: Optional[SerializationSchema[Any]] = None
        self._partition: Optional[Callable[[Any], Optional[int]]] = None
        self._headers: Optional[Callable[[Any], Iterable[Tuple[str, Optional[bytes]]]]] = None
        self._timestamp: Optional[Callable[[Any], Optional[int]]] = None

    # The key and value schemas may be set once; Flink's messages otherwise
    # (ValueError). Unlike Flink's, a topic and a topic selector go together:
    # the topic is then the sink's default topic, which records the selector
    # sends there need not name.

    def set_topic(self, topic: str) -> "KafkaRecordSerializationSchemaBuilder[T]":
        """The topic of every record (with :meth:`set_topic_selector`: the sink's default topic)."""
        self._topic = topic
        return self

    def set_topic_selector(self, selector: Callable[[T], str]) -> "KafkaRecordSerializationSchemaBuilder[T]":
        """Picks each value's topic."""
        self._topic_selector = selector
        return self

    def set_key_serialization_schema(
        self, schema: SerializationSchema[T]
    ) -> "KafkaRecordSerializationSchemaBuilder[T]":
        if self._key is not None:
            raise ValueError("Key serializer already set.")
        self._key = schema
        return self

    def set_value_serialization_schema(
        self, schema: SerializationSchema[T]
    ) -> "KafkaRecordSerializationSchemaBuilder[T]":
        if self._value is not None:
            raise ValueError("Value serializer already set.")
        self._value = schema
        return self

    def set_partition_selector(
        self, selector: Callable[[T], Optional[int]]
    ) -> "KafkaRecordSerializationSchemaBuilder[T]":
        """An explicit partition per value (None: the sink's partitioner decides)."""
        self._partition = selector
        return self

    def set_header_provider(
        self, provider: Callable[[T], Iterable[Tuple[str, Optional[bytes]]]]
    ) -> "KafkaRecordSerializationSchemaBuilder[T]":
        """Each value's headers, ``(key, value)`` pairs in order (a None
        value is a null header value); Flink's ``setHeaderProvider``."""
        self._headers = provider
        return self

    set_headers_provider = set_header_provider
    """The same as :meth:`set_header_provider` (ferry's earlier name)."""

    def set_timestamp_selector(
        self, selector: Callable[[T], Optional[int]]
    ) -> "KafkaRecordSerializationSchemaBuilder[T]":
        """The record timestamp in ms (None: the server's now)."""
        self._timestamp = selector
        return self

    def build(self) -> KafkaRecordSerializationSchema[T]:
        """The schema; ValueError without a value schema or a topic (Flink's messages)."""
        if self._value is None:
            raise ValueError("No value serializer is configured.")
        if self._topic is None and self._topic_selector is None:
            raise ValueError("No topic selector is configured.")
        return KafkaRecordSerializationSchema(
            self._topic,
            self._topic_selector,
            self._key,
            self._value,
            self._partition,
            self._headers,
            self._timestamp,
        )


class KafkaSink(Generic[T]):
    """A built sink; :meth:`open` starts one writer session."""

    def __init__(
        self,
        spec: sink_pb2.SinkSpec,
        serializer: KafkaRecordSerializationSchema[T],
        writer_index: int,
        parallelism: int,
        batch_size: int,
        endpoint: _Endpoint,
        job: Optional[common_pb2.JobCheckpoints] = None,
    ) -> None:
        self._spec = spec
        self._serializer = serializer
        self._writer_index = writer_index
        self._parallelism = parallelism
        self._batch_size = batch_size
        self._endpoint = endpoint
        self._job = job

    @staticmethod
    def builder() -> "KafkaSinkBuilder[Any]":
        return KafkaSinkBuilder()

    @property
    def spec(self) -> sink_pb2.SinkSpec:
        out = sink_pb2.SinkSpec()
        out.CopyFrom(self._spec)
        return out

    def open(
        self,
        restore_state: Union[sink_pb2.SinkState, bytes, None] = None,
        *,
        timeout: Optional[float] = None,
    ) -> "SinkWriter[T]":
        """Opens a writer session. restore_state (from :meth:`SinkWriter.prepare`)
        commits its prepared transactions first; not with
        :meth:`KafkaSinkBuilder.set_job`, where ferry keeps the states
        (ValueError).

        Args:
            timeout: Seconds any single wait for the server may take; None
                waits forever.
        """
        open_msg = sink_pb2.OpenSink(
            spec=self._spec, writer_index=self._writer_index, parallelism=self._parallelism
        )
        if self._job is not None:
            refuse_restore_state(restore_state, "sink")
            open_msg.job.CopyFrom(self._job)
        exactly_once = self._spec.delivery_guarantee == sink_pb2.DELIVERY_GUARANTEE_EXACTLY_ONCE
        return self._endpoint.open(
            open_msg.restore,
            restore_state,
            lambda channel, owned: SinkWriter(
                channel, owned, open_msg, self._serializer, self._batch_size, exactly_once, timeout
            ),
        )


class KafkaSinkBuilder(_Builder, Generic[T]):
    """Flink's KafkaSinkBuilder. Every setter returns the builder."""

    def __init__(self) -> None:
        super().__init__()
        self._serializer: Optional[KafkaRecordSerializationSchema[Any]] = None
        self._guarantee = DeliveryGuarantee.NONE
        self._prefix: Optional[str] = None
        self._partitioner = sink_pb2.PARTITIONER_DEFAULT
        self._writer_index = 0
        self._parallelism = 1
        self._batch_size = 500
        self._job: Optional[common_pb2.JobCheckpoints] = None

    def set_record_serializer(self, serializer: KafkaRecordSerializationSchema[U]) -> "KafkaSinkBuilder[U]":
        self._serializer = serializer
        return cast("KafkaSinkBuilder[U]", self)

    def set_delivery_guarantee(self, guarantee: DeliveryGuarantee) -> "KafkaSinkBuilder[T]":
        self._guarantee = guarantee
        return self

    def set_transactional_id_prefix(self, prefix: str) -> "KafkaSinkBuilder[T]":
        """Required for EXACTLY_ONCE: transactional ids are
        ``{prefix}-{writer index}-{n}``. ValueError for a prefix over 64000
        UTF-8 bytes (Flink's limit and message)."""
        if len(prefix.encode()) > _MAXIMUM_PREFIX_BYTES:
            raise ValueError(
                "The configured prefix is too long and the resulting transactionalId might exceed "
                "Kafka's transactionalIds size."
            )
        self._prefix = prefix
        return self

    def set_transaction_naming_strategy(self, strategy: TransactionNamingStrategy) -> "KafkaSinkBuilder[T]":
        """How EXACTLY_ONCE transactions are named (Flink 4.x): ferry pools
        its transactional ids, so POOLING is taken (it changes nothing) and
        INCREMENTING raises ValueError."""
        if strategy is not TransactionNamingStrategy.POOLING:
            raise ValueError(
                "ferry names transactions from a pool of transactional ids per writer (POOLING, with "
                f"lingering transactions found by listing); {strategy.name} is not supported"
            )
        return self

    def set_partitioner(self, partitioner: str) -> "KafkaSinkBuilder[T]":
        """"default" (murmur2 of the key), "fixed" or "round_robin"."""
        try:
            self._partitioner = _PARTITIONERS[partitioner]
        except KeyError:
            raise ValueError(
                f"partitioner must be one of {sorted(_PARTITIONERS)}, got {partitioner!r}"
            ) from None
        return self

    def set_writer(self, index: int, parallelism: int) -> "KafkaSinkBuilder[T]":
        self._writer_index = index
        self._parallelism = parallelism
        return self

    def set_batch_size(self, records: int) -> "KafkaSinkBuilder[T]":
        """Records per WriteBatch message (default 500)."""
        if records < 1:
            raise ValueError("batch size must be >= 1")
        self._batch_size = records
        return self

    def set_job(self, job: str, operator: str, restore_latest: bool = True) -> "KafkaSinkBuilder[T]":
        """Checkpoints kept by ferry: the writers are streams of operator
        ``operator`` (Flink's operator uid) of job ``job``. ferry stores each
        prepared state before it answers :meth:`SinkWriter.prepare`, the
        job's checkpoints complete through :class:`~ferry.flink.JobCoordinator`
        (not :meth:`SinkWriter.commit`; each writer then commits and
        :meth:`SinkWriter.await_committed` sees it), and with
        ``restore_latest`` (the default) a writer commits the newest
        completed checkpoint's prepared transactions at open and aborts
        lingering ones (``writer.restored_checkpoint_id`` says which
        checkpoint; 0 and ``writer.restore_note`` for a fresh start). The
        client keeps nothing.
        """
        self._job = job_checkpoints(job, operator, restore_latest)
        return self

    def build(self) -> KafkaSink[T]:
        """The sink, after Flink's checks of ``KafkaSinkBuilder.build()``,
        with its messages (ValueError): EXACTLY_ONCE needs a transactional id
        prefix, and a record serializer is required. Unlike Flink, bootstrap
        servers are not (the server's default cluster). The server checks
        the rest when a writer opens."""
        if self._guarantee is DeliveryGuarantee.EXACTLY_ONCE and self._prefix is None:
            raise ValueError(
                "EXACTLY_ONCE delivery guarantee requires a transactionIdPrefix to be set to provide "
                "unique transaction names across multiple KafkaSinks writing to the same Kafka cluster."
            )
        if self._serializer is None:
            raise ValueError("recordSerializer")
        endpoint = self._endpoint()
        spec = sink_pb2.SinkSpec(
            delivery_guarantee=self._guarantee.value,
            partitioner=self._partitioner,
            properties=self._properties,
        )
        self._fill_cluster(spec.cluster)
        if self._prefix is not None:
            spec.transactional_id_prefix = self._prefix
        if self._serializer.topic is not None:
            spec.default_topic = self._serializer.topic
        return KafkaSink(
            spec,
            cast(KafkaRecordSerializationSchema[T], self._serializer),
            self._writer_index,
            self._parallelism,
            self._batch_size,
            endpoint,
            self._job,
        )


class SinkWriter(_Session[sink_pb2.WriteRequest, sink_pb2.WriteResponse], JobSession, Generic[T]):
    """One sink session (a Flink SinkWriter + Committer); a context manager.
    Leaving the ``with`` block normally closes it; leaving it with an
    exception cancels the session (the open transaction is aborted)."""

    def __init__(
        self,
        channel: grpc.Channel,
        owns_channel: bool,
        open_msg: sink_pb2.OpenSink,
        serializer: KafkaRecordSerializationSchema[T],
        batch_size: int,
        exactly_once: bool,
        timeout: Optional[float],
    ) -> None:
        self._batch_size = batch_size
        self._exactly_once = exactly_once
        self._append = serializer._appender(open_msg.spec.default_topic)
        # The batch being filled: records are added to the request that
        # flush sends, so each is built once, in place.
        self._request = sink_pb2.WriteRequest()
        self._records = self._request.records.records
        self._bytes = 0  # the size estimate of _records
        self._sequence = 0
        self.records_written = 0
        """Records Kafka acknowledged, as of the last checkpoint or close."""
        self._job: Optional[common_pb2.JobCheckpoints] = open_msg.job if open_msg.HasField("job") else None
        self._index = open_msg.writer_index
        self.committed_checkpoint_id = 0
        """In a job: the newest checkpoint whose transactions this writer
        reported committed, as of the messages read so far (0 before any)."""
        first = self._start(
            channel,
            owns_channel,
            _stubs.SinkServiceStub(channel).Write,
            sink_pb2.WriteRequest(open=open_msg),
            timeout,
        )
        self.opened: sink_pb2.SinkOpened = first.opened

    MAX_BATCH_BYTES = 8 << 20
    """The most bytes of records one WriteBatch message carries: half the
    server's 16 MiB limit on a client message, which leaves room for the
    consumed offsets. A batch is sent early when the next record would take
    it past this; a record larger than this on its own is sent alone. Records
    are counted by an upper bound of their encoding (their topic, key, value
    and headers, plus a constant per record and per header), not by
    ``ByteSize()``, which encodes the record again."""

    @property
    def session_id(self) -> str:
        return self.opened.session_id

    def write(self, value: T) -> None:
        """Buffers one value; a full batch (by records or bytes) is sent."""
        records = self._records
        size = self._append(value, records)
        self._bytes += size
        if len(records) >= self._batch_size or self._bytes > self.MAX_BATCH_BYTES:
            self._send_full(size)

    def write_batch(self, values: Iterable[T]) -> None:
        """Buffers the values in order, as :meth:`write` each; full batches
        are sent."""
        append = self._append
        batch_size = self._batch_size
        max_bytes = self.MAX_BATCH_BYTES
        for value in values:
            # _send_full replaces the batch: look it up for every value.
            records = self._records
            size = append(value, records)
            self._bytes += size
            if len(records) >= batch_size or self._bytes > max_bytes:
                self._send_full(size)

    def _send_full(self, last_size: int) -> None:
        """Sends the batch that the last record (of size estimate last_size)
        filled. When that record took it past MAX_BATCH_BYTES, the batch goes
        without it, and it starts the next one (sent at once if it is larger
        than MAX_BATCH_BYTES on its own)."""
        records = self._records
        if self._bytes <= self.MAX_BATCH_BYTES or len(records) == 1:
            self.flush()
            return
        last = sink_pb2.SinkRecord()
        last.CopyFrom(records[-1])
        del records[-1]
        self.flush()
        self._records.add().CopyFrom(last)
        self._bytes = last_size
        if last_size > self.MAX_BATCH_BYTES:
            self.flush()

    def flush(self, consumed_offsets: Optional[Tuple[str, Mapping[Tuple[str, int], int]]] = None) -> None:
        """Sends the buffered records (without waiting for Kafka).

        ``consumed_offsets`` is ``(group_id, {(topic, partition): next_offset})``:
        source offsets to commit inside the open transaction (EXACTLY_ONCE
        only), so that output and input progress commit atomically and a
        source opened with ``committed_offsets`` resumes after the last
        committed transaction, with no client state at all."""
        if not self._records and consumed_offsets is None:
            self._stream._check()
            return
        self._sequence += 1
        request = self._request
        batch = request.records
        if consumed_offsets is not None:
            group, offsets = consumed_offsets
            consumed = sink_pb2.ConsumedOffsets(group_id=group)
            for (topic, partition), offset in sorted(offsets.items()):
                consumed.offsets.add(topic=topic, partition=partition, offset=offset)
            batch.consumed_offsets.CopyFrom(consumed)
        batch.sequence = self._sequence
        self._request = sink_pb2.WriteRequest()
        self._records = self._request.records.records
        self._bytes = 0
        self._stream.send(request)

    def _await(self, kind: str, what: str) -> sink_pb2.WriteResponse:
        while True:
            msg = self._stream.recv(self._timeout)
            if msg is None:
                raise FerryError(grpc.StatusCode.INTERNAL, f"stream ended OK while waiting for {what}")
            got = msg.WhichOneof("kind")
            if got == "committed" and self._job is not None:
                # A job's commits come when its checkpoints complete.
                self.committed_checkpoint_id = max(self.committed_checkpoint_id, msg.committed.checkpoint_id)
            if got == kind:
                return msg

    def prepare(self, checkpoint_id: int) -> Optional[sink_pb2.SinkState]:
        """Checkpoints: flushes and waits for the server. Under EXACTLY_ONCE
        returns the prepared state (every transaction not committed yet); under
        NONE and AT_LEAST_ONCE returns None (AT_LEAST_ONCE has then been
        acknowledged by Kafka). In a job (:meth:`KafkaSinkBuilder.set_job`)
        ferry stored the state before answering."""
        self._request_prepare(checkpoint_id)
        return self._await_prepared(checkpoint_id)

    def _request_prepare(self, checkpoint_id: int) -> None:
        """Flushes and asks for checkpoint_id (the first half of :meth:`prepare`)."""
        self.flush()
        self._stream.send(
            sink_pb2.WriteRequest(checkpoint=common_pb2.Checkpoint(checkpoint_id=checkpoint_id))
        )

    def _await_prepared(self, checkpoint_id: int) -> Optional[sink_pb2.SinkState]:
        """Waits for the answer to checkpoint_id (the second half of :meth:`prepare`)."""
        if self._exactly_once:
            msg = self._await("prepared", f"prepared({checkpoint_id})")
            return msg.prepared.state
        msg = self._await("flushed", f"flushed({checkpoint_id})")
        self.records_written = msg.flushed.records_written
        return None

    def commit(self, checkpoint_id: int) -> None:
        """EXACTLY_ONCE: commits every prepared transaction up to checkpoint_id
        and waits for it. A no-op under other guarantees.

        Not for a writer of a job (:meth:`KafkaSinkBuilder.set_job`), whose
        checkpoints complete through :meth:`ferry.flink.JobCoordinator.complete`
        (see :meth:`await_committed`): raises FerryError(FAILED_PRECONDITION)
        without sending anything."""
        if self._job is not None:
            raise refuse_local_completion(self._job, "commit")
        if not self._exactly_once:
            return
        self._stream.send(
            sink_pb2.WriteRequest(commit=sink_pb2.CommitCheckpoint(checkpoint_id=checkpoint_id))
        )
        self._await("committed", f"committed({checkpoint_id})")

    def await_committed(self, checkpoint_id: int) -> int:
        """In a job: waits until this writer reported the commit of a
        checkpoint >= checkpoint_id, which it does once the job's checkpoint
        completed (:meth:`ferry.flink.JobCoordinator.complete`), and returns
        that checkpoint's id. Under NONE and AT_LEAST_ONCE nothing is
        committed: returns at once. Each wait takes the session's timeout.
        Raises FerryError(FAILED_PRECONDITION) for a writer outside a job
        (its :meth:`commit` waits itself)."""
        if self._job is None:
            raise FerryError(
                grpc.StatusCode.FAILED_PRECONDITION,
                "await_committed is for writers of a job (set_job); commit() waits for its own commit",
            )
        if not self._exactly_once:
            return checkpoint_id
        while self.committed_checkpoint_id < checkpoint_id:
            self._await("committed", f"committed({checkpoint_id})")
        return self.committed_checkpoint_id

    def close(self) -> int:
        """Flushes, closes the session and returns the records Kafka
        acknowledged. Under EXACTLY_ONCE the open transaction is aborted and
        prepared ones stay for a commit after a restore."""
        if self._closed:
            return self.records_written
        self._closed = True
        try:
            self.flush()
            self._stream.send(sink_pb2.WriteRequest(close=common_pb2.Close()))
            msg = self._await("closed", "closed")
            self.records_written = msg.closed.records_written
            self._drain()
        finally:
            self._release()
        return self.records_written
