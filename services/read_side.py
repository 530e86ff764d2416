"""Brings a read model up to date from the event log, page by page, each page exactly once."""

from __future__ import annotations

from typing import Protocol
from uuid import UUID

from eventsourcing.application import Application

from projections.facts import Fact, facts_for
from services.limits import catch_up_page_max


class FactSink(Protocol):
    """A read model that stores facts together with the ledger position they reach."""

    def tracked(self) -> tuple[int, int]: ...

    def write(self, facts: list[Fact], position: int, events: int) -> None: ...

    def reset(self) -> None: ...


def catch_up(
    application: Application[UUID], sink: FactSink, until: int | None = None, page_max: int = catch_up_page_max
) -> int:
    """Apply every event the sink has not seen (up to the first `until` events); returns how many were read.

    Ledger positions can have gaps (a transaction that lost a conflict used a number), so
    `until` counts events, not positions.
    """
    position, events = sink.tracked()
    read = 0
    while until is None or events < until:
        limit = page_max if until is None else min(page_max, until - events)
        notifications = application.recorder.select_notifications(start=position + 1, limit=limit)
        if not notifications:
            break
        facts: list[Fact] = []
        for notification in notifications:
            facts.extend(facts_for(application.mapper.to_domain_event(notification), notification.id))
        position = notifications[-1].id
        events += len(notifications)
        sink.write(facts, position, events)
        read += len(notifications)
    return read


def rebuild(application: Application[UUID], sink: FactSink, until: int | None = None) -> int:
    """Empty the read model and build it again from the events alone (the first `until` events)."""
    sink.reset()
    return catch_up(application, sink, until)
