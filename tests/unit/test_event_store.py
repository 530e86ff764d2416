"""The batched SQLite recorder returns each event's true position and still refuses a conflicting batch."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from uuid import UUID

import pytest
from eventsourcing.persistence import RecordConflictError

from domain.registry import Payee
from infra.store import open_stores


def test_positions_are_the_rows_positions_and_conflicts_change_nothing(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    stores = open_stores(f"sqlite:///{path}")
    try:
        payees = [
            Payee(payee_id=f"H{number}", name="医院", payee_kind="hospital", command_digest="x") for number in range(5)
        ]
        recordings = stores.application.events.put([event for payee in payees for event in payee.collect_events()])
        again = Payee(payee_id="H9", name="医院", payee_kind="hospital", command_digest="x")
        more = stores.application.events.put(again.collect_events())
        clash = Payee(payee_id="H2", name="另一家", payee_kind="hospital", command_digest="y")
        with pytest.raises(RecordConflictError):
            stores.application.events.put(
                [
                    *Payee(payee_id="H10", name="a", payee_kind="hospital", command_digest="z").collect_events(),
                    *clash.collect_events(),
                ]
            )
    finally:
        stores.close()
    with sqlite3.connect(path) as connection:
        rows = dict(connection.execute("SELECT originator_id, rowid FROM stored_events").fetchall())
    assert len(rows) == 6  # the conflicting batch left nothing behind, not even its first event
    for recording in [*recordings, *more]:
        assert rows[UUID(str(recording.notification.originator_id)).hex] == recording.notification.id
    assert [recording.notification.id for recording in more] == [max(rows.values())]
