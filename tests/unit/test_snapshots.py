"""A project loaded from its latest snapshot and the events after it equals the project loaded from every event."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from structlog.testing import capture_logs

from domain.identity import aggregate_id
from domain.project import Project
from infra.bench.generator import commands
from infra.database import SQLiteDatabase
from infra.snapshots import SnapshotTable
from services.ledger import Ledger
from services.unit_of_work import UnitOfWork
from tests.ledger_fixtures import LedgerUnderTest


def _whole(project: Project) -> dict[str, Any]:
    return {"version": project.version, "times": (project.created_on, project.modified_on)} | project.snapshot_state()


def _books_with_snapshots(interval: int) -> tuple[LedgerUnderTest, SnapshotTable]:
    books = LedgerUnderTest()
    table = SnapshotTable(SQLiteDatabase(":memory:"))
    books.ledger = Ledger(books.application, vault=books.vault, snapshots=table)
    books.ledger.work.snapshot_interval = interval
    stream = list(commands(0.0008, seed=31))
    for start in range(0, len(stream), 40):
        books.ledger.execute_batch(stream[start : start + 40])
    return books, table


def test_projects_load_from_snapshots_to_the_state_their_events_give() -> None:
    books, table = _books_with_snapshots(interval=25)
    project_ids = [row["project_id"] for row in _project_rows(books)]
    used = 0
    for project_id in project_ids:
        identity = aggregate_id("project", project_id)
        from_events = UnitOfWork(books.application).get(Project, identity)
        fresh = UnitOfWork(books.application, snapshots=table)
        snapshot = table.latest(identity, Project.SNAPSHOT_SHAPE)
        with capture_logs() as logs:
            from_snapshot = fresh.get(Project, identity)
        assert not logs, logs
        assert from_events is not None and from_snapshot is not None
        assert _whole(from_snapshot) == _whole(from_events)
        if snapshot is not None:
            used += 1
            # Taken after the commit that passed a multiple of 25: at most one batch (40 commands) later.
            assert 0 <= from_events.version - snapshot[0] < 25 + 40
    assert used >= 2


def test_decisions_after_a_snapshot_load_are_the_same() -> None:
    books, table = _books_with_snapshots(interval=25)
    plain = Ledger(books.application)
    snapshotted = Ledger(books.application, snapshots=table)
    later = list(commands(0.0008, seed=32))[-120:]
    # Decide the same commands on both without saving: each ledger reads the same recorded state.
    outcomes_plain = [plain._decide(command) for command in later]
    outcomes_snapshotted = [snapshotted._decide(command) for command in later]
    assert outcomes_plain == outcomes_snapshotted
    assert any(outcome.status == "applied" for outcome in outcomes_plain)


def test_an_unreadable_snapshot_is_passed_over_for_the_events() -> None:
    books, table = _books_with_snapshots(interval=25)
    identity = aggregate_id("project", _project_rows(books)[0]["project_id"])
    expected = UnitOfWork(books.application).get(Project, identity)
    assert expected is not None
    table.save(identity, Project.SNAPSHOT_SHAPE, expected.version + 100, '{"state": {}}')
    with capture_logs() as logs:
        loaded = UnitOfWork(books.application, snapshots=table).get(Project, identity)
    assert loaded is not None and _whole(loaded) == _whole(expected)
    assert any(entry["event"] == "snapshot_unusable" for entry in logs)


def test_a_snapshot_of_another_shape_is_not_read() -> None:
    table = SnapshotTable(SQLiteDatabase(":memory:"))
    identity = aggregate_id("project", "P")
    table.save(identity, Project.SNAPSHOT_SHAPE + 1, 10, "{}")
    assert table.latest(identity, Project.SNAPSHOT_SHAPE) is None
    table.save(identity, Project.SNAPSHOT_SHAPE, 10, "ten")
    table.save(identity, Project.SNAPSHOT_SHAPE, 5, "five")
    assert table.latest(identity, Project.SNAPSHOT_SHAPE) == (10, "ten")


def test_a_snapshot_keeps_shape_one_each_lot_an_array_of_its_fields_in_order() -> None:
    """Snapshots already stored must still be read: the lots' JSON is what a list per lot gave."""
    books, table = _books_with_snapshots(interval=25)
    project_id = _project_rows(books)[0]["project_id"]
    identity = aggregate_id("project", project_id)
    project = UnitOfWork(books.application).get(Project, identity)
    assert project is not None and len(project.lot_order) >= 2
    written = orjson.loads(orjson.dumps(project.snapshot_state()))
    assert written["lots"] == [
        [lot.donation_id, lot.donor_id, lot.amount_minor, lot.unspent_minor, lot.refunded_minor, lot.spent_minor]
        for lot in project.lot_order
    ]
    stored = table.latest(identity, Project.SNAPSHOT_SHAPE)
    assert stored is not None
    lots = orjson.loads(stored[1])["state"]["lots"]
    assert lots and all(type(row) is list and len(row) == 6 and type(row[0]) is str for row in lots)


def _project_rows(books: LedgerUnderTest) -> list[dict[str, Any]]:
    from services.read_side import catch_up

    catch_up(books.application, books.read_model)
    rows = books.read_model.database.query("SELECT project_id FROM ft_projects ORDER BY project_id")
    if not rows:
        pytest.fail("the generated ledger has no projects")
    return rows
