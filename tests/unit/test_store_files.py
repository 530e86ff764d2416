"""A SQLite store keeps its report tables in a file of their own, PATH-reports, beside the events' file.

Each file has its own write lock, so the report follower never holds up the process that
records events (docs/PERFORMANCE.md, change 89). The events' file keeps everything a backup
must keep. A reports file that was not written from the events beside it is emptied and
projected again; a store made before keeps its report tables in the events' file.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from infra.database import SQLiteDatabase
from infra.importer import import_file
from infra.limits import sqlite_reports_page_bytes
from infra.read_model import SCHEMA as REPORT_SCHEMA
from infra.store import Stores, open_read_only, open_stores
from projections import reports

XIAOLIN = Path(__file__).parents[1] / "scenario" / "xiaolin" / "commands.jsonl"
DONATION = {
    "type": "record_donation",
    "donation_id": "DN-LATE",
    "project_id": "P-XL",
    "donor_id": "D1",
    "amount": "1.00",
    "currency": "CNY",
    "channel": "bank_transfer",
    "received_at": "2026-03-02T10:00:00+08:00",
}


def _tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as connection:
        return {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def _donations(stores: Stores) -> set[str]:
    stores.catch_up()
    return {row["donation_id"] for row in stores.database.query("SELECT donation_id FROM ft_donations")}


def _imported(path: Path, *extra: dict[str, str]) -> Stores:
    stores = open_stores(f"sqlite:///{path}")
    import_file(stores.ledger, XIAOLIN)
    for command in extra:
        assert stores.ledger.execute(command).status == "applied"
    stores.catch_up()
    return stores


def test_the_report_tables_have_a_file_of_their_own(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    _imported(path).close()

    events, report_tables = _tables(path), _tables(Path(f"{path}-reports"))
    assert {"stored_events", "ft_claims", "ft_ledger_log", "ft_checkpoints", "ft_log_tracking"} <= events
    assert {"ft_tracking", "ft_donations", "ft_movements", "ft_project_totals"} <= report_tables
    assert events & report_tables == {"ft_store_id"}
    with sqlite3.connect(f"{path}-reports") as connection:
        assert connection.execute("SELECT COUNT(*) FROM ft_donations").fetchone()[0] > 0
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert connection.execute("PRAGMA page_size").fetchone()[0] == sqlite_reports_page_bytes
    # The events' file keeps SQLite's own page size: only the reports file's was chosen.
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA page_size").fetchone()[0] != sqlite_reports_page_bytes


def test_the_report_follower_does_not_hold_up_the_events(tmp_path: Path) -> None:
    """While a transaction of the reports holds their file, events are recorded; the reports' file is locked."""
    path = tmp_path / "ledger.db"
    recorder, follower = _imported(path), SQLiteDatabase(str(path))
    try:
        with follower.transaction("reports"):
            busy = sqlite3.connect(f"{path}-reports", timeout=0)
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                busy.execute("BEGIN IMMEDIATE")
            busy.close()
            assert recorder.ledger.execute(DONATION).status == "applied"
        assert "DN-LATE" in _donations(recorder)
    finally:
        follower.close()
        recorder.close()


def _donation(donation_id: str) -> dict[str, str]:
    return {**DONATION, "donation_id": donation_id}


def _replace_main_file(path: Path, source: Path) -> None:
    """The store's main file swapped for `source` (closed, so whole), its reports file left where it is."""
    for stale in (Path(f"{path}-wal"), Path(f"{path}-shm")):
        stale.unlink(missing_ok=True)
    shutil.copy(source, path)


def test_a_reports_file_ahead_of_a_restored_main_file_is_projected_again(tmp_path: Path) -> None:
    path, backup = tmp_path / "ledger.db", tmp_path / "backup.db"
    _imported(path).close()
    shutil.copy(path, backup)
    stores = _imported(path, _donation("DN-AFTER-BACKUP"))  # the xiaolin lines again count as duplicates
    assert "DN-AFTER-BACKUP" in _donations(stores)
    stores.close()

    _replace_main_file(path, backup)
    stores = open_stores(f"sqlite:///{path}")
    try:
        assert "DN-AFTER-BACKUP" not in _donations(stores)
        assert "DN1" in _donations(stores)
    finally:
        stores.close()


def test_a_reports_file_beside_another_stores_main_file_is_projected_again(tmp_path: Path) -> None:
    """Another store's file copied in, with as many events: its own reports, none of the reports file's."""
    path, other = tmp_path / "ledger.db", tmp_path / "other.db"
    _imported(path, _donation("DN-FIRST-STORE")).close()
    stores = _imported(other, _donation("DN-OTHER-STORE"))
    expected = _donations(stores)
    stores.close()

    _replace_main_file(path, other)
    stores = open_stores(f"sqlite:///{path}")
    try:
        assert _donations(stores) == expected
        assert "DN-FIRST-STORE" not in expected
    finally:
        stores.close()


def test_a_store_made_before_keeps_its_report_tables_in_one_file(tmp_path: Path) -> None:
    """Report tables already in the events' file: no other file is made, and the reports are the same."""
    before, now = tmp_path / "before.db", tmp_path / "now.db"
    with sqlite3.connect(before) as connection:
        for statement in REPORT_SCHEMA:
            connection.execute(statement)
    old, new = _imported(before), _imported(now)
    try:
        assert old.database.homes == {}  # type: ignore[attr-defined]
        books = [reports.project_report(stores.read_model, "P-XL") for stores in (old, new)]
        assert books[0] == books[1] and books[0]["donated"]
    finally:
        old.close()
        new.close()
    assert not Path(f"{before}-reports").exists()
    assert {"ft_tracking", "ft_donations", "stored_events"} <= _tables(before)


def test_opening_read_only_creates_and_changes_nothing(tmp_path: Path) -> None:
    """A wrong URL read (another program's SQLite file) gains no reports file, no table; a store's reports are read."""
    foreign = tmp_path / "other.db"
    with sqlite3.connect(foreign) as connection:
        connection.execute("CREATE TABLE notes (body TEXT)")
    before = foreign.read_bytes()
    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        open_read_only(f"sqlite:///{foreign}").tracked()
    assert foreign.read_bytes() == before
    assert sorted(path.name for path in tmp_path.iterdir()) == ["other.db"]

    path = tmp_path / "ledger.db"
    stores = _imported(path)
    expected = reports.project_report(stores.read_model, "P-XL")
    stores.close()
    assert reports.project_report(open_read_only(f"sqlite:///{path}"), "P-XL") == expected
