"""The event stream on a real Kafka-protocol broker: relay, workers in a group, crashes and a lost broker.

Joining a consumer group on the test broker takes 10 to 30 seconds, so each test starts its
workers once and lets them run side by side.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from infra.store import open_read_store, open_stores
from projections.checksum import reports_checksum
from projections.reports import all_reports
from tests.cli import FUNDTRAIL, fundtrail, output_json
from tests.integration.kafka_broker import Broker
from tests.ledger_fixtures import LedgerUnderTest
from tests.scripts import OPERATIONS, build_commands

IDLE_SECONDS = "6"


def environment(store: str) -> dict[str, str]:
    return dict(os.environ, FUNDTRAIL_STORE=store, FUNDTRAIL_LOG_LEVEL="warning")


def story_file(path: Path, commands: int, seed: int) -> Path:
    chooser = random.Random(seed)
    operations = [operation for operation in OPERATIONS if operation != "close"]
    steps = [
        (chooser.choice(operations), chooser.randrange(10_000), chooser.randrange(1, 200_000), chooser.randrange(2, 27))
        for _ in range(commands)
    ]
    path.write_text("".join(json.dumps(command) + "\n" for command in build_commands(steps)))
    return path


def prepared_store(url: str) -> None:
    stores = open_stores(url)
    books = LedgerUnderTest(stores.application, stores.read_model)
    books.setup_project("P")
    books.open_project("Q")
    stores.close()


def worker(broker: Broker, group: str, read_store: str, topic: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            FUNDTRAIL,
            "worker",
            "--kafka",
            broker.bootstrap,
            "--group",
            group,
            "--read-store",
            read_store,
            "--topic",
            topic,
            "--until-idle",
            IDLE_SECONDS,
        ],
        env=environment("sqlite:///nowhere/unused.db"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def relay(broker: Broker, store: str, topic: str, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [FUNDTRAIL, "relay", "--kafka", broker.bootstrap, "--topic", topic, *extra],
        env=environment(store),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def read_store_books(read_store: str) -> dict[str, Any]:
    read_model = open_read_store(read_store)
    try:
        return {
            "events": read_model.tracked()[1],
            "checksum": reports_checksum(read_model),
            "reports": all_reports(read_model),
        }
    finally:
        read_model.database.close()


def event_store_books(store: str) -> dict[str, Any]:
    stores = open_stores(store)
    try:
        stores.catch_up()
        return {
            "events": stores.read_model.tracked()[1],
            "checksum": reports_checksum(stores.read_model),
            "reports": all_reports(stores.read_model),
        }
    finally:
        stores.close()


def finished(process: subprocess.Popen[str], timeout: float = 300) -> None:
    _, stderr = process.communicate(timeout=timeout)
    assert 0 == process.returncode, stderr


def test_a_relay_and_two_workers_in_one_group_build_the_same_books(
    kafka_broker: Broker, postgres_url: str, tmp_path: Path
) -> None:
    store = f"sqlite:///{tmp_path / 'events.db'}"
    prepared_store(store)
    fundtrail(store, "import", str(story_file(tmp_path / "story.jsonl", 400, seed=1)))
    finished(relay(kafka_broker, store, "events-two-workers", "--partitions", "3", "--until-caught-up"))
    workers = [worker(kafka_broker, "two-workers", postgres_url, "events-two-workers") for _ in range(2)]
    for process in workers:
        finished(process)
    expected, built = event_store_books(store), read_store_books(postgres_url)
    assert expected == built
    assert output_json(fundtrail(store, "replay"))["checksum"] == built["checksum"]


def test_a_relay_and_a_worker_killed_mid_stream_lose_nothing_and_count_nothing_twice(
    kafka_broker: Broker, tmp_path: Path
) -> None:
    store, read_store, topic = f"sqlite:///{tmp_path / 'events.db'}", f"sqlite:///{tmp_path / 'read.db'}", "events-kill"
    prepared_store(store)
    importer = subprocess.Popen(
        [FUNDTRAIL, "import", str(story_file(tmp_path / "story.jsonl", 6000, seed=2)), "--batch-size", "20"],
        env=environment(store),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    running_relay = relay(kafka_broker, store, topic)
    running_worker = subprocess.Popen(
        [
            FUNDTRAIL,
            "worker",
            "--kafka",
            kafka_broker.bootstrap,
            "--group",
            "kill",
            "--read-store",
            read_store,
            "--topic",
            topic,
        ],
        env=environment(store),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and read_store_books(read_store)["events"] < 200:
        time.sleep(0.2)
    for process in (running_relay, running_worker):
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    killed_at = read_store_books(read_store)["events"]
    importer.wait(timeout=600)
    expected = event_store_books(store)
    assert 200 <= killed_at < expected["events"], "the kill did not land mid-stream: the test would prove nothing"

    finished(relay(kafka_broker, store, topic, "--until-caught-up"))
    finished(worker(kafka_broker, "kill", read_store, topic))
    assert expected == read_store_books(read_store)


def test_after_the_broker_lost_its_topics_a_republish_lets_the_workers_converge(
    kafka_broker: Broker, tmp_path: Path
) -> None:
    if kafka_broker.external:
        return  # an external Kafka keeps its topics; the loss this test stages needs the in-memory broker
    store, read_store, topic = f"sqlite:///{tmp_path / 'events.db'}", f"sqlite:///{tmp_path / 'read.db'}", "events-lost"
    prepared_store(store)
    fundtrail(store, "import", str(story_file(tmp_path / "first.jsonl", 200, seed=3)))
    finished(relay(kafka_broker, store, topic, "--until-caught-up"))
    kafka_broker.stop()
    kafka_broker.start()
    fundtrail(store, "import", str(story_file(tmp_path / "second.jsonl", 200, seed=4)))
    finished(relay(kafka_broker, store, topic, "--until-caught-up", "--from-start"))
    finished(worker(kafka_broker, "after-loss", read_store, topic))
    assert event_store_books(store) == read_store_books(read_store)
