"""What the source and the sink share: a bidirectional call with bounded
queues and timeouts (:class:`_Stream`), the session around it
(:class:`_Session`), where sessions get their channel and restore state
(:class:`_Endpoint`), and the settings both builders have (:class:`_Builder`)."""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass
from typing import (
    Any,
    Callable,
    Dict,
    Generic,
    Iterator,
    Mapping,
    Optional,
    Tuple,
    Type,
    TypeVar,
    Union,
    cast,
)

import grpc
from google.protobuf.message import Message

from ferry import _security, _tracing
from ferry._address import default_address
from ferry.flink.errors import FerryError
from ferry.v1 import common_pb2, service_pb2_grpc

Req = TypeVar("Req", bound=Message)
Resp = TypeVar("Resp", bound=Message)
M = TypeVar("M", bound=Message)
S = TypeVar("S")
_SessionT = TypeVar("_SessionT", bound="_Session[Any, Any]")
_BuilderT = TypeVar("_BuilderT", bound="_Builder")

# The generated gRPC stubs carry no type hints.
_stubs: Any = service_pb2_grpc


@dataclass(frozen=True)
class _End:
    code: grpc.StatusCode
    message: str


class _Close:
    pass


class _NoMessage(FerryError):
    """Nothing came from the server within a wait's timeout (the stream
    itself is fine): FerryError(DEADLINE_EXCEEDED), which a poll with a
    timeout turns into no records."""


_CLOSE = _Close()


class _Stream(Generic[Req, Resp]):
    """A bidirectional call fed from a queue and read on a thread, so that every
    wait can have a timeout.

    Both queues are bounded, so a session's memory is too: ``send`` blocks
    while gRPC has not taken the earlier requests (flow control), and the
    reader thread stops reading from gRPC while the application has not
    taken the earlier responses, which in turn makes the server wait."""

    MAX_QUEUED_REQUESTS = 8
    MAX_QUEUED_RESPONSES = 16
    _POLL_S = 0.05  # how often a blocked put looks whether the call ended

    def __init__(self, method: Callable[..., Any], deadline_s: Optional[float]) -> None:
        self._requests: "queue.Queue[Union[Req, _Close]]" = queue.Queue(self.MAX_QUEUED_REQUESTS)
        self._responses: "queue.Queue[Union[Resp, _End]]" = queue.Queue(self.MAX_QUEUED_RESPONSES)
        self.end: Optional[_End] = None
        # Set by the reader thread when the stream ends with an error.
        self._failed: Optional[_End] = None
        self._cancelled = threading.Event()
        # The caller's trace context, when OpenTelemetry is installed.
        self._call: Any = method(self._request_iter(), timeout=deadline_s, metadata=_tracing.metadata())
        self._thread = threading.Thread(target=self._read, daemon=True, name="ferry-stream")
        self._thread.start()

    def _request_iter(self) -> Iterator[Req]:
        while True:
            item = self._requests.get()
            if isinstance(item, _Close):
                return
            yield item

    def _read(self) -> None:
        try:
            for response in self._call:
                if not self._put_response(response):
                    return  # cancelled: nobody reads any more
            end = _End(self._call.code(), self._call.details() or "")
        except grpc.RpcError as err:
            call = cast(Any, err)
            end = _End(call.code(), call.details() or "")
        except Exception as err:  # pragma: no cover - a bug in a callback
            end = _End(grpc.StatusCode.UNKNOWN, repr(err))
        if end.code != grpc.StatusCode.OK:
            self._failed = end
        self._put_response(end)

    def _put_response(self, item: "Union[Resp, _End]") -> bool:
        """Queues a response, waiting while the queue is full; False when
        the stream was cancelled meanwhile."""
        while not self._cancelled.is_set():
            try:
                self._responses.put(item, timeout=self._POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def _put_request(self, item: "Union[Req, _Close]") -> bool:
        """Queues a request, waiting while gRPC has not taken the earlier
        ones; False when the call ended meanwhile (nothing takes it)."""
        while self._thread.is_alive() and not self._cancelled.is_set():
            try:
                self._requests.put(item, timeout=self._POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def send(self, request: Req) -> None:
        """Sends a request; blocks while the transport is behind. Raises
        FerryError when the stream failed or already ended."""
        self._check()
        if not self._put_request(request):
            self._check()
            raise FerryError(grpc.StatusCode.FAILED_PRECONDITION, "the stream already ended")

    def half_close(self) -> None:
        self._put_request(_CLOSE)

    def cancel(self) -> None:
        self._cancelled.set()
        self._call.cancel()
        try:
            self._requests.put_nowait(_CLOSE)  # ends the request iterator if it still waits
        except queue.Full:
            pass

    def recv(self, timeout: Optional[float]) -> Optional[Resp]:
        """The next response; None when the stream ended OK. Raises FerryError
        when it ended with an error or nothing came within timeout."""
        if self.end is None:
            try:
                item = self._responses.get(timeout=timeout)
            except queue.Empty:
                raise _NoMessage(
                    grpc.StatusCode.DEADLINE_EXCEEDED,
                    f"no message from the ferry server within {timeout}s",
                ) from None
            if not isinstance(item, _End):
                return item
            self.end = item
        if self.end.code != grpc.StatusCode.OK:
            raise FerryError(self.end.code, self.end.message)
        return None

    def _check(self) -> None:
        """Raises FerryError if the stream already failed (never blocks, never
        takes responses out of order)."""
        failed = self._failed
        if failed is not None:
            raise FerryError(failed.code, failed.message)


class _Session(Generic[Req, Resp]):
    """What a reader and a writer share: their stream, opened by a first
    request that the server answers with ``opened``, and the channel it runs
    on, which the session closes if it opened it.

    Leaving a ``with`` block normally closes the session; leaving it with an
    exception cancels it instead, as Flink cancels a failed task: nothing
    more is sent, so a failure is never followed by a flush that would make
    part of the work look done (a writer's buffered records are dropped and
    its open transaction is aborted; prepared ones stay for a restore)."""

    _stream: _Stream[Req, Resp]

    def _start(
        self,
        channel: grpc.Channel,
        owns_channel: bool,
        method: Callable[..., Any],
        open_request: Req,
        timeout: Optional[float],
    ) -> Resp:
        """Starts the call on channel, sends open_request and returns the
        server's first answer, its ``opened``. When that fails the call is
        cancelled; the channel is left to the caller (:meth:`_Endpoint.open`
        closes one it opened)."""
        self._channel = channel
        self._owns_channel = owns_channel
        self._timeout = timeout
        self._closed = False
        self._stream = _Stream(method, None)
        try:
            self._stream.send(open_request)
            first = self._stream.recv(timeout)
            if first is None or first.WhichOneof("kind") != "opened":
                raise FerryError(grpc.StatusCode.INTERNAL, f"expected opened, got {first}")
        except BaseException:
            self._stream.cancel()
            raise
        return first

    def _drain(self) -> None:
        """Half-closes the stream and reads it to its end, so that the
        server's final status is seen: a session that failed while closing
        raises FerryError instead of looking closed cleanly. Each wait takes
        the session's timeout, or 30 s without one, so that closing never
        hangs on a server that stopped answering."""
        self._stream.half_close()
        while self._stream.recv(self._timeout if self._timeout is not None else 30.0) is not None:
            pass

    def _release(self) -> None:
        """Cancels the call (nothing happens once it ended) and closes the
        channel if the session opened it."""
        self._stream.cancel()
        if self._owns_channel:
            self._channel.close()

    def close(self) -> object:
        """Ends the session gracefully; each session kind says how."""
        raise NotImplementedError

    def __enter__(self: _SessionT) -> _SessionT:
        return self

    def __exit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException], tb: Any) -> None:
        if exc_type is None:
            self.close()
        else:
            self._closed = True
            self._release()


