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

from ferry import _security, v1
from ferry._address import ADDRESS_ENV, DEFAULT_ADDRESS, default_address

__version__ = "0.1.0"

ChannelOption = Tuple[str, Union[str, int]]
"""A gRPC channel argument, e.g. ``("grpc.max_receive_message_length", 64 << 20)``."""


def connect(
    address: Optional[str] = None,
    *,
    credentials: Optional[grpc.ChannelCredentials] = None,
    options: Optional[Sequence[ChannelOption]] = None,
    tls: Optional[bool] = None,
    ca_file: Optional[str] = None,
    cert_file: Optional[str] = None,
    key_file: Optional[str] = None,
    token: Optional[str] = None,
) -> grpc.Channel:
    """Open a gRPC channel to a ferry server.

    The channel connects lazily: the first RPC waits for the connection. Use
    ``grpc.channel_ready_future(channel).result(timeout=...)`` to wait for it
    explicitly. Close the channel with ``channel.close()`` or use it as a
    context manager.

    A secured ferry (TLS, client certificates, tokens)::

        ferry.connect("ferry.example:50051", ca_file="ca.pem", token=token)
        ferry.connect("ferry.example:50051", ca_file="ca.pem",
                      cert_file="client.pem", key_file="client-key.pem")

    Args:
        address: The server's ``host:port``; None (the default) is
            :func:`default_address`: ``$FERRY_ADDRESS``, else
            ``127.0.0.1:50051``.
        credentials: gRPC channel credentials for anything the arguments
            below do not cover (then none of ``tls``, ``ca_file``,
            ``cert_file``, ``key_file`` may be given); ``None`` and none of
            them opens a plaintext channel.
        options: gRPC channel arguments as ``(name, value)`` pairs.
        tls: ``True`` for TLS trusting the system's root CAs when no
            ``ca_file`` is given; ``None`` (the default) means TLS exactly
            when ``ca_file`` or ``cert_file`` is given.
        ca_file: PEM file of the CA(s) that signed ferry's certificate;
            implies TLS.
        cert_file: PEM file of a client certificate (chain, leaf first) for
            mTLS; requires ``key_file``, its PEM private key.
        key_file: The client certificate's private key (PEM).
        token: A bearer token or JWT, sent as ``authorization: Bearer ...``
            with every call. It needs TLS, except to a loopback address
            (``127.0.0.1``, ``::1``, ``localhost``) for development, where
            gRPC checks that the peer is really local.

    Files are read here (at most 1 MiB each). Raises ValueError naming the
    file when one cannot be read or holds no PEM, for contradicting
    arguments, and for a token without TLS to a non-loopback address. A
    token never appears in an error message.

    Returns:
        A channel to pass to ``ferry.v1.service_pb2_grpc.SourceServiceStub``
        or ``SinkServiceStub``, or to the builders' ``set_channel``.
    """
    if address is None:
        address = default_address()
    if not address:
        raise ValueError("address must be host:port, got an empty string")
    creds = _security.channel_credentials(
        address,
        credentials=credentials,
        tls=tls,
        ca_file=ca_file,
        cert_file=cert_file,
        key_file=key_file,
        token=token,
    )
    opts = list(options) if options is not None else None
    if creds is None:
        return grpc.insecure_channel(address, options=opts)
    return grpc.secure_channel(address, creds, options=opts)


# The Flink-style facade (imported last: it uses connect()).
from ferry import flink  # noqa: E402
from ferry.flink import (  # noqa: E402
    CompletedCheckpoint,
    DeliveryGuarantee,
    FerryError,
    JobCoordinator,
    JsonSchema,
    KafkaOffsetResetStrategy,
    KafkaOffsetsInitializer,
    KafkaRecord,
    KafkaRecordSerializationSchema,
    KafkaSink,
    KafkaSource,
    KafkaTopicPartition,
    RawBytesSchema,
    SimpleStringSchema,
    SinkWriter,
    SourceReader,
    TransactionNamingStrategy,
    WatermarkStrategy,
)

__all__ = [
    "__version__",
    "ADDRESS_ENV",
    "DEFAULT_ADDRESS",
    "connect",
    "default_address",
    "v1",
    "flink",
    "CompletedCheckpoint",
    "DeliveryGuarantee",
    "FerryError",
    "JobCoordinator",
    "JsonSchema",
    "KafkaOffsetResetStrategy",
    "KafkaOffsetsInitializer",
    "KafkaRecord",
    "KafkaRecordSerializationSchema",
    "KafkaSink",
    "KafkaSource",
    "KafkaTopicPartition",
    "RawBytesSchema",
    "SimpleStringSchema",
    "SinkWriter",
    "SourceReader",
    "TransactionNamingStrategy",
    "WatermarkStrategy",
]
