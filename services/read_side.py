"""Brings a read model up to date from the event log, page by page, each page exactly once."""

from __future__ import annotations

from typing import Protocol
from uuid import UUID

from eventsourcing.application import Application

from projections.facts import Fact, facts_for
from services.limits import catch_up_page_max


class FactSink(Protocol):
    """A read model that stores facts together with the ledger position they reach."""

    def position(self) -> int: ...

    def write(self, facts: list[Fact], position: int) -> None: ...

    def reset(self) -> None: ...


def catch_up(
    application: Application[UUID], sink: FactSink, until: int | None = None, page_max: int = catch_up_page_max
) -> int:
    """Apply every event after the sink's position (up to `until`); returns how many were read."""
    position = sink.position()
    read = 0
    while until is None or position < until:
        limit = page_max if until is None else min(page_max, until - position)
        notifications = application.recorder.select_notifications(start=position + 1, limit=limit)
        if not notifications:
            break
        facts: list[Fact] = []
        for notification in notifications:
            facts.extend(facts_for(application.mapper.to_domain_event(notification), notification.id))
        position = notifications[-1].id
        sink.write(facts, position)
        read += len(notifications)
    return read


def rebuild(application: Application[UUID], sink: FactSink, until: int | None = None) -> int:
    """Empty the read model and build it again from the events alone (up to position `until`)."""
    sink.reset()
    return catch_up(application, sink, until)
