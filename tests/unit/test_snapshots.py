"""A project loaded from its latest snapshot and the events after it equals the project loaded from every event."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any
from uuid import UUID

import orjson
import pytest
from structlog.testing import capture_logs

from domain.identity import aggregate_id
from domain.project import Project
from infra.bench.generator import commands
from infra.database import SQLiteDatabase, sqlite_reports_file
from infra.snapshots import SnapshotTable
from infra.store import Stores
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


def _saved_versions(table: SnapshotTable) -> dict[str, int]:
    rows = table.database.query("SELECT aggregate_id, version FROM ft_snapshots")
    return {row["aggregate_id"]: row["version"] for row in rows}


def _deferred_books(interval: int, cache_max: int | None = None) -> tuple[LedgerUnderTest, SnapshotTable]:
    books = LedgerUnderTest()
    table = SnapshotTable(SQLiteDatabase(":memory:"))
    books.ledger = Ledger(books.application, vault=books.vault, snapshots=table)
    books.ledger.work.snapshot_interval = interval
    if cache_max is not None:
        books.ledger.work.cache_max = cache_max
    return books, table


def test_snapshots_deferred_are_taken_once_at_the_end_at_the_last_version() -> None:
    books, table = _deferred_books(interval=25)
    stream = list(commands(0.0008, seed=31))
    with books.ledger.work.snapshots_deferred():
        for start in range(0, len(stream), 40):
            books.ledger.execute_batch(stream[start : start + 40])
        assert _saved_versions(table) == {}
    saved = _saved_versions(table)
    # Each project past 25 events, at the version it ended with; loaded from it, the same project.
    projects = {row["project_id"] for row in _project_rows(books)}
    for project_id in projects:
        identity = aggregate_id("project", project_id)
        from_events = UnitOfWork(books.application).get(Project, identity)
        assert from_events is not None
        if from_events.version < 25:
            assert str(identity) not in saved
            continue
        assert saved[str(identity)] == from_events.version
        from_snapshot = UnitOfWork(books.application, snapshots=table).get(Project, identity)
        assert from_snapshot is not None and _whole(from_snapshot) == _whole(from_events)
    assert len(saved) >= 2


def test_a_project_leaving_the_cache_is_snapshotted_as_it_leaves() -> None:
    books, table = _deferred_books(interval=25, cache_max=3)
    stream = list(commands(0.0008, seed=31))
    with books.ledger.work.snapshots_deferred():
        for start in range(0, len(stream), 40):
            books.ledger.execute_batch(stream[start : start + 40])
        # Three aggregates fit: the projects that fell due left the cache, and were snapshotted as they did.
        during = _saved_versions(table)
        assert during
    for identity, version in during.items():
        assert _saved_versions(table)[identity] >= version


def test_a_failing_block_takes_no_deferred_snapshot() -> None:
    books, table = _deferred_books(interval=25)
    stream = list(commands(0.0008, seed=31))
    with pytest.raises(RuntimeError), books.ledger.work.snapshots_deferred():
        books.ledger.execute_batch(stream)
        raise RuntimeError("stopped")
    assert _saved_versions(table) == {}
    # Outside the block, snapshots are taken as they fall due again.
    books.ledger.execute_batch(list(commands(0.0016, seed=31))[len(stream) :])
    assert _saved_versions(table)


def test_an_import_takes_its_snapshots_at_the_end(tmp_path: Path) -> None:
    from infra.importer import import_file
    from tests.ledger_fixtures import on_store

    path = tmp_path / "commands.jsonl"
    path.write_bytes(b"".join(orjson.dumps(command) + b"\n" for command in commands(0.0008, seed=31)))

    def check(stores: Stores) -> None:
        work = stores.ledger.work
        work.snapshot_interval = 25
        assert work.snapshots is not None
        saves: list[UUID] = []
        save = work.snapshots.save

        def counted(aggregate_id: UUID, shape: int, version: int, state: str) -> None:
            saves.append(aggregate_id)
            save(aggregate_id, shape, version, state)

        work.snapshots.save = counted  # type: ignore[method-assign]
        # The followers are told every batch is recorded before the snapshots are taken (change 101).
        told: list[tuple[int, int]] = []

        def recorded() -> None:
            told.append((len(saves), stores.application.recorder.max_notification_id() or 0))

        import_file(stores.ledger, path, batch_size=40, recorded=recorded)
        assert told == [(0, stores.application.recorder.max_notification_id())]
        rows = stores.database.query("SELECT aggregate_id, version FROM ft_snapshots")
        # Both projects passed 25 events many times over: one snapshot each, at its last version.
        assert len(rows) == 2
        assert sorted(saves) == sorted(UUID(row["aggregate_id"]) for row in rows)
        for row in rows:
            project = UnitOfWork(stores.application).get(Project, UUID(row["aggregate_id"]))
            assert project is not None and row["version"] == project.version > 100

    on_store(f"sqlite:///{tmp_path / 'ledger.db'}", check)


def test_a_snapshot_is_saved_while_another_process_writes_the_reports_file(tmp_path: Path) -> None:
    """The import's snapshots go in while its report follower builds the indexes (change 123)."""
    path = tmp_path / "ledger.db"
    database = SQLiteDatabase(str(path))
    table = SnapshotTable(database)
    # It waits for no lock: one held on a file it writes makes the save fail at once.
    database.connection.execute("PRAGMA busy_timeout = 0")
    follower = sqlite3.connect(sqlite_reports_file(path), isolation_level=None)
    try:
        follower.execute("BEGIN IMMEDIATE")
        follower.execute("CREATE TABLE being_indexed (x INTEGER)")
        identity = aggregate_id("project", "P1")
        table.save(identity, Project.SNAPSHOT_SHAPE, 7, '{"state": 1}')
        follower.execute("COMMIT")
    finally:
        follower.close()
        database.close()
    assert SnapshotTable(SQLiteDatabase(str(path))).latest(identity, Project.SNAPSHOT_SHAPE) == (7, '{"state": 1}')
