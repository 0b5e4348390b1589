"""Python client for ferry, a gRPC service with the semantics of Apache Flink's
Kafka connector (KafkaSource and KafkaSink).

This package holds the generated stubs of the ``ferry.v1`` API in
:mod:`ferry.v1` and a small facade. A session is a bidirectional stream::

    import ferry
    from ferry.v1 import service_pb2_grpc, sink_pb2

    channel = ferry.connect("localhost:50051")
    sink = service_pb2_grpc.SinkServiceStub(channel)
    responses = sink.Write(iter_of_write_requests)
"""

from __future__ import annotations

from typing import Optional, Sequence, Tuple, Union

import grpc

from ferry import v1

__version__ = "0.1.0"

ChannelOption = Tuple[str, Union[str, int]]
"""A gRPC channel argument, e.g. ``("grpc.max_receive_message_length", 64 << 20)``."""


def connect(
    address: str,
    *,
    credentials: Optional[grpc.ChannelCredentials] = None,
    options: Optional[Sequence[ChannelOption]] = None,
) -> grpc.Channel:
    """Open a gRPC channel to a ferry server.

    The channel connects lazily: the first RPC waits for the connection. Use
    ``grpc.channel_ready_future(channel).result(timeout=...)`` to wait for it
    explicitly. Close the channel with ``channel.close()`` or use it as a
    context manager.

    Args:
        address: The server's ``host:port``.
        credentials: TLS credentials (``grpc.ssl_channel_credentials(...)``);
            ``None`` opens a plaintext channel.
        options: gRPC channel arguments as ``(name, value)`` pairs.

    Returns:
        A channel to pass to ``ferry.v1.service_pb2_grpc.SourceServiceStub``
        or ``SinkServiceStub``.
    """
    if not address:
        raise ValueError("address must be host:port, got an empty string")
    opts = list(options) if options is not None else None
    if credentials is None:
        return grpc.insecure_channel(address, options=opts)
    return grpc.secure_channel(address, credentials, options=opts)


# The Flink-style facade (imported last: it uses connect()).
from ferry import flink  # noqa: E402
from ferry.flink import (  # noqa: E402
    DeliveryGuarantee,
    FerryError,
    JsonSchema,
    KafkaOffsetResetStrategy,
    KafkaOffsetsInitializer,
    KafkaRecord,
    KafkaRecordSerializationSchema,
    KafkaSink,
    KafkaSource,
    RawBytesSchema,
    SimpleStringSchema,
    SinkWriter,
    SourceReader,
    WatermarkStrategy,
)

__all__ = [
    "__version__",
    "connect",
    "v1",
    "flink",
    "DeliveryGuarantee",
    "FerryError",
    "JsonSchema",
    "KafkaOffsetResetStrategy",
    "KafkaOffsetsInitializer",
    "KafkaRecord",
    "KafkaRecordSerializationSchema",
    "KafkaSink",
    "KafkaSource",
    "RawBytesSchema",
    "SimpleStringSchema",
    "SinkWriter",
    "SourceReader",
    "WatermarkStrategy",
]
