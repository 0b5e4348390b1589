"""Test helpers for a secured ferry: certificates made with openssl, and a
ferry process of the test's own started from a config file.

The binary is FERRY_BIN, else bin/ferry at the repository root (test/run-tests.sh
builds it); its default cluster is FERRY_TEST_KAFKA."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator

import grpc
import pytest

import ferry

REPO_ROOT = Path(__file__).resolve().parents[3]
# Seconds ferry may take to serve and find Kafka reachable.
START_TIMEOUT_S = 30.0
OPENSSL_TIMEOUT_S = 30.0


def ferry_bin() -> str:
    path = os.environ.get("FERRY_BIN") or str(REPO_ROOT / "bin" / "ferry")
    if not os.access(path, os.X_OK):
        pytest.fail(f"no ferry binary at {path} (set FERRY_BIN or build bin/ferry)", pytrace=False)
    return path


def _openssl(*args: str) -> None:
    exe = shutil.which("openssl")
    if exe is None:
        pytest.fail("openssl not found: needed to make the test certificates", pytrace=False)
    proc = subprocess.run([exe, *args], capture_output=True, text=True, timeout=OPENSSL_TIMEOUT_S, check=False)
    if proc.returncode != 0:
        pytest.fail(f"openssl {' '.join(args)} exited {proc.returncode}: {proc.stderr}", pytrace=False)


@dataclass(frozen=True)
class KeyPair:
    """A PEM certificate and its PKCS#8 PEM private key."""

    cert: str
    key: str


class Pki:
    """A throw-away CA in a directory, issuing P-256 certificates valid for a day."""

    def __init__(self, directory: Path, name: str) -> None:
        self.dir = directory
        self.name = name
        self.ca = KeyPair(str(directory / f"{name}-ca.pem"), str(directory / f"{name}-ca-key.pem"))
        _openssl(
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", self.ca.key, "-out", self.ca.cert, "-days", "1", "-subj", f"/CN={name} test CA",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        )  # fmt: skip

    def issue(self, cn: str, *, server: bool) -> KeyPair:
        """A certificate with subject CN=cn: for a server on loopback (SANs
        127.0.0.1, ::1, localhost) or for a client (whose principal is cn)."""
        out = KeyPair(str(self.dir / f"{cn}.pem"), str(self.dir / f"{cn}-key.pem"))
        csr = str(self.dir / f"{cn}.csr")
        ext = self.dir / f"{cn}.ext"
        if server:
            ext.write_text("subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
        else:
            ext.write_text("extendedKeyUsage=clientAuth\n")
        _openssl(
            "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", out.key, "-out", csr, "-subj", f"/CN={cn}",
        )  # fmt: skip
        _openssl(
            "x509", "-req", "-in", csr, "-CA", self.ca.cert, "-CAkey", self.ca.key, "-set_serial",
            str(int.from_bytes(os.urandom(8), "big")), "-days", "1", "-out", out.cert, "-extfile", str(ext),
        )  # fmt: skip
        return out


def tokens_file(path: Path, tokens: Dict[str, str]) -> str:
    """Writes a ferry tokens file (principal -> token) holding the hashes only."""
    lines = [f"{p} sha256:{hashlib.sha256(t.encode()).hexdigest()}" for p, t in tokens.items()]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def rights(read_write: str) -> Dict[str, Any]:
    """A principal's policy: every cluster and group, topics read_write (a pattern)."""
    return {
        "clusters": ["*"],
        "read_topics": [read_write],
        "write_topics": [read_write],
        "groups": ["*"],
        "transactional_id_prefixes": ["*"],
    }


def _serving(channel: grpc.Channel) -> bool:
    """Whether grpc.health.v1.Health/Check answers SERVING (status = 1)."""
    check = channel.unary_unary(
        "/grpc.health.v1.Health/Check",
        request_serializer=lambda b: b,
        response_deserializer=lambda b: b,
    )
    try:
        return bool(check(b"", timeout=2.0) == b"\x08\x01")
    except grpc.RpcError:
        return False


@contextmanager
def running_ferry(
    directory: Path, config: Dict[str, Any], kafka: str, **connect_args: Any
) -> Iterator[str]:
    """Starts ferry with config (written to directory) and --kafka, waits
    until its health check, over a channel made with connect_args, says
    SERVING, yields its address and stops it."""
    directory.mkdir(parents=True, exist_ok=True)
    cfg = directory / "ferry.json"
    cfg.write_text(json.dumps({"listen": "127.0.0.1:0", "health_public": True, **config}))
    addr_file = directory / "addr"
    log_path = directory / "ferry.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [ferry_bin(), "serve", "--config", str(cfg), "--kafka", kafka,
             "--addr-file", str(addr_file), "--log-level", "warn"],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        addr = _wait_serving(proc, addr_file, log_path, connect_args)
        yield addr
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_serving(
    proc: "subprocess.Popen[bytes]", addr_file: Path, log_path: Path, connect_args: Dict[str, Any]
) -> str:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"ferry exited {proc.returncode}: {log_path.read_text()}", pytrace=False)
        if addr_file.exists() and addr_file.read_text().strip():
            addr = addr_file.read_text().strip()
            with ferry.connect(addr, **connect_args) as channel:
                if _serving(channel):
                    return addr
        time.sleep(0.1)
    pytest.fail(f"ferry not SERVING within {START_TIMEOUT_S:.0f}s: {log_path.read_text()}", pytrace=False)
