"""Project snapshots in a table of the ledger's database: the latest one of each shape per project.

A snapshot is derived data: losing one only means loading that project from more events.
"""

from __future__ import annotations

from typing import Final
from uuid import UUID

from infra.database import Database

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS ft_snapshots (aggregate_id TEXT NOT NULL, shape INTEGER NOT NULL, "
    "version BIGINT NOT NULL, state TEXT NOT NULL, PRIMARY KEY (aggregate_id, shape))"
)


# On PostgreSQL a snapshot's text is compressed with LZ4 rather than the default pglz: the
# largest generated project's snapshot (32 MB of JSON) took the server 0.86 s to compress with
# pglz and 0.06 s with LZ4, at the end of an import that waits for it (docs/PERFORMANCE.md,
# change 87). A server built without LZ4 keeps pglz.
_COMPRESSION: Final = (
    "SELECT attcompression AS method FROM pg_attribute "
    "WHERE attrelid = CAST('ft_snapshots' AS regclass) AND attname = 'state'"
)
_LZ4: Final = "l"


class SnapshotTable:
    """The SnapshotStore of services.unit_of_work."""

    def __init__(self, database: Database) -> None:
        self.database = database
        with database.transaction() as writer:
            writer.execute(SCHEMA)
        if database.dialect == "postgresql" and database.query(_COMPRESSION)[0]["method"] != _LZ4:
            self._compress_with_lz4()

    def _compress_with_lz4(self) -> None:
        import psycopg

        try:
            with self.database.transaction() as writer:
                writer.execute("ALTER TABLE ft_snapshots ALTER COLUMN state SET COMPRESSION lz4")
        except psycopg.errors.FeatureNotSupported:
            pass

    def latest(self, aggregate_id: UUID, shape: int) -> tuple[int, str] | None:
        rows = self.database.query(
            "SELECT version, state FROM ft_snapshots WHERE aggregate_id = :id AND shape = :shape",
            {"id": str(aggregate_id), "shape": shape},
        )
        return (int(rows[0]["version"]), str(rows[0]["state"])) if rows else None

    def save(self, aggregate_id: UUID, shape: int, version: int, state: str) -> None:
        """Keep this snapshot unless one of a later version is already there (another writer's).

        One statement, committed on its own: on SQLite it locks the file it writes alone, the
        events' file. A transaction begun for it (BEGIN IMMEDIATE) locked the reports' file too,
        so at the end of a full-size import the largest project's snapshot waited 2.4 s for the
        report follower to build its indexes (docs/PERFORMANCE.md, change 123).
        """
        self.database.query(
            "INSERT INTO ft_snapshots (aggregate_id, shape, version, state) VALUES (:id, :shape, :version, :state) "
            "ON CONFLICT (aggregate_id, shape) DO UPDATE SET version = excluded.version, state = excluded.state "
            "WHERE excluded.version > ft_snapshots.version",
            {"id": str(aggregate_id), "shape": shape, "version": version, "state": state},
        )
