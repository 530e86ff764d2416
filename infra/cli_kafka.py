"""`fundtrail relay` and `fundtrail worker`: the event stream on Kafka, and read models built from it."""

from __future__ import annotations

import time
from typing import Annotated

import structlog
import typer

from infra.cli_common import EXIT_USAGE, StoreOption, fail, open_or_exit
from infra.limits import relay_batch_max, relay_poll_seconds_max
from infra.logging import bind_correlation_id
from infra.store import StoreUnavailable, open_read_store
from services.read_side import catch_up

log = structlog.get_logger()
KafkaOption = Annotated[str, typer.Option("--kafka", help="Bootstrap server HOST:PORT.")]
TopicOption = Annotated[str, typer.Option("--topic", help="The events topic.")]


def relay(
    kafka: KafkaOption,
    topic: TopicOption = "fundtrail.events",
    partitions: Annotated[int, typer.Option("--partitions", min=1, help="Partitions when creating the topic.")] = 3,
    until_caught_up: Annotated[
        bool, typer.Option("--until-caught-up", help="Publish what is there, then exit.")
    ] = False,
    from_start: Annotated[bool, typer.Option("--from-start", help="Publish everything again (topic lost).")] = False,
    store: StoreOption = None,
) -> None:
    """Publish every recorded event, in ledger order, to Kafka; resumes where it stopped after a crash."""
    # The Kafka client takes a second to import: only the commands that use it pay for it.
    from infra.kafka_relay import Relay, ensure_topic, producer, relay_facts

    stores = open_or_exit(store, "relay")
    try:
        ensure_topic(kafka, topic, partitions)
        sink = Relay(stores.database, producer(kafka), topic)
        if from_start:
            sink.reset()
        while True:
            published = catch_up(stores.application, sink, page_max=relay_batch_max, facts_of=relay_facts)
            if not published and until_caught_up:
                break
            if not published:
                time.sleep(relay_poll_seconds_max)
    except KeyboardInterrupt:
        log.info("relay_stopped")
    except Exception as error:  # noqa: BLE001 - a broker failure is one clear line; the position is kept
        raise fail(f"relay stopped: {type(error).__name__}: {error}") from None
    finally:
        stores.close()


def worker(
    kafka: KafkaOption,
    group: Annotated[str, typer.Option("--group", help="The consumer group; workers in one group share partitions.")],
    read_store: Annotated[
        str, typer.Option("--read-store", help="Where to build the read models (not the event store).")
    ],
    topic: TopicOption = "fundtrail.events",
    until_idle: Annotated[
        float | None, typer.Option("--until-idle", min=0, help="Exit after SECONDS with nothing new.")
    ] = None,
) -> None:
    """Build the read models at --read-store from Kafka alone; offsets are committed after each transaction."""
    from infra.kafka_worker import GroupJoinTimeout, consumer, run_worker

    bind_correlation_id("worker")
    try:
        read_model = open_read_store(read_store)
    except StoreUnavailable as error:
        raise fail(str(error), EXIT_USAGE) from None
    kafka_consumer = consumer(kafka, topic, group)
    try:
        applied = run_worker(kafka_consumer, read_model, until_idle)
        log.info("worker_finished", applied=applied)
    except KeyboardInterrupt:
        log.info("worker_stopped")
    except GroupJoinTimeout as error:
        raise fail(str(error)) from None
    finally:
        kafka_consumer.close()
        read_model.database.close()


def register(app: typer.Typer) -> None:
    app.command()(relay)
    app.command()(worker)
