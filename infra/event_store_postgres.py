"""The event store's PostgreSQL recorder, with faster batch inserts than the library's own.

The library sends a batch as one array of a composite type, which psycopg builds in
Python, value by value. Here the batch goes as four plain arrays (uuid, integer, text,
bytea), which psycopg's binary dumpers build in C, into the same single INSERT after the
same table lock, so notification ids still follow commit order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresFactory
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier


class ArraysPostgresApplicationRecorder(PostgresApplicationRecorder):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.insert_arrays_statement = SQL(
            "INSERT INTO {schema}.{table} (originator_id, originator_version, topic, state) "
            "SELECT * FROM unnest(%s::uuid[], %s::integer[], %s::text[], %s::bytea[]) RETURNING notification_id"
        ).format(schema=Identifier(self.datastore.schema), table=Identifier(self.events_table_name))

    def _insert_stored_events(self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **_: Any) -> None:
        self._lock_table(curs)
        self._notify_channel(curs)
        curs.execute(
            self.insert_arrays_statement,
            (
                [event.originator_id for event in stored_events],
                [event.originator_version for event in stored_events],
                [event.topic for event in stored_events],
                [event.state for event in stored_events],
            ),
        )


class ArraysPostgresFactory(PostgresFactory):
    """PERSISTENCE_MODULE=infra.event_store_postgres:ArraysPostgresFactory"""

    application_recorder_class = ArraysPostgresApplicationRecorder
