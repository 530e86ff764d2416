"""Loads aggregates once, keeps what commands change, and saves a batch in one transaction."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate

from services.limits import aggregate_cache_max

AggregateT = TypeVar("AggregateT", bound=Aggregate)


def mutate_each(aggregate: Any, events: Iterable[Any]) -> Any:
    """The library's projector, without its runtime protocol check of every event.

    That check (an `isinstance` against a typing Protocol) was a third of the time it took to
    load a large project from its events.
    """
    for event in events:
        aggregate = event.mutate(aggregate)
    return aggregate


class UnitOfWork:
    """A bounded cache of loaded aggregates and the set of those with unsaved events."""

    def __init__(self, application: Application[UUID], cache_max: int = aggregate_cache_max) -> None:
        self.application = application
        self.cache_max = cache_max
        self._loaded: OrderedDict[UUID, Aggregate] = OrderedDict()
        self._changed: dict[UUID, Aggregate] = {}
        # Ids known to have no events, as of the last freshness check (see Ledger).
        self._missing: set[UUID] = set()

    def get(self, kind: type[AggregateT], aggregate_id: UUID) -> AggregateT | None:
        """The aggregate with this id, or None when the ledger has none."""
        found = self._loaded.get(aggregate_id)
        if found is None and aggregate_id in self._missing:
            return None
        if found is None:
            try:
                found = self.application.repository.get(aggregate_id, projector_func=mutate_each)
            except AggregateNotFoundError:
                return None
            self._remember(found)
        else:
            self._loaded.move_to_end(aggregate_id)
        if not isinstance(found, kind):
            return None
        return found

    def changed(self, aggregate: Aggregate) -> None:
        """Note that a command triggered events on this aggregate (new or loaded).

        An aggregate created here goes in at the cold end of the cache: most are write-once
        (an identifier claim per donation), and placed at the warm end they would push out
        the donors and projects that every later command reads. One that is read again
        moves to the warm end like any other.
        """
        self._changed[aggregate.id] = aggregate
        self._missing.discard(aggregate.id)
        if aggregate.id in self._loaded:
            self._remember(aggregate)
        else:
            self._loaded[aggregate.id] = aggregate
            self._loaded.move_to_end(aggregate.id, last=False)

    def note_missing(self, aggregate_ids: set[UUID]) -> None:
        """Remember ids that the store holds no events for, so that looking them up costs nothing."""
        loaded = self._loaded
        self._missing.update(identity for identity in aggregate_ids if identity not in loaded)

    def unknown(self, aggregate_ids: set[UUID]) -> set[UUID]:
        """Of these ids, those neither loaded nor known to be missing."""
        loaded, missing = self._loaded, self._missing
        return {identity for identity in aggregate_ids if identity not in loaded and identity not in missing}

    @property
    def has_changes(self) -> bool:
        return bool(self._changed)

    def commit(self) -> list[int]:
        """Save every change in one transaction; returns the ledger positions of the events recorded."""
        if not self._changed:
            return []
        # The events go straight to the event store: Application.save would first test each
        # aggregate against two runtime protocols, which costs more than recording the event.
        events = [event for aggregate in self._changed.values() for event in aggregate.collect_events()]
        recordings = self.application.events.put(events)
        self._changed.clear()
        self._trim()
        return sorted(recording.notification.id for recording in recordings)

    def discard(self) -> None:
        """Forget unsaved changes and everything loaded: the next get reads the store again."""
        self._changed.clear()
        self._loaded.clear()
        self._missing.clear()

    def _remember(self, aggregate: Aggregate) -> None:
        self._loaded[aggregate.id] = aggregate
        self._loaded.move_to_end(aggregate.id)

    def _trim(self) -> None:
        while len(self._loaded) > self.cache_max:
            self._loaded.popitem(last=False)
        if len(self._missing) > self.cache_max:
            self._missing.clear()