class _Endpoint:
    """Where a built source or sink opens its sessions: the caller's channel,
    which every session shares and none closes, or else the address of a
    server, for which each session opens a channel of its own (with
    ``credentials``, None for plaintext) and closes it with the session."""

    def __init__(
        self,
        channel: Optional[grpc.Channel],
        address: Optional[str],
        credentials: Optional[grpc.ChannelCredentials] = None,
    ) -> None:
        self.channel = channel
        self.address = address
        self.credentials = credentials

    def open(
        self,
        restore: M,
        restore_state: Union[M, bytes, None],
        start: Callable[[grpc.Channel, bool], S],
    ) -> S:
        """Starts a session: fills ``restore``, the open message's restore
        field, from ``restore_state`` (a state message, its serialized bytes,
        or None for a fresh start), then returns ``start(channel,
        owns_channel)``.

        As in Flink, a restored source resumes at the checkpoint's offsets
        and a restored sink first commits the checkpoint's prepared
        transactions: a sink opened without that state cannot commit them,
        and their records are lost when they are aborted. The state is read
        before a channel is opened, and a channel opened here is closed again
        when ``start`` raises, since no session holds it then."""
        if restore_state is not None:
            if isinstance(restore_state, bytes):
                restore.ParseFromString(restore_state)
            else:
                restore.CopyFrom(restore_state)
        channel, owned = self._connect()
        try:
            return start(channel, owned)
        except BaseException:
            if owned:
                channel.close()
            raise

    def _connect(self) -> Tuple[grpc.Channel, bool]:
        """The channel for a session, and whether the session owns it."""
        if self.channel is not None:
            return self.channel, False
        # Imported here: the ferry package imports this one last.
        from ferry import connect

        return connect(self.address or default_address(), credentials=self.credentials), True


