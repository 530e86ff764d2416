"""Brings a read model up to date from the event log, page by page, each page exactly once."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Final, Protocol
from uuid import UUID

import orjson
from eventsourcing.application import Application
from eventsourcing.persistence import Notification
from eventsourcing.utils import resolve_topic

from projections.facts import NO_FACTS, Fact, facts_for, facts_for_state
from services.limits import catch_up_page_max


class FactSink(Protocol):
    """A read model that stores facts together with the ledger position they reach."""

    def tracked(self) -> tuple[int, int]: ...

    def write(self, facts: list[Fact], position: int, events: int) -> None: ...

    def reset(self) -> None: ...


FactsOf = Callable[[Notification, int], list[Fact]]
SelectNotifications = Callable[[int, int], Sequence[Notification]]


def report_facts(application: Application[UUID]) -> FactsOf:
    """The reports' projection: the domain event's facts, ordered by the event's ledger position.

    Events that need no rows (identifier claims, in stores that recorded them as events) are never decoded, and the
    rest are read straight from their stored state, without building the event object, as
    long as the stored state is the event's own (version 1, neither encrypted nor compressed).
    """
    mapper = application.mapper
    plain = mapper.cipher is None and mapper.compressor is None
    decode = mapper.transcoder.decode

    def facts_of(notification: Notification, sequence: int) -> list[Fact]:
        name = notification.topic.rpartition(".")[2]
        if name in NO_FACTS:
            return []
        if plain and is_first_version(notification.topic):
            data = notification.state
            # The only typed value our events hold is the library's own timestamp, which no
            # fact reads: then plain JSON is the state. Anything else is fully decoded.
            if data.count(_TYPED) == 1 and data.count(_TIMESTAMP) == 1:
                state = orjson.loads(data)
                if type(state.get("timestamp")) is dict:
                    return facts_for_state(name, state, notification.id)
            return facts_for_state(name, decode(data), notification.id)
        return facts_for(mapper.to_domain_event(notification), notification.id)

    return facts_of


_TYPED: Final = b'"_type_"'
_TIMESTAMP: Final = b'"timestamp":{"_type_"'


@lru_cache(maxsize=256)
def is_first_version(topic: str) -> bool:
    """Whether events of this topic are stored as they are read (no upcasting between versions)."""
    return getattr(resolve_topic(topic), "class_version", 1) == 1


def _library_reader(application: Application[UUID]) -> SelectNotifications:
    def select(start: int, limit: int) -> Sequence[Notification]:
        return application.recorder.select_notifications(start=start, limit=limit)

    return select


def catch_up(
    application: Application[UUID],
    sink: FactSink,
    until: int | None = None,
    page_max: int = catch_up_page_max,
    facts_of: FactsOf | None = None,
    select: SelectNotifications | None = None,
) -> int:
    """Apply every event the sink has not seen (up to the first `until` events); returns how many were read.

    Ledger positions can have gaps (a transaction that lost a conflict used a number), so
    `until` counts events, not positions.
    """
    position, events = sink.tracked()
    read = 0
    project = facts_of or report_facts(application)
    read_from = select or _library_reader(application)

    while until is None or events < until:
        limit = page_max if until is None else min(page_max, until - events)
        notifications = read_from(position + 1, limit)
        if not notifications:
            break
        facts: list[Fact] = []
        for offset, notification in enumerate(notifications, start=1):
            facts.extend(project(notification, events + offset))
        position = notifications[-1].id
        events += len(notifications)
        sink.write(facts, position, events)
        read += len(notifications)
    return read


def rebuild(
    application: Application[UUID],
    sink: FactSink,
    until: int | None = None,
    select: SelectNotifications | None = None,
) -> int:
    """Empty the read model and build it again from the events alone (the first `until` events)."""
    sink.reset()
    return catch_up(application, sink, until, select=select)
