"""How the client proves itself to a secured ferry: TLS with a CA file, a
client certificate (mTLS) and a bearer token, turned into gRPC channel
credentials by :func:`channel_credentials` (used by ``ferry.connect`` and the
Flink-style builders).

A token is never part of an exception message or a repr."""

from __future__ import annotations

import ipaddress
import os
import stat
from typing import Optional

import grpc

MAX_PEM_BYTES = 1 << 20
"""The largest PEM file the client reads (1 MiB, as ferry's own files)."""

_SCHEMES = ("dns:///", "dns:", "ipv4:", "ipv6:")


def read_pem(what: str, path: str) -> bytes:
    """The bytes of a PEM file, read whole up to :data:`MAX_PEM_BYTES`.

    Raises ValueError naming ``what`` (the parameter, e.g. ``ca_file``) and
    the path when the file cannot be read, is not a regular file, is larger,
    or holds no PEM block."""
    try:
        # O_NONBLOCK: opening a FIFO does not wait for a writer.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise ValueError(f"{what} {path!r}: not a regular file")
            data = f.read(MAX_PEM_BYTES + 1)
    except OSError as err:
        raise ValueError(f"{what} {path!r}: cannot read it: {err.strerror or err}") from err
    if len(data) > MAX_PEM_BYTES:
        raise ValueError(f"{what} {path!r}: larger than {MAX_PEM_BYTES} bytes")
    if b"-----BEGIN " not in data:
        raise ValueError(f"{what} {path!r}: no PEM block (-----BEGIN ...) in it")
    return data


def is_loopback(address: str) -> bool:
    """Whether a gRPC target names this machine only: a loopback IP
    (127.0.0.0/8, ::1), ``localhost``, or a Unix socket. Host names other
    than ``localhost`` are not resolved and count as remote."""
    if address.startswith(("unix:", "unix-abstract:")):
        return True
    for scheme in _SCHEMES:
        if address.startswith(scheme):
            address = address[len(scheme):]
            break
    host = address
    if host.startswith("["):
        host = host[1:].partition("]")[0]
    elif host.count(":") == 1:
        host = host.partition(":")[0]
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def channel_credentials(
    address: str,
    *,
    credentials: Optional[grpc.ChannelCredentials] = None,
    tls: Optional[bool] = None,
    ca_file: Optional[str] = None,
    cert_file: Optional[str] = None,
    key_file: Optional[str] = None,
    token: Optional[str] = None,
) -> Optional[grpc.ChannelCredentials]:
    """The channel credentials for ``ferry.connect``'s arguments, or None for
    a plaintext channel without a token. Files are read here. Raises
    ValueError for contradicting arguments, an unreadable file, or a token
    that would cross a non-loopback connection in clear."""
    if (cert_file is None) != (key_file is None):
        raise ValueError("cert_file and key_file go together: the client certificate and its private key")
    tls_files = ca_file is not None or cert_file is not None
    if credentials is not None and (tls is not None or tls_files):
        raise ValueError("pass either credentials or tls/ca_file/cert_file/key_file, not both")
    if tls is False and tls_files:
        raise ValueError("tls=False contradicts ca_file/cert_file, which imply TLS")
    if credentials is None and (tls or tls_files):
        credentials = grpc.ssl_channel_credentials(
            root_certificates=read_pem("ca_file", ca_file) if ca_file is not None else None,
            private_key=read_pem("key_file", key_file) if key_file is not None else None,
            certificate_chain=read_pem("cert_file", cert_file) if cert_file is not None else None,
        )
    if token is None:
        return credentials
    check_token(token)
    if credentials is None:
        if not is_loopback(address):
            raise ValueError(
                f"a token needs TLS: {address} is not a loopback address, and the token "
                "would cross the network in clear; pass ca_file=... (or tls=True)"
            )
        # Plaintext to this machine only: gRPC itself checks that the peer is
        # a loopback address (or a Unix socket) before it sends the token.
        kind = grpc.LocalConnectionType.UDS if address.startswith("unix") else grpc.LocalConnectionType.LOCAL_TCP
        credentials = grpc.local_channel_credentials(kind)
    return grpc.composite_channel_credentials(credentials, grpc.access_token_call_credentials(token))


def check_token(token: str) -> None:
    """Raises ValueError (without the token) unless token can be sent as
    ``authorization: Bearer <token>``: not empty, printable ASCII without
    spaces."""
    if not token or not all("!" <= c <= "~" for c in token):
        raise ValueError("token must be non-empty printable ASCII without spaces (the token is not shown)")
