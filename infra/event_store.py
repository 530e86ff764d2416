"""The event store's SQLite recorder, with faster batch inserts than the library's own.

SQLite: the library's application recorder runs one INSERT per event to learn each row's
position. Inside the write transaction SQLite hands out consecutive rowids (the table has
no AUTOINCREMENT and holds the write lock), so the positions of a batch are the
`len(batch)` numbers ending at last_insert_rowid(); the duplicate-key check is unchanged.

PostgreSQL's recorder is in infra/event_store_postgres.py (it imports psycopg).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor, SQLiteFactory


class BatchedSQLiteApplicationRecorder(SQLiteApplicationRecorder):
    def _insert_events(self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **_: Any) -> Sequence[int] | None:
        if not stored_events:
            return []
        c.executemany(
            self.insert_events_statement,
            [
                (
                    event.originator_id.hex if isinstance(event.originator_id, UUID) else event.originator_id,
                    event.originator_version,
                    event.topic,
                    event.state,
                )
                for event in stored_events
            ],
        )
        c.execute("SELECT last_insert_rowid()")
        last = int(c.fetchone()[0])
        return list(range(last - len(stored_events) + 1, last + 1))


class BatchedSQLiteFactory(SQLiteFactory):
    """PERSISTENCE_MODULE=infra.event_store:BatchedSQLiteFactory"""

    application_recorder_class = BatchedSQLiteApplicationRecorder
