"""The one place where the pieces are wired: a store URL becomes an event store and a read model."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final
from urllib.parse import urlsplit
from uuid import UUID

import orjson
import structlog
from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import Notification

from domain.identity import aggregate_id
from infra.database import Database, SQLiteDatabase
from infra.donor_keys import DonorKeyVault
from infra.ledger_log_store import LedgerLogStore
from infra.limits import (
    analyze_after_events_min,
    postgres_connect_timeout_seconds_max,
    postgres_pool_size_max,
    sqlite_lock_timeout_seconds_max,
)
from infra.read_model import ReadModel
from infra.snapshots import SnapshotTable
from infra.store_url import DEFAULT_STORE as DEFAULT_STORE
from infra.store_url import StoreUnavailable as StoreUnavailable
from infra.store_url import open_read_only as open_read_only
from infra.store_url import postgres_database, sqlite_path
from infra.store_url import redact as redact
from infra.store_url import store_url as store_url
from projections.ledger_log import StoredRow, logged_leaves
from services.claims import copy_claim_events
from services.ledger import Ledger, LedgerApplication
from services.limits import catch_up_page_max
from services.read_side import catch_up

if TYPE_CHECKING:
    from infra.catch_up_sql import PageInSQL

# Each dialect's stored-events table and the column that holds an event's ledger position.
EVENTS_TABLE: Final = {"sqlite": ("stored_events", "rowid"), "postgresql": ("fundtrail_events", "notification_id")}


@dataclass
class Stores:
    """An open ledger: the event-sourced application, the service over it and its read model."""

    url: str
    application: LedgerApplication
    ledger: Ledger
    read_model: ReadModel
    database: Database
    log: LedgerLogStore
    # The report tables' statistics are refreshed once this many events were applied since the
    # last refresh: analyze_after_events_min, or as many as the tables held then, whichever is
    # more. A follower applies an import page by page, and refreshing them after every few
    # pages took 21-26 ANALYZEs in an import of 300,000 commands (docs/PERFORMANCE.md, change 83).
    _unanalyzed: int = field(default=0, repr=False)
    _analyzed_at: int = field(default=0, repr=False)
    _pages_in_sql: PageInSQL | None = field(default=None, repr=False)

    def catch_up(self, until: int | None = None, page_max: int = catch_up_page_max) -> int:
        """Bring the transparency log and the report tables up to date with the event store."""
        if until is None and not self.behind():
            return 0
        self.catch_up_log(page_max)
        return self.catch_up_reports(until, page_max)

    def catch_up_reports(self, until: int | None = None, page_max: int = catch_up_page_max) -> int:
        """Bring the report tables alone up to date (the first `until` events); returns how many events were read."""
        applied = catch_up(
            self.application, self.read_model, until, page_max=page_max, select=self.select_notifications
        )
        self._unanalyzed += applied
        if self._unanalyzed >= max(analyze_after_events_min, self._analyzed_at):
            self.read_model.analyze()
            self._analyzed_at = self.read_model.tracked()[1]
            self._unanalyzed = 0
        return applied

    def catch_up_reports_in_sql(self, page_max: int = catch_up_page_max) -> int:
        """A page of catch_up_reports(): on SQLite in SQL (infra/catch_up_sql.py), the Python way where that declines.

        For the import's report follower, whose events are nearly all donations: at full size
        this costs a fraction of the Python way's CPU (docs/PERFORMANCE.md, change 100). Not
        on PostgreSQL, whose server spent more reading the JSON than the follower saved: a
        full-size import used 133 s of the machine's CPU and took 71.8 s that way, against
        110 s and 61.5 s the Python way.
        """
        if isinstance(self.database, SQLiteDatabase):
            if self._pages_in_sql is None:
                # Here, not at the top: infra.catch_up_sql reads EVENTS_TABLE from this module.
                from infra.catch_up_sql import PageInSQL

                self._pages_in_sql = PageInSQL(self.application, self.read_model)
            applied = self._pages_in_sql.apply(page_max)
            if applied is not None:
                return applied
        _, events = self.read_model.tracked()
        return self.catch_up_reports(events + page_max, page_max)

    def behind(self) -> bool:
        """Whether the store holds an event that the log or the reports have not applied yet.

        One query, where asking each of them costs two: every report served over HTTP asks this first.
        """
        table, position = EVENTS_TABLE[self.database.dialect]
        row = self.database.query(
            f"SELECT COALESCE((SELECT MAX({position}) FROM {table}), 0) AS last, "
            "COALESCE((SELECT position FROM ft_tracking WHERE projection = :projection), 0) AS reports, "
            "COALESCE((SELECT position FROM ft_log_tracking WHERE projection = 'log'), 0) AS logged",
            {"projection": self.read_model.projection},
        )[0]
        return int(row["last"]) > min(int(row["reports"]), int(row["logged"]))

    def donor_name(self, donor_id: str) -> str | None:
        """A donor's display name, opened with the donor's key; None once the key is gone."""
        try:
            donor: object = self.application.repository.get(aggregate_id("donor", donor_id))
        except AggregateNotFoundError:
            return None
        sealed = getattr(donor, "sealed_display_name", None)
        return None if sealed is None or self.ledger.vault is None else self.ledger.vault.open(donor_id, sealed)

    def catch_up_log(self, page_max: int = catch_up_page_max) -> int:
        """Log every event not logged yet, a page at a time; returns how many were read.

        From the rows as they are read: no Notification and no fact per event (docs/PERFORMANCE.md,
        change 103).
        """
        position, events = self.log.tracked()
        read = 0
        while rows := stored_rows(self.database, position + 1, page_max):
            leaves = logged_leaves(rows, events + 1)
            position, events = rows[-1][0], events + len(rows)
            self.log.write_leaves(leaves, position, events)
            read += len(rows)
        return read

    def select_notifications(self, start: int, limit: int) -> list[Notification]:
        """Stored events from ledger position `start` on, read as plain rows (the library's reader
        parses every aggregate id into a UUID, which the projections never need)."""
        return stored_notifications(self.database, start, limit)

    def close(self) -> None:
        self.database.close()
        self.application.close()


def open_stores(url: str) -> Stores:
    """Open (creating on first use) the event store and read model that `url` names."""
    if url.startswith("sqlite:///"):
        return _open_sqlite(url)
    if url.startswith(("postgresql://", "postgres://")):
        return _open_postgres(url)
    raise StoreUnavailable(f"store URL {redact(url)!r} is neither sqlite:///PATH nor postgresql://USER@HOST:PORT/DB")


def _open_sqlite(url: str) -> Stores:
    path = sqlite_path(url)
    application = LedgerApplication(
        env={
            "PERSISTENCE_MODULE": "infra.event_store:BatchedSQLiteFactory",
            "SQLITE_DBNAME": path,
            "SQLITE_LOCK_TIMEOUT": str(sqlite_lock_timeout_seconds_max),
        }
    )
    database = SQLiteDatabase(path)
    return _stores(url, application, database)


def _stores(url: str, application: LedgerApplication, database: Database) -> Stores:
    read_model = ReadModel(database)
    read_model.create_tables()
    log = LedgerLogStore(database)
    log.create_tables()
    vault = DonorKeyVault(database)
    copied = copy_claim_events(application)
    if copied:
        structlog.get_logger().info("claim_events_copied", claims=copied)
    ledger = Ledger(application, existing_ids(database), vault, SnapshotTable(database))
    return Stores(url, application, ledger, read_model, database, log)


def stored_notifications(database: Database, start: int, limit: int) -> list[Notification]:
    """Up to `limit` stored events from position `start` on, in ledger order; aggregate ids as text."""
    return [
        Notification(id=position, originator_id=aggregate, originator_version=version, topic=topic, state=state)
        for position, aggregate, version, topic, state in stored_rows(database, start, limit)
    ]


def stored_rows(database: Database, start: int, limit: int) -> list[StoredRow]:
    """stored_notifications() as tuples: (position, aggregate id as text, version, topic, state)."""
    if database.dialect == "sqlite":
        rows = database.tuples(
            "SELECT rowid, originator_id, originator_version, topic, state FROM stored_events "
            "WHERE rowid >= :start ORDER BY rowid LIMIT :limit",
            {"start": start, "limit": limit},
        )
        return [
            (position, f"{hexid[:8]}-{hexid[8:12]}-{hexid[12:16]}-{hexid[16:20]}-{hexid[20:]}", version, topic, state)
            for position, hexid, version, topic, state in rows
        ]
    rows = database.tuples(
        "SELECT notification_id, originator_id::text, originator_version, topic, state FROM fundtrail_events "
        "WHERE notification_id >= :start ORDER BY notification_id LIMIT :limit",
        {"start": start, "limit": limit},
    )
    return [(position, aggregate, version, topic, bytes(state)) for position, aggregate, version, topic, state in rows]


def existing_ids(database: Database) -> Callable[[set[UUID]], set[UUID]]:
    """Which of some aggregate ids have events, for a whole batch.

    Every aggregate's first event is version 1: one index lookup per id, where DISTINCT walked
    every event of each id (half a million for the largest project at full size).
    """
    table, _ = EVENTS_TABLE[database.dialect]

    def on_sqlite(ids: set[UUID]) -> set[UUID]:
        # All the ids in one statement, as a JSON array that SQLite reads itself: 23 ms for a
        # batch's 4,000 ids at full size, against 35 ms for eight statements of 500 parameters.
        rows = database.tuples(
            f"SELECT originator_id FROM {table} WHERE originator_version = 1 "
            "AND originator_id IN (SELECT value FROM json_each(:ids))",
            {"ids": orjson.dumps([identity.hex for identity in ids])},
        )
        return {UUID(hexid) for (hexid,) in rows}

    def on_postgres(ids: set[UUID]) -> set[UUID]:
        # One array parameter: 38 ms for a batch's 4,000 ids against a ledger of 100,000
        # commands, where eight statements of 500 named parameters took 83 ms.
        rows = database.tuples(
            f"SELECT originator_id FROM {table} WHERE originator_version = 1 AND originator_id = ANY(:ids)",
            {"ids": list(ids)},
        )
        return {identity for (identity,) in rows}  # psycopg reads a uuid column as a UUID

    return on_sqlite if database.dialect == "sqlite" else on_postgres


def _open_postgres(url: str) -> Stores:
    """PostgreSQL: the schema and every table are created on first use.

    Set-up runs under an advisory lock, so that several processes starting at once on an
    empty database do not race each other's CREATE statements.
    """
    database, schema = postgres_database(url)
    parts = urlsplit(url)
    database.query("SELECT pg_advisory_lock(:key)", {"key": _SETUP_LOCK_KEY})
    try:
        database.query(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        application = LedgerApplication(
            env={
                "PERSISTENCE_MODULE": "infra.event_store_postgres:CopyPostgresFactory",
                "POSTGRES_DBNAME": parts.path.lstrip("/") or "postgres",
                "POSTGRES_HOST": parts.hostname or "127.0.0.1",
                "POSTGRES_PORT": str(parts.port or 5432),
                "POSTGRES_USER": parts.username or "postgres",
                "POSTGRES_PASSWORD": parts.password or "",
                "POSTGRES_SCHEMA": schema,
                "POSTGRES_CONNECT_TIMEOUT": str(postgres_connect_timeout_seconds_max),
                "POSTGRES_POOL_SIZE": str(postgres_pool_size_max),
                # Check a pooled connection before use, so a server restart costs a retry, not an error.
                "POSTGRES_PRE_PING": "y",
            }
        )
        stores = _stores(url, application, database)
    finally:
        database.query("SELECT pg_advisory_unlock(:key)", {"key": _SETUP_LOCK_KEY})
    return stores


def open_read_store(url: str) -> ReadModel:
    """Only the read-model tables at `url` (no event store): what a Kafka worker builds."""
    if url.startswith("sqlite:///"):
        read_model = ReadModel(SQLiteDatabase(sqlite_path(url)))
        read_model.create_tables()
        return read_model
    if not url.startswith(("postgresql://", "postgres://")):
        raise StoreUnavailable(f"read store URL {redact(url)!r} is neither sqlite:///PATH nor postgresql://...")
    database, schema = postgres_database(url)
    database.query("SELECT pg_advisory_lock(:key)", {"key": _SETUP_LOCK_KEY})
    try:
        database.query(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        read_model = ReadModel(database)
        read_model.create_tables()
    finally:
        database.query("SELECT pg_advisory_unlock(:key)", {"key": _SETUP_LOCK_KEY})
    return read_model


# An arbitrary constant naming Fundtrail's set-up lock among the database's advisory locks.
_SETUP_LOCK_KEY = 0x46554E44
