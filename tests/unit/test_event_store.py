"""The batch recorders (SQLite executemany, PostgreSQL COPY) give each event its true position and refuse a conflict."""

from __future__ import annotations

from pathlib import Path
from uuid import UUID

import pytest
from eventsourcing.persistence import RecordConflictError

from domain.registry import Payee
from infra.store import EVENTS_TABLE, Stores
from tests.ledger_fixtures import on_store


def check_positions_and_conflicts(stores: Stores) -> None:
    """Shared by the SQLite test here and the PostgreSQL one in tests/integration."""
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
    table, position = EVENTS_TABLE[stores.database.dialect]
    stored = stores.database.tuples(f"SELECT originator_id, {position} FROM {table}")
    rows = {UUID(str(originator_id)): number for originator_id, number in stored}
    assert len(rows) == 6  # the conflicting batch left nothing behind, not even its first event
    assert [recording.notification.id for recording in recordings] == [
        rows[payee.id] for payee in payees
    ]  # in the batch's order
    assert [recording.notification.id for recording in more] == [rows[again.id]] == [max(rows.values())]
    # The store still takes batches after the refused one, and reads back what it took.
    assert stores.application.repository.get(again.id).name == "医院"
    later = Payee(payee_id="H11", name="b", payee_kind="hospital", command_digest="w")
    (recorded,) = stores.application.events.put(later.collect_events())
    assert recorded.notification.id > max(rows.values())


def test_positions_are_the_rows_positions_and_conflicts_change_nothing(tmp_path: Path) -> None:
    on_store(f"sqlite:///{tmp_path / 'ledger.db'}", check_positions_and_conflicts)
