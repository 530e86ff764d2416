"""Loads aggregates once, keeps what commands change, and saves a batch in one transaction."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from itertools import islice
from typing import Any, Protocol, TypeVar, cast
from uuid import UUID

import orjson
import structlog
from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate

from domain.project import Project
from services.claims import Claim, ClaimingRecorder, NewClaim, claim_key
from services.codec import LedgerMapper
from services.limits import aggregate_cache_max, project_snapshot_interval

log = structlog.get_logger()

AggregateT = TypeVar("AggregateT", bound=Aggregate)


def mutate_each(aggregate: Any, events: Iterable[Any]) -> Any:
    """The library's projector, without its runtime protocol check of every event.

    That check (an `isinstance` against a typing Protocol) was a third of the time it took to
    load a large project from its events.
    """
    for event in events:
        aggregate = event.mutate(aggregate)
    return aggregate


class SnapshotStore(Protocol):
    """Where project snapshots are kept: the latest of each shape per project."""

    def latest(self, aggregate_id: UUID, shape: int) -> tuple[int, str] | None: ...

    def save(self, aggregate_id: UUID, shape: int, version: int, state: str) -> None: ...


class UnitOfWork:
    """A bounded cache of loaded aggregates and claims, the aggregates with unsaved events, the new claims."""

    def __init__(
        self,
        application: Application[UUID],
        cache_max: int = aggregate_cache_max,
        snapshots: SnapshotStore | None = None,
        snapshot_interval: int = project_snapshot_interval,
    ) -> None:
        self.application = application
        self.cache_max = cache_max
        self.snapshots = snapshots
        self.snapshot_interval = snapshot_interval
        self._loaded: OrderedDict[UUID, Aggregate] = OrderedDict()
        self._changed: dict[UUID, Aggregate] = {}
        # Ids known to have no events, as of the last freshness check (see Ledger).
        self._missing: set[UUID] = set()
        # Projects whose snapshot is due, while snapshots are deferred (see snapshots_deferred).
        self._due: dict[UUID, Project] | None = None
        # Identifier claims (services.claims) known to exist, known to be missing, and made since the last commit.
        self._claims: OrderedDict[str, Claim] = OrderedDict()
        # The claims made since the last commit, kept apart until it: see _keep_batch_claims.
        self._batch_claims: dict[str, Claim] = {}
        self._claims_missing: set[str] = set()
        # Keys of new ids taken to be free without asking (Ledger.presuming_claims_free): only
        # a claim a command makes may be presumed free, never one that must exist.
        self._claims_presumed_free: set[str] = set()
        self._new_claims: list[NewClaim] = []
        # Pending events whose fields were encoded beforehand (note_encoded), by the event's id():
        # each entry holds its event, so that no other object can take that id while it is here.
        self._encoded: dict[int, tuple[object, bytes]] = {}

    @property
    def recorder(self) -> ClaimingRecorder:
        return cast(ClaimingRecorder, self.application.recorder)

    def claim(self, kind: str, identifier: str) -> Claim | None:
        """The claim on this id of this kind, or None when nothing claimed it."""
        key = claim_key(kind, identifier)
        found = self._batch_claims.get(key)
        if found is None:
            found = self._claims.get(key)
        if found is not None or key in self._claims_missing:
            return found
        found = self.recorder.find_claims([key]).get(key)
        self.note_claims({key: found} if found is not None else {}, {key})
        return found

    def claim_on_new_id(self, kind: str, identifier: str) -> Claim | None:
        """claim(), for an id a command means to claim anew: None also when it is presumed free.

        A presumed-free key that was taken after all fails the commit (the claims table's key).
        """
        if claim_key(kind, identifier) in self._claims_presumed_free:
            return None
        return self.claim(kind, identifier)

    def presume_claims_free(self, keys: set[str]) -> None:
        """Take these keys of new ids to be free until the next commit or discard, without asking the store."""
        self._claims_presumed_free |= keys

    def record_claim(self, kind: str, identifier: str, project_id: str, command_digest: str) -> None:
        """Claim the id for the project, with the events of the next commit."""
        key = claim_key(kind, identifier)
        self._new_claims.append(NewClaim(key, project_id, command_digest))
        self._batch_claims[key] = Claim(project_id, command_digest)
        self._claims_missing.discard(key)
        self._claims_presumed_free.discard(key)

    def note_encoded(self, event: object, fields: bytes) -> None:
        """`event`, pending, has its fields after the timestamp encoded as `fields` (for to_stored_event_encoded)."""
        self._encoded[id(event)] = (event, fields)

    def unknown_claims(self, keys: set[str]) -> set[str]:
        """Of these claim keys, those neither known to exist nor known to be missing."""
        known, missing, made = self._claims, self._claims_missing, self._batch_claims
        return {key for key in keys if key not in known and key not in missing and key not in made}

    def note_claims(self, found: dict[str, Claim], asked: set[str]) -> None:
        """Remember what the store answered for `asked`: `found` exist, the others are missing."""
        self._claims.update(found)
        self._claims_missing.update(key for key in asked if key not in found)

    def get(self, kind: type[AggregateT], aggregate_id: UUID) -> AggregateT | None:
        """The aggregate with this id, or None when the ledger has none."""
        found = self._loaded.get(aggregate_id)
        if found is None and aggregate_id in self._missing:
            return None
        if found is None:
            found = self._load(kind, aggregate_id)
            if found is None:
                return None
            self._remember(found)
        else:
            self._loaded.move_to_end(aggregate_id)
        if not isinstance(found, kind):
            return None
        return found

    def _load(self, kind: type[Aggregate], aggregate_id: UUID) -> Aggregate | None:
        if kind is Project and self.snapshots is not None:
            found = self._from_snapshot(aggregate_id)
            if found is not None:
                return found
        try:
            loaded: Aggregate = self.application.repository.get(aggregate_id, projector_func=mutate_each)
        except AggregateNotFoundError:
            return None
        return loaded

    def _from_snapshot(self, aggregate_id: UUID) -> Project | None:
        """The project from its latest snapshot and the events after it; None when there is none to use."""
        assert self.snapshots is not None
        latest = self.snapshots.latest(aggregate_id, Project.SNAPSHOT_SHAPE)
        if latest is None:
            return None
        version, text = latest
        try:
            saved = orjson.loads(text)
            project = object.__new__(Project)
            project.__base_init__(aggregate_id, version, datetime.fromisoformat(saved["created_on"]))
            project.modified_on = datetime.fromisoformat(saved["modified_on"])
            project.restore_snapshot_state(saved["state"])
        except (ValueError, KeyError, TypeError, AssertionError) as error:
            log.warning("snapshot_unusable", version=version, error=type(error).__name__)
            return None
        loaded: Project = mutate_each(project, self.application.events.get(aggregate_id, gt=version))
        return loaded

    @contextmanager
    def snapshots_deferred(self) -> Iterator[None]:
        """Take the snapshots that fall due inside this block once, at its end, instead of as they fall due.

        An import keeps its projects loaded throughout, so a snapshot taken on the way serves
        nobody until it ends: the largest generated project (540,000 events, one snapshot per
        50,000) was snapshotted about ten times, and 6.2% of a full-size import's profile went
        on snapshots. A project that
        leaves the cache meanwhile is snapshotted as it leaves. If the block fails or the
        process dies, the snapshots are simply not taken (a project may then hold events that
        were never recorded): a later load reads more events.
        """
        self._due = {}
        try:
            yield
        except BaseException:
            self._due = None
            raise
        due, self._due = self._due, None
        self._take_snapshots([project for project in due.values() if not project.pending_events])

    def _snapshots_due(self, saved: Sequence[tuple[Aggregate, int]]) -> list[Project]:
        """The projects whose version passed a multiple of the interval in the commit that saved them."""
        interval = self.snapshot_interval
        return [
            aggregate
            for aggregate, before in saved
            if isinstance(aggregate, Project) and before // interval != aggregate.version // interval
        ]

    def _take_snapshots(self, projects: Sequence[Project]) -> None:
        """Snapshot each project as it stands: after a commit, so a snapshot only ever holds recorded events.

        A failure to save one is logged and costs nothing but a slower load later.
        """
        if not projects:
            return
        assert self.snapshots is not None
        for aggregate in projects:
            state = {
                "created_on": aggregate.created_on.isoformat(),
                "modified_on": aggregate.modified_on.isoformat(),
                "state": aggregate.snapshot_state(),
            }
            try:
                self.snapshots.save(
                    aggregate.id, Project.SNAPSHOT_SHAPE, aggregate.version, orjson.dumps(state).decode()
                )
            except Exception as error:  # noqa: BLE001 - a snapshot is an optimisation; the events are recorded
                log.warning("snapshot_not_saved", version=aggregate.version, error=type(error).__name__)

    def changed(self, aggregate: Aggregate) -> None:
        """Note that a command triggered events on this aggregate (new or loaded).

        An aggregate created here goes in at the cold end of the cache, as new claims do: placed
        at the warm end, a burst of registrations would push out the projects that every later
        command reads. One that is read again moves to the warm end like any other.
        """
        if aggregate.id in self._changed:
            # Noted since the last commit, so loaded too; get() already moved it to the warm end.
            return
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
        """Save every change and new claim in one transaction; returns the ledger positions of the events recorded."""
        # A presumption holds for the batch it was made for: the store's key checks the claims made.
        self._claims_presumed_free.clear()
        if not self._changed and not self._new_claims:
            return []
        # The events go straight to the store: Application.save would first test each aggregate
        # against two runtime protocols, which costs more than recording the event.
        collected = [(aggregate, aggregate.collect_events()) for aggregate in self._changed.values()]
        events = [event for _, pending in collected for event in pending]
        # The mapper and the recorder directly: EventStore.put would also build a Recording and a
        # Notification object for every event, and only the positions are wanted here.
        mapper = self.application.mapper
        to_stored = mapper.to_stored_event
        encoded = self._encoded
        if encoded and isinstance(mapper, LedgerMapper):
            to_encoded = mapper.to_stored_event_encoded
            stored = [
                to_stored(event) if (entry := encoded.get(id(event))) is None else to_encoded(event, entry[1])
                for event in events
            ]
        else:
            stored = [to_stored(event) for event in events]
        encoded.clear()
        positions = self.recorder.insert_events(stored, claims=self._new_claims)
        self._changed.clear()
        self._new_claims = []
        self._keep_batch_claims()
        if self.snapshots is not None:
            due = self._snapshots_due([(aggregate, aggregate.version - len(new)) for aggregate, new in collected])
            if self._due is None:
                self._take_snapshots(due)
            else:
                self._due.update((project.id, project) for project in due)
        self._trim()
        return sorted(positions or [])

    def discard(self) -> None:
        """Forget unsaved changes and everything loaded: the next get reads the store again.

        Deferred snapshots go too: another writer may have recorded events after them.
        """
        self._changed.clear()
        self._loaded.clear()
        self._missing.clear()
        self._claims.clear()
        self._batch_claims.clear()
        self._claims_missing.clear()
        self._claims_presumed_free.clear()
        self._new_claims = []
        self._encoded.clear()
        if self._due is not None:
            self._due.clear()

    def _keep_batch_claims(self) -> None:
        """Keep the claims just recorded, at the cache's cold end, as far as it has room: most are never asked again.

        The first ones recorded are kept, as when each went to the cold end as it was made
        and _trim took the last ones out again. Once the cache is full that was a move and a
        pop for nearly every donation (3-4% of the import's deciding process, py-spy), for
        claims that left the cache at the commit that recorded them (docs/PERFORMANCE.md,
        change 104).
        """
        claims, made = self._claims, self._batch_claims
        room = self.cache_max - len(claims)
        for key, claim in islice(made.items(), max(room, 0)):
            claims[key] = claim
            claims.move_to_end(key, last=False)
        made.clear()

    def _remember(self, aggregate: Aggregate) -> None:
        self._loaded[aggregate.id] = aggregate
        self._loaded.move_to_end(aggregate.id)

    def _trim(self) -> None:
        while len(self._loaded) > self.cache_max:
            identity, _ = self._loaded.popitem(last=False)
            leaving = self._due.pop(identity, None) if self._due else None
            if leaving is not None:
                self._take_snapshots([leaving])
        if len(self._missing) > self.cache_max:
            self._missing.clear()
        while len(self._claims) > self.cache_max:
            self._claims.popitem(last=False)
        if len(self._claims_missing) > self.cache_max:
            self._claims_missing.clear()
