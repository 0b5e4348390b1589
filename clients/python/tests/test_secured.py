"""Connecting to a secured ferry: TLS with a CA file, client certificates
(mTLS) and bearer tokens, through ferry.connect and the builders' set_ferry_tls
/ set_ferry_token, against ferry processes of this module's own (started from
a config file, see secured_ferry.py) and the real Kafka broker."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator, List

import grpc
import pytest

import ferry
from conftest import TestEnv
from ferry.flink import (
    FerryError,
    KafkaOffsetsInitializer,
    KafkaRecordSerializationSchema,
    KafkaSink,
    KafkaSource,
    SimpleStringSchema,
)
from secured_ferry import KeyPair, Pki, rights, running_ferry, tokens_file

# Seconds any single wait for the server may take in these tests.
WAIT_S = 20.0
TOPIC_PREFIX = "ferry-py-secured"
TOKEN_A = f"token-a-{uuid.uuid4().hex}"  # team-a: may use this module's topics
TOKEN_B = f"token-b-{uuid.uuid4().hex}"  # team-b: may use other topics only
WRONG_TOKEN = f"wrong-{uuid.uuid4().hex}"

Setup = Callable[[Any], Any]


class Certs:
    """The module's certificates: ferry's server certificate and team-a's
    client certificate from one CA, and a second CA that signed nothing ferry uses."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        trusted = Pki(directory, "trusted")
        self.ca = trusted.ca.cert
        self.server: KeyPair = trusted.issue("ferry-server", server=True)
        self.client: KeyPair = trusted.issue("team-a", server=False)
        self.other_ca = Pki(directory, "other").ca.cert


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return Certs(tmp_path_factory.mktemp("pki"))


def _config(certs: Certs, *, tls: bool, require_client_cert: bool = False) -> dict[str, Any]:
    config: dict[str, Any] = {
        "tokens_file": tokens_file(certs.dir / "tokens", {"team-a": TOKEN_A, "team-b": TOKEN_B}),
        "principals": {"team-a": rights(f"{TOPIC_PREFIX}-*"), "team-b": rights("elsewhere-*")},
    }
    if tls:
        config["tls"] = {
            "cert_file": certs.server.cert,
            "key_file": certs.server.key,
            "client_ca_file": certs.ca,
            "require_client_cert": require_client_cert,
        }
    return config


@pytest.fixture(scope="module")
def tls_ferry(certs: Certs, test_env: TestEnv) -> Iterator[str]:
    """TLS; a client certificate is optional, tokens are accepted."""
    with running_ferry(certs.dir / "tls", _config(certs, tls=True), test_env.kafka, ca_file=certs.ca) as addr:
        yield addr


@pytest.fixture(scope="module")
def mtls_ferry(certs: Certs, test_env: TestEnv) -> Iterator[str]:
    """TLS that refuses, in the handshake, a client without a certificate."""
    config = _config(certs, tls=True, require_client_cert=True)
    with running_ferry(
        certs.dir / "mtls", config, test_env.kafka,
        ca_file=certs.ca, cert_file=certs.client.cert, key_file=certs.client.key,
    ) as addr:  # fmt: skip
        yield addr


@pytest.fixture(scope="module")
def plain_ferry(certs: Certs, test_env: TestEnv) -> Iterator[str]:
    """Plaintext on loopback with tokens (development)."""
    with running_ferry(certs.dir / "plain", _config(certs, tls=False), test_env.kafka) as addr:
        yield addr


@pytest.fixture(scope="module")
def topic(create_topic: Callable[[str, int], str]) -> str:
    return create_topic(TOPIC_PREFIX, 2)


