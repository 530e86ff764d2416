"""The relay: publishes every committed event, in ledger order, to Kafka, and records how far it got."""

from __future__ import annotations

from typing import Any

import structlog
from eventsourcing.persistence import Notification
from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError

from infra.database import Database
from infra.limits import kafka_block_ms_max, kafka_producer_retries_max, kafka_request_timeout_ms_max
from projections.event_message import event_message
from projections.facts import Fact

log = structlog.get_logger()
SCHEMA = """CREATE TABLE IF NOT EXISTS ft_relay_tracking (
    topic TEXT PRIMARY KEY, position BIGINT NOT NULL, events BIGINT NOT NULL)"""


def producer(bootstrap: str) -> KafkaProducer:
    """Every option explicit: all in-sync replicas acknowledge, one request in flight keeps order on retry."""
    return KafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        retries=kafka_producer_retries_max,
        max_in_flight_requests_per_connection=1,
        request_timeout_ms=kafka_request_timeout_ms_max,
        max_block_ms=kafka_block_ms_max,
        linger_ms=5,
        client_id="fundtrail-relay",
    )


def ensure_topic(bootstrap: str, topic: str, partitions: int) -> None:
    admin = KafkaAdminClient(
        bootstrap_servers=bootstrap, request_timeout_ms=kafka_request_timeout_ms_max, client_id="fundtrail-admin"
    )
    try:
        admin.create_topics([NewTopic(name=topic, num_partitions=partitions, replication_factor=1)])
        log.info("topic_created", topic=topic, partitions=partitions)
    except TopicAlreadyExistsError:
        pass
    finally:
        admin.close()


def relay_facts(notification: Notification, sequence: int) -> list[Fact]:
    key, headers, value = event_message(notification, sequence)
    return [("message", {"key": key, "headers": headers, "value": value, "sequence": sequence})]


class Relay:
    """A fact sink for catch-up: a page of events is published and acknowledged before its position is kept.

    A crash between the two re-publishes that page on restart: duplicates, never a gap.
    """

    def __init__(self, database: Database, kafka: Any, topic: str) -> None:
        self.database, self.kafka, self.topic = database, kafka, topic
        with database.transaction() as writer:
            writer.execute(SCHEMA)

    def tracked(self) -> tuple[int, int]:
        rows = self.database.query(
            "SELECT position, events FROM ft_relay_tracking WHERE topic = :topic", {"topic": self.topic}
        )
        return (int(rows[0]["position"]), int(rows[0]["events"])) if rows else (0, 0)

    def write(self, facts: list[Fact], position: int, events: int) -> None:
        sent = [
            self.kafka.send(self.topic, key=row["key"], value=row["value"], headers=row["headers"]) for _, row in facts
        ]
        self.kafka.flush(timeout=kafka_request_timeout_ms_max / 1000)
        for future in sent:
            future.get(timeout=kafka_request_timeout_ms_max / 1000)
        self._keep(position, events)
        log.info("events_published", topic=self.topic, events=len(facts), position=position)

    def reset(self) -> None:
        """Publish everything again from the first event (after the topic was lost)."""
        self._keep(0, 0)

    def _keep(self, position: int, events: int) -> None:
        with self.database.transaction() as writer:
            writer.execute(
                "INSERT INTO ft_relay_tracking (topic, position, events) VALUES (:topic, :position, :events) "
                "ON CONFLICT (topic) DO UPDATE SET position = excluded.position, events = excluded.events",
                {"topic": self.topic, "position": position, "events": events},
            )
