"""An in-process gRPC server for tests that script ferry's side of a stream,
so that message and batch boundaries are fixed by the test."""

from __future__ import annotations

import contextlib
from concurrent import futures
from typing import Any, Callable, Iterator, Sequence, Tuple

import grpc

import ferry


@contextlib.contextmanager
def scripted_server(
    register: Callable[[Any, grpc.Server], None],
    servicer: Any,
    options: Sequence[Tuple[str, Any]] = (),
) -> Iterator[grpc.Channel]:
    """Serves ``servicer`` (added with the generated ``register`` function) on
    a free loopback port and yields a client channel to it; both are closed
    on exit."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), options=list(options))
    register(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    channel = ferry.connect(f"127.0.0.1:{port}")
    try:
        yield channel
    finally:
        channel.close()
        server.stop(grace=None)