def _round_trip(setup: Setup, topic: str) -> None:
    """Writes three values with a sink and reads them back with a bounded
    source, both configured by setup (the server and its credentials)."""
    values = [f"{i}-{uuid.uuid4().hex}" for i in range(3)]
    serializer = (
        KafkaRecordSerializationSchema.builder()
        .set_topic(topic)
        .set_value_serialization_schema(SimpleStringSchema())
        .build()
    )
    sink = setup(KafkaSink.builder()).set_record_serializer(serializer).build()
    with sink.open(timeout=WAIT_S) as writer:
        writer.write_batch(values)
    assert set(values) <= set(_read(setup, topic))


def _read(setup: Setup, topic: str) -> List[str]:
    """Reads topic to its latest offsets with a bounded source configured by setup."""
    source = (
        setup(KafkaSource.builder())
        .set_topics(topic)
        .set_bounded(KafkaOffsetsInitializer.latest())
        .set_value_only_deserializer(SimpleStringSchema())
        .build()
    )
    with source.open(timeout=WAIT_S) as reader:
        return [r.value for r in reader]


def test_tls_with_ca_and_token_round_trip(tls_ferry: str, certs: Certs, topic: str) -> None:
    _round_trip(lambda b: b.set_ferry_address(tls_ferry).set_ferry_tls(certs.ca).set_ferry_token(TOKEN_A), topic)


def test_tls_client_certificate_alone_authenticates(tls_ferry: str, certs: Certs, topic: str) -> None:
    # A certificate from the client CA names the principal (its CN, team-a).
    _round_trip(
        lambda b: b.set_ferry_address(tls_ferry).set_ferry_tls(certs.ca, certs.client.cert, certs.client.key),
        topic,
    )


def test_required_mtls_with_client_certificate_round_trip(mtls_ferry: str, certs: Certs, topic: str) -> None:
    # Through ferry.connect and set_channel: the channel carries the credentials.
    with ferry.connect(
        mtls_ferry, ca_file=certs.ca, cert_file=certs.client.cert, key_file=certs.client.key
    ) as channel:
        _round_trip(lambda b: b.set_channel(channel), topic)


def test_required_mtls_refuses_a_client_without_certificate(mtls_ferry: str, certs: Certs, topic: str) -> None:
    with pytest.raises(FerryError) as err:
        _read(lambda b: b.set_ferry_address(mtls_ferry).set_ferry_tls(certs.ca).set_ferry_token(TOKEN_A), topic)
    assert err.value.code == grpc.StatusCode.UNAVAILABLE


def test_wrong_token_is_unauthenticated(tls_ferry: str, certs: Certs, topic: str) -> None:
    with pytest.raises(FerryError) as err:
        _read(lambda b: b.set_ferry_address(tls_ferry).set_ferry_tls(certs.ca).set_ferry_token(WRONG_TOKEN), topic)
    assert err.value.code == grpc.StatusCode.UNAUTHENTICATED
    assert WRONG_TOKEN not in str(err.value) and WRONG_TOKEN not in repr(err.value)


def test_no_token_is_unauthenticated(tls_ferry: str, certs: Certs, topic: str) -> None:
    with pytest.raises(FerryError) as err:
        _read(lambda b: b.set_ferry_address(tls_ferry).set_ferry_tls(certs.ca), topic)
    assert err.value.code == grpc.StatusCode.UNAUTHENTICATED


def test_principal_without_the_topic_is_permission_denied(tls_ferry: str, certs: Certs, topic: str) -> None:
    def setup(b: Any) -> Any:
        return b.set_ferry_address(tls_ferry).set_ferry_tls(certs.ca).set_ferry_token(TOKEN_B)

    with pytest.raises(FerryError) as err:
        _read(setup, topic)
    assert err.value.code == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(FerryError) as err:
        _round_trip(setup, topic)
    assert err.value.code == grpc.StatusCode.PERMISSION_DENIED


def test_untrusted_server_certificate_fails_the_handshake(tls_ferry: str, certs: Certs, topic: str) -> None:
    with pytest.raises(FerryError) as err:
        _read(lambda b: b.set_ferry_address(tls_ferry).set_ferry_tls(certs.other_ca).set_ferry_token(TOKEN_A), topic)
    assert err.value.code == grpc.StatusCode.UNAVAILABLE