class _Builder:
    """The settings the source and the sink builders share, as Flink's
    KafkaSourceBuilder and KafkaSinkBuilder both have them: the Kafka cluster
    and Kafka client properties; and ferry's own, the server that sessions
    open on. Every setter returns the builder."""

    def __init__(self) -> None:
        self._bootstrap_servers: Optional[str] = None
        self._cluster_name: Optional[str] = None
        self._properties: Dict[str, str] = {}
        self._channel: Optional[grpc.Channel] = None
        self._address: Optional[str] = None
        self._tls: Optional[_Tls] = None
        self._token: Optional[str] = None

    def set_bootstrap_servers(self: _BuilderT, bootstrap_servers: str) -> _BuilderT:
        """A comma-separated list of host:port; not set means the server's default cluster."""
        self._bootstrap_servers = bootstrap_servers
        return self

    def set_cluster(self: _BuilderT, name: str) -> _BuilderT:
        """A cluster configured on the server by name (instead of bootstrap servers)."""
        self._cluster_name = name
        return self

    def set_property(self: _BuilderT, key: str, value: Any) -> _BuilderT:
        """A Kafka client property by its Java name: for a source a consumer
        property or connector option, for a sink a producer property."""
        self._properties[key] = _prop(value)
        return self

    def set_properties(self: _BuilderT, properties: Mapping[str, Any]) -> _BuilderT:
        for k, v in properties.items():
            self.set_property(k, v)
        return self

    def set_client_id_prefix(self: _BuilderT, prefix: str) -> _BuilderT:
        """The prefix of the Kafka client id (the property ``client.id.prefix``)."""
        return self.set_property("client.id.prefix", prefix)

    def set_ferry_address(self: _BuilderT, address: str) -> _BuilderT:
        """The ferry server's host:port; each reader or writer opens and
        closes its own channel. Without this and without
        :meth:`set_channel`: ``$FERRY_ADDRESS``, else ``127.0.0.1:50051``
        (:func:`ferry.default_address`)."""
        self._address = address
        return self

    def set_channel(self: _BuilderT, channel: grpc.Channel) -> _BuilderT:
        """A channel (from ferry.connect) to use; readers and writers never close it.
        It carries its own credentials: ``ferry.connect(address, ca_file=...,
        token=...)``."""
        self._channel = channel
        return self

    def set_ferry_tls(
        self: _BuilderT,
        ca_file: Optional[str] = None,
        cert_file: Optional[str] = None,
        key_file: Optional[str] = None,
    ) -> _BuilderT:
        """TLS to the server of ``set_ferry_address``: ``ca_file`` is the PEM
        file of the CA that signed ferry's certificate (None trusts the
        system's root CAs); ``cert_file`` and ``key_file`` are a client
        certificate and its key for mTLS. Files are read by ``build()``."""
        self._tls = _Tls(ca_file, cert_file, key_file)
        return self

    def set_ferry_token(self: _BuilderT, token: str) -> _BuilderT:
        """A bearer token or JWT sent as ``authorization: Bearer ...`` with
        every call to the server of ``set_ferry_address``. It needs
        ``set_ferry_tls`` unless the address is a loopback one."""
        _security.check_token(token)
        self._token = token
        return self

    def _endpoint(self) -> _Endpoint:
        """Where the built source or sink opens sessions: the channel, else
        the address, else :func:`ferry.default_address` (read here). Raises
        ValueError when TLS or a token is set with a channel (which has its
        own credentials), and as ``ferry.connect`` does for files and a
        token without TLS."""
        secured = self._tls is not None or self._token is not None
        if self._channel is not None:
            if secured:
                raise ValueError(
                    "set_ferry_tls and set_ferry_token apply to set_ferry_address; a channel from "
                    "set_channel carries its own credentials (ferry.connect(address, ca_file=..., token=...))"
                )
            return _Endpoint(self._channel, None)
        address = self._address or default_address()
        if not secured:
            return _Endpoint(None, address)
        tls = self._tls
        credentials = _security.channel_credentials(
            address,
            tls=True if tls is not None else None,
            ca_file=tls.ca_file if tls is not None else None,
            cert_file=tls.cert_file if tls is not None else None,
            key_file=tls.key_file if tls is not None else None,
            token=self._token,
        )
        return _Endpoint(None, address, credentials)

    def _fill_cluster(self, cluster: common_pb2.Cluster) -> None:
        """Fills the spec's cluster field (pass ``spec.cluster``) if a cluster
        was set; left unset, the server uses its default cluster. Bootstrap
        servers win over a cluster name."""
        if self._bootstrap_servers is not None:
            servers = [s.strip() for s in self._bootstrap_servers.split(",") if s.strip()]
            cluster.CopyFrom(common_pb2.Cluster(bootstrap_servers=servers))
        elif self._cluster_name is not None:
            cluster.CopyFrom(common_pb2.Cluster(name=self._cluster_name))


@dataclass(frozen=True)
class _Tls:
    """The files of ``set_ferry_tls``."""

    ca_file: Optional[str]
    cert_file: Optional[str]
    key_file: Optional[str]


def _prop(value: Any) -> str:
    """A property value as Kafka's Java clients spell it (booleans lowercase)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
