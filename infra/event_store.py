"""The event store's SQLite recorder, with faster batch inserts than the library's own.

SQLite: the library's application recorder runs one INSERT per event to learn each row's
position. Inside the write transaction SQLite hands out consecutive rowids (the table has
no AUTOINCREMENT and holds the write lock), so the positions of a batch are the
`len(batch)` numbers ending at last_insert_rowid(); the duplicate-key check is unchanged.

PostgreSQL's recorder is in infra/event_store_postgres.py (it imports psycopg).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.persistence import StoredEvent
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor, SQLiteFactory

from services.claims import Claim

# WITHOUT ROWID: the key is the table, one B-tree instead of a table and an index.
CREATE_CLAIMS = (
    "CREATE TABLE IF NOT EXISTS ft_claims (claim_key TEXT PRIMARY KEY, project_id TEXT NOT NULL, "
    "command_digest TEXT NOT NULL) WITHOUT ROWID"
)


class BatchedSQLiteApplicationRecorder(SQLiteApplicationRecorder):
    def construct_create_table_statements(self) -> list[str]:
        return [*super().construct_create_table_statements(), CREATE_CLAIMS]

    def find_claims(self, keys: Collection[str]) -> dict[str, Claim]:
        """All the keys in one statement, as a JSON array that SQLite reads itself."""
        if not keys:
            return {}
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                "SELECT claim_key, project_id, command_digest FROM ft_claims "
                "WHERE claim_key IN (SELECT value FROM json_each(?))",
                (orjson.dumps(list(keys)).decode(),),
            )
            return {key: Claim(project_id, digest) for key, project_id, digest in c.fetchall()}

    def has_claims(self) -> bool:
        with self.datastore.transaction(commit=False) as c:
            c.execute("SELECT EXISTS (SELECT 1 FROM ft_claims)")
            return bool(c.fetchone()[0])

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        claims = kwargs.get("claims")
        if claims:
            # A key claimed already fails the statement, and with it the whole transaction.
            c.executemany("INSERT INTO ft_claims VALUES (?, ?, ?)", claims)
        if not stored_events:
            return []
        c.executemany(
            self.insert_events_statement,
            [
                (
                    event.originator_id.hex if isinstance(event.originator_id, UUID) else event.originator_id,
                    event.originator_version,
                    event.topic,
                    # As a bytearray, which the sqlite3 module binds as it is; bytes it first tries
                    # to adapt, raising and clearing an AttributeError inside: 1,100 instructions
                    # more an event (callgrind), the copy included. Both are stored as the same BLOB.
                    bytearray(event.state),
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