def test_token_over_plaintext_loopback(plain_ferry: str, topic: str) -> None:
    _round_trip(lambda b: b.set_ferry_address(plain_ferry).set_ferry_token(TOKEN_A), topic)
    with pytest.raises(FerryError) as err:
        _read(lambda b: b.set_ferry_address(plain_ferry).set_ferry_token(WRONG_TOKEN), topic)
    assert err.value.code == grpc.StatusCode.UNAUTHENTICATED


# Argument checks (no server needed).


@pytest.mark.parametrize("address", ["ferry.example:50051", "10.1.2.3:50051", "[2001:db8::1]:50051", "dns:///ferry.example:443"])
def test_token_without_tls_off_loopback_is_refused(address: str) -> None:
    with pytest.raises(ValueError, match="a token needs TLS") as err:
        ferry.connect(address, token=TOKEN_A)
    assert TOKEN_A not in str(err.value)
    builder = KafkaSource.builder().set_ferry_address(address).set_topics("t").set_ferry_token(TOKEN_A)
    with pytest.raises(ValueError, match="a token needs TLS"):
        builder.build()


@pytest.mark.parametrize("address", ["127.0.0.1:1", "127.5.6.7:1", "[::1]:1", "localhost:1", "ipv4:127.0.0.1:1"])
def test_token_without_tls_on_loopback_is_allowed(address: str) -> None:
    ferry.connect(address, token=TOKEN_A).close()  # lazy: nothing listens there


def test_bad_token_is_refused_without_showing_it() -> None:
    for token in ["", "has space", "line\nbreak"]:
        with pytest.raises(ValueError) as err:
            ferry.connect("127.0.0.1:1", token=token)
        assert "token must be" in str(err.value)
        if token:
            assert token not in str(err.value)


def test_files_are_checked_and_named(certs: Certs, tmp_path: Path) -> None:
    missing = str(tmp_path / "missing.pem")
    with pytest.raises(ValueError, match=f"ca_file '{missing}': cannot read it"):
        ferry.connect("127.0.0.1:1", ca_file=missing)
    not_pem = tmp_path / "not.pem"
    not_pem.write_text("hello")
    with pytest.raises(ValueError, match="cert_file .*not.pem'?: no PEM block"):
        ferry.connect("127.0.0.1:1", cert_file=str(not_pem), key_file=certs.client.key)
    large = tmp_path / "large.pem"
    large.write_bytes(b"-----BEGIN CERTIFICATE-----\n" + b"A" * (1 << 20))
    with pytest.raises(ValueError, match="larger than"):
        ferry.connect("127.0.0.1:1", ca_file=str(large))
    fifo = tmp_path / "fifo.pem"
    os.mkfifo(fifo)  # opening it must not wait for a writer
    with pytest.raises(ValueError, match="not a regular file"):
        ferry.connect("127.0.0.1:1", ca_file=str(fifo))
    with pytest.raises(ValueError, match="cannot read it"):
        KafkaSource.builder().set_ferry_address("127.0.0.1:1").set_topics("t").set_ferry_tls(missing).build()


def test_contradicting_arguments(certs: Certs) -> None:
    with pytest.raises(ValueError, match="cert_file and key_file go together"):
        ferry.connect("127.0.0.1:1", ca_file=certs.ca, cert_file=certs.client.cert)
    with pytest.raises(ValueError, match="tls=False contradicts"):
        ferry.connect("127.0.0.1:1", tls=False, ca_file=certs.ca)
    with pytest.raises(ValueError, match="either credentials or"):
        ferry.connect("127.0.0.1:1", credentials=grpc.ssl_channel_credentials(), ca_file=certs.ca)
    with ferry.connect("127.0.0.1:1") as channel:
        with pytest.raises(ValueError, match="set_channel carries its own credentials"):
            KafkaSource.builder().set_channel(channel).set_topics("t").set_ferry_token(TOKEN_A).build()
