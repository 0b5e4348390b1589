"""A bidirectional gRPC stream driven by queues, with a timeout on every wait.

grpc's stream-stream calls take a request iterator and return a response
iterator whose ``next`` blocks without a timeout. ``BidiStream`` feeds the
requests from a queue and reads the responses on a thread into another queue,
so every wait of a test is bounded and a hung server fails the test instead of
hanging it.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass
from typing import Any, Callable, Generic, Iterator, Optional, TypeVar, Union

import grpc

Req = TypeVar("Req")
Resp = TypeVar("Resp")

# Default seconds to wait for one response.
RECV_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class StreamEnd:
    """How the server ended the stream."""

    code: grpc.StatusCode
    details: str

    def __str__(self) -> str:
        return f"{self.code.name}: {self.details!r}"


class _HalfClose:
    pass


_HALF_CLOSE = _HalfClose()


class BidiStream(Generic[Req, Resp]):
    """One bidirectional streaming call.

    Args:
        method: A stub's stream-stream method, e.g. ``SinkServiceStub(ch).Write``.
        deadline_s: The deadline of the whole call.
    """

    def __init__(
        self,
        method: Callable[..., Any],
        deadline_s: float = 60.0,
    ) -> None:
        self._requests: "queue.Queue[Union[Req, _HalfClose]]" = queue.Queue()
        self._responses: "queue.Queue[Union[Resp, StreamEnd]]" = queue.Queue()
        self._stopped = threading.Event()
        self._end: Optional[StreamEnd] = None
        self._call = method(self._request_iter(), timeout=deadline_s)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _request_iter(self) -> Iterator[Req]:
        while not self._stopped.is_set():
            try:
                item = self._requests.get(timeout=0.1)
            except queue.Empty:
                continue
            if isinstance(item, _HalfClose):
                return
            yield item

    def _read(self) -> None:
        try:
            for response in self._call:
                self._responses.put(response)
            end = StreamEnd(self._call.code(), self._call.details() or "")
        except grpc.RpcError as err:
            end = StreamEnd(err.code(), err.details() or "")
        self._responses.put(end)

    def send(self, request: Req) -> None:
        """Queues one request."""
        self._requests.put(request)

    def half_close(self) -> None:
        """Ends the client side of the stream."""
        self._requests.put(_HALF_CLOSE)

    def recv(self, timeout: float = RECV_TIMEOUT_S, what: str = "a response") -> Resp:
        """Returns the next response; fails if the stream ended or on timeout."""
        item = self._next(timeout, what)
        if isinstance(item, StreamEnd):
            raise AssertionError(f"expected {what}, but the server ended the stream with {item}")
        return item

    def recv_any(self, timeout: float = RECV_TIMEOUT_S, what: str = "a response") -> Union[Resp, StreamEnd]:
        """Returns the next response or the end of the stream; fails on timeout."""
        return self._next(timeout, what)

    def expect_end(self, timeout: float = RECV_TIMEOUT_S, what: str = "the end of the stream") -> StreamEnd:
        """Returns how the stream ended; fails if a response comes instead, or on timeout."""
        item = self._next(timeout, what)
        if not isinstance(item, StreamEnd):
            raise AssertionError(f"expected {what}, got a response instead: {item}")
        return item

    def _next(self, timeout: float, what: str) -> Union[Resp, StreamEnd]:
        if self._end is not None:
            return self._end
        try:
            item = self._responses.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(
                f"timed out after {timeout:.0f}s waiting for {what} (server hung?)"
            ) from None
        if isinstance(item, StreamEnd):
            self._end = item
        return item

    def close(self) -> None:
        """Cancels the call if it is still running and stops the threads."""
        self._stopped.set()
        self._requests.put(_HALF_CLOSE)
        self._call.cancel()
        self._reader.join(timeout=5)

    def __enter__(self) -> "BidiStream[Req, Resp]":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
