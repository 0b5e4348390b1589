"""Fixtures for the ferry Python client tests.

The tests run against a REAL ferry server connected to a REAL Kafka broker.
They never skip: a missing environment variable or an unreachable server is a
failure.

Environment:
    FERRY_ADDR                  host:port of a running ferry server whose
                                default cluster is the broker below.
    FERRY_TEST_KAFKA            host:port of that Kafka broker.
    FERRY_TEST_KAFKA_CLASSPATH  a Java classpath ("dir/*") with the Apache
                                Kafka 4.x jars, kafka-tools included; used to
                                create topics (auto-create is off).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from typing import Callable, Iterator

import grpc
import pytest

import ferry

REQUIRED_ENV = ("FERRY_ADDR", "FERRY_TEST_KAFKA", "FERRY_TEST_KAFKA_CLASSPATH")

# Seconds to wait for the server's channel to become ready.
CONNECT_TIMEOUT_S = 15.0
# Seconds one TopicCommand run may take (JVM start included).
TOPIC_COMMAND_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class TestEnv:
    """The environment the tests run in."""

    __test__ = False  # not a test class, despite its name

    ferry_addr: str
    kafka: str
    kafka_classpath: str


@pytest.fixture(scope="session", autouse=True)
def test_env() -> TestEnv:
    """Reads the required environment; fails (never skips) when incomplete."""
    missing = [name for name in REQUIRED_ENV if not os.environ.get(name)]
    if missing:
        pytest.fail(
            "missing environment variable(s) "
            + ", ".join(missing)
            + ": the Python client tests need a running ferry server (FERRY_ADDR) "
            "connected to a real Kafka broker (FERRY_TEST_KAFKA) and the Kafka jars "
            "(FERRY_TEST_KAFKA_CLASSPATH); run them through test/kafka/with-kafka.sh",
            pytrace=False,
        )
    return TestEnv(
        ferry_addr=os.environ["FERRY_ADDR"],
        kafka=os.environ["FERRY_TEST_KAFKA"],
        kafka_classpath=os.environ["FERRY_TEST_KAFKA_CLASSPATH"],
    )


@pytest.fixture(scope="session")
def channel(test_env: TestEnv) -> Iterator[grpc.Channel]:
    """A channel to the ferry server, checked to be ready."""
    ch = ferry.connect(test_env.ferry_addr)
    try:
        grpc.channel_ready_future(ch).result(timeout=CONNECT_TIMEOUT_S)
    except grpc.FutureTimeoutError:
        ch.close()
        pytest.fail(
            f"ferry server at FERRY_ADDR={test_env.ferry_addr} not reachable "
            f"within {CONNECT_TIMEOUT_S:.0f}s",
            pytrace=False,
        )
    yield ch
    ch.close()


def _java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        candidate = os.path.join(java_home, "bin", "java")
        if os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("java")
    if found is None:
        pytest.fail("java not found: needed to run Kafka's TopicCommand", pytrace=False)
    return found


@pytest.fixture(scope="session")
def create_topic(test_env: TestEnv) -> Callable[[str, int], str]:
    """Returns a function that creates a topic with Kafka's own CLI."""

    def create(prefix: str, partitions: int = 3) -> str:
        name = f"{prefix}-{uuid.uuid4().hex}"
        cmd = [
            _java(),
            "-cp",
            test_env.kafka_classpath,
            "org.apache.kafka.tools.TopicCommand",
            "--bootstrap-server",
            test_env.kafka,
            "--create",
            "--topic",
            name,
            "--partitions",
            str(partitions),
            "--replication-factor",
            "1",
        ]
        try:
            proc = subprocess.run(
                cmd,
                capture_output=True,
                text=True,
                timeout=TOPIC_COMMAND_TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired:
            pytest.fail(
                f"TopicCommand --create {name} did not finish in "
                f"{TOPIC_COMMAND_TIMEOUT_S:.0f}s",
                pytrace=False,
            )
        if proc.returncode != 0:
            pytest.fail(
                f"TopicCommand --create {name} exited {proc.returncode}:\n"
                f"stdout: {proc.stdout}\nstderr: {proc.stderr}",
                pytrace=False,
            )
        return name

    return create
