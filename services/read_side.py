"""Brings a read model up to date from the event log, page by page, each page exactly once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import Notification

from projections.facts import Fact, facts_for
from services.limits import catch_up_page_max


class FactSink(Protocol):
    """A read model that stores facts together with the ledger position they reach."""

    def tracked(self) -> tuple[int, int]: ...

    def write(self, facts: list[Fact], position: int, events: int) -> None: ...

    def reset(self) -> None: ...


FactsOf = Callable[[Notification, int], list[Fact]]


def report_facts(application: Application[UUID]) -> FactsOf:
    """The reports' projection: the domain event's facts, ordered by the event's ledger position."""

    def facts_of(notification: Notification, sequence: int) -> list[Fact]:
        return facts_for(application.mapper.to_domain_event(notification), notification.id)

    return facts_of


def catch_up(
    application: Application[UUID],
    sink: FactSink,
    until: int | None = None,
    page_max: int = catch_up_page_max,
    facts_of: FactsOf | None = None,
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
        project = facts_of or report_facts(application)
        facts: list[Fact] = []
        for offset, notification in enumerate(notifications, start=1):
            facts.extend(project(notification, events + offset))
        position = notifications[-1].id
        events += len(notifications)
        sink.write(facts, position, events)
        read += len(notifications)
    return read


def rebuild(application: Application[UUID], sink: FactSink, until: int | None = None) -> int:
    """Empty the read model and build it again from the events alone (the first `until` events)."""
    sink.reset()
    return catch_up(application, sink, until)
