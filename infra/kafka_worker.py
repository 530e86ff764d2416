"""A worker: builds the read models in its own database from Kafka alone, each event exactly once."""

from __future__ import annotations

import time

import structlog
from kafka import KafkaConsumer

from infra.limits import (
    kafka_consumer_request_timeout_ms_max,
    kafka_session_timeout_ms_max,
    worker_join_seconds_max,
    worker_poll_records_max,
    worker_poll_timeout_ms_max,
)
from infra.read_model import ReadModel
from projections.event_message import message_facts

log = structlog.get_logger()


class GroupJoinTimeout(Exception):
    """The consumer group never assigned this worker any partition."""


def consumer(bootstrap: str, topic: str, group: str) -> KafkaConsumer:
    """Offsets are committed by hand, after the read-model transaction: never before."""
    return KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=worker_poll_records_max,
        session_timeout_ms=kafka_session_timeout_ms_max,
        heartbeat_interval_ms=kafka_session_timeout_ms_max // 10,
        request_timeout_ms=kafka_consumer_request_timeout_ms_max,
        client_id="fundtrail-worker",
    )


def run_worker(kafka: KafkaConsumer, read_model: ReadModel, until_idle: float | None) -> int:
    """Consume until stopped (or idle for `until_idle` seconds once joined); returns events newly applied."""
    started = last_activity = time.monotonic()
    joined = False
    applied = 0
    while True:
        batches = kafka.poll(timeout_ms=worker_poll_timeout_ms_max)
        now = time.monotonic()
        if not joined and kafka.assignment():
            joined, last_activity = True, now
            log.info("worker_joined", partitions=sorted(part.partition for part in kafka.assignment()))
        records = [record for partition in batches.values() for record in partition]
        if records:
            fresh = read_model.apply_messages([message_facts(record.value) for record in records])
            kafka.commit()
            applied += fresh
            last_activity = now
            log.info("events_applied", received=len(records), new=fresh)
        elif joined and until_idle is not None and now - last_activity >= until_idle:
            return applied
        elif not joined and now - started > worker_join_seconds_max:
            raise GroupJoinTimeout(f"no partition was assigned within {worker_join_seconds_max} s")
