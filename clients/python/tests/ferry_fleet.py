"""Several ferry processes of a test's own, each on a fixed loopback port, so
that one client channel can name them all and a ferry that is killed comes
back at the same address (with an empty memory: whatever it knew of jobs
it must read again from Kafka).

The binary is FERRY_BIN, else bin/ferry at the repository root; every
ferry's default cluster is FERRY_TEST_KAFKA."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any, List, Optional

import grpc
import pytest

import ferry
from ferry.v1 import admin_pb2, admin_pb2_grpc
from secured_ferry import START_TIMEOUT_S, _serving, ferry_bin

_admin: Any = admin_pb2_grpc  # the generated stubs carry no type hints


def free_ports(n: int) -> List[int]:
    """n loopback ports that were free a moment ago (all bound at once, so
    they differ)."""
    socks = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


class FerryProcess:
    """One ferry serve process on 127.0.0.1:port, logging to directory."""

    def __init__(self, directory: Path, port: int, kafka: str) -> None:
        self.dir = directory
        self.port = port
        self.kafka = kafka
        self.address = f"127.0.0.1:{port}"
        self.proc: Optional["subprocess.Popen[bytes]"] = None
        self.starts = 0
        directory.mkdir(parents=True, exist_ok=True)

    @property
    def log_path(self) -> Path:
        return self.dir / "ferry.log"

    def start(self) -> None:
        """Starts ferry (not waiting for it; see wait_serving)."""
        self.starts += 1
        addr_file = self.dir / "addr"
        addr_file.unlink(missing_ok=True)
        with open(self.log_path, "ab") as log:
            log.write(f"--- start {self.starts}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                [ferry_bin(), "serve", "--listen", self.address, "--kafka", self.kafka,
                 "--addr-file", str(addr_file), "--log-level", "warn"],
                stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip

    def wait_serving(self) -> None:
        """Waits until ferry listens and its health check says SERVING."""
        deadline = time.monotonic() + START_TIMEOUT_S
        addr_file = self.dir / "addr"
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                pytest.fail(f"ferry {self.address} exited {self.proc.returncode}: {self.log_path.read_text()}",
                            pytrace=False)  # fmt: skip
            if addr_file.exists() and addr_file.read_text().strip():
                with ferry.connect(self.address) as channel:
                    if _serving(channel):
                        return
            time.sleep(0.05)
        pytest.fail(f"ferry {self.address} not SERVING within {START_TIMEOUT_S:.0f}s: {self.log_path.read_text()}",
                    pytrace=False)  # fmt: skip

    def kill(self) -> None:
        """SIGKILL (also of a stopped process) and reap."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def pause(self) -> None:
        """SIGSTOP: the process holds its connections but answers nothing."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def restart(self) -> None:
        """SIGKILL, then a new process on the same port, waited for."""
        self.kill()
        self.start()
        self.wait_serving()

    def stop(self) -> None:
        """Ends the process at the end of a test (SIGTERM, then SIGKILL)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGCONT)
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def session_ids(self) -> List[str]:
        """The ids of the sessions this ferry serves (AdminService.ListSessions,
        open to everyone on an unauthenticated loopback ferry); [] when it
        does not answer."""
        with ferry.connect(self.address) as channel:
            try:
                resp = _admin.AdminServiceStub(channel).ListSessions(admin_pb2.ListSessionsRequest(), timeout=5)
            except grpc.RpcError:
                return []
        return [s.session_id for s in resp.sessions]


class Fleet:
    """n ferry processes on fixed ports; ``target`` names them all for one
    gRPC channel (with the round_robin policy, see :meth:`channel_options`)."""

    def __init__(self, directory: Path, kafka: str, n: int = 3) -> None:
        self.ferries = [FerryProcess(directory / f"ferry-{i}", p, kafka) for i, p in enumerate(free_ports(n))]

    @property
    def target(self) -> str:
        return "ipv4:" + ",".join(f.address for f in self.ferries)

    @staticmethod
    def channel_options() -> List[Any]:
        """Round robin over every address, and quick reconnects to a ferry
        that comes back."""
        return [
            ("grpc.lb_policy_name", "round_robin"),
            ("grpc.initial_reconnect_backoff_ms", 100),
            ("grpc.min_reconnect_backoff_ms", 100),
            ("grpc.max_reconnect_backoff_ms", 500),
        ]

    def start(self) -> None:
        for f in self.ferries:
            f.start()
        for f in self.ferries:
            f.wait_serving()

    def serving(self, session_id: str) -> Optional[FerryProcess]:
        """The ferry that serves a session, if one does."""
        for f in self.ferries:
            if session_id in f.session_ids():
                return f
        return None

    def stop(self) -> None:
        for f in self.ferries:
            f.stop()

    def logs(self) -> str:
        return "\n".join(f"== {f.address}\n{f.log_path.read_text(errors='replace')[-4000:]}" for f in self.ferries)
