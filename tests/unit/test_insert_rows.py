"""Writer.insert_rows: many rows at once (COPY on PostgreSQL), taken keys skipped or refused, all or nothing.

Writer.insert_fresh_rows: the rows insert_rows with skip_existing writes, the fast way when no key is taken.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg
import pytest

from infra.database import Database, PostgresDatabase
from infra.store import Stores
from tests.ledger_fixtures import on_store

_COLUMNS = ("donor_id", "display_name", "anonymous")


def _donors(database: Database) -> list[tuple[object, ...]]:
    rows = database.tuples("SELECT donor_id, display_name, anonymous FROM ft_donors ORDER BY donor_id")
    return [(donor_id, name, bool(anonymous)) for donor_id, name, anonymous in rows]


def check_insert_rows(stores: Stores) -> None:
    """Shared by the SQLite test here and the PostgreSQL one in tests/integration."""
    database = stores.database

    # Without skip_existing a taken key fails the statement, and the transaction leaves nothing
    # behind: neither its rows nor (PostgreSQL) the staging table it created.
    with pytest.raises((sqlite3.IntegrityError, psycopg.errors.UniqueViolation)), database.transaction() as writer:
        writer.insert_rows("ft_donors", _COLUMNS, [("D4", "丁", False)], skip_existing=True)
        writer.insert_rows("ft_donors", _COLUMNS, [("D5", "戊", False), ("D5", "又", False)], skip_existing=False)
    assert _donors(database) == []

    with database.transaction() as writer:
        writer.insert_rows("ft_donors", _COLUMNS, [("D1", "甲", False), ("D2", None, True)], skip_existing=True)
        # The same table twice in one transaction: the second batch skips what the first wrote.
        writer.insert_rows("ft_donors", _COLUMNS, [("D2", "乙", False), ("D3", "丙\t\\n", False)], skip_existing=True)
    assert _donors(database) == [("D1", "甲", False), ("D2", None, True), ("D3", "丙\t\\n", False)]

    with database.transaction() as writer:
        writer.insert_rows("ft_donors", _COLUMNS, [("D4", "丁", False), ("D1", "又", False)], skip_existing=True)
    with database.transaction() as writer:
        writer.insert_rows("ft_donors", _COLUMNS, [("D6", "己", False)], skip_existing=False)
        writer.insert_rows("ft_donors", _COLUMNS, [], skip_existing=True)
    assert _donors(database) == [
        ("D1", "甲", False),
        ("D2", None, True),
        ("D3", "丙\t\\n", False),
        ("D4", "丁", False),
        ("D6", "己", False),
    ]
    if database.dialect == "postgresql":
        # Staged rows never stay behind in the staging table.
        assert database.tuples("SELECT COUNT(*) FROM ft_stage_ft_donors") == [(0,)]


def test_insert_rows_on_sqlite(tmp_path: Path) -> None:
    on_store(f"sqlite:///{tmp_path / 'ledger.db'}", check_insert_rows)


def check_insert_fresh_rows(stores: Stores) -> None:
    """Shared by the SQLite test here and the PostgreSQL one in tests/integration."""
    database = stores.database

    with database.transaction() as writer:
        writer.insert_fresh_rows("ft_donors", _COLUMNS, [("D1", "甲", False), ("D2", None, True)])
        writer.insert_fresh_rows("ft_donors", _COLUMNS, [])
    assert _donors(database) == [("D1", "甲", False), ("D2", None, True)]
    if database.dialect == "postgresql":
        # Straight into the table: no staging table was needed.
        assert isinstance(database, PostgresDatabase)
        assert "ft_stage_ft_donors" not in database.staging

    # A taken key (an id recorded twice around the rules) keeps the row that was there; the
    # batch's other rows go in, and the transaction goes on to write and commit after it.
    with database.transaction() as writer:
        writer.insert_fresh_rows("ft_donors", _COLUMNS, [("D3", "丙", False), ("D1", "又", True), ("D4", "丁", False)])
        writer.insert_rows("ft_donors", _COLUMNS, [("D5", "戊", False)], skip_existing=False)
    assert _donors(database) == [
        ("D1", "甲", False),
        ("D2", None, True),
        ("D3", "丙", False),
        ("D4", "丁", False),
        ("D5", "戊", False),
    ]

    # A failure later in the transaction takes the fresh rows with it.
    with pytest.raises((sqlite3.IntegrityError, psycopg.errors.UniqueViolation)), database.transaction() as writer:
        writer.insert_fresh_rows("ft_donors", _COLUMNS, [("D6", "己", False)])
        writer.insert_rows("ft_donors", _COLUMNS, [("D7", "庚", False), ("D7", "辛", False)], skip_existing=False)
    assert [row[0] for row in _donors(database)] == ["D1", "D2", "D3", "D4", "D5"]


def test_insert_fresh_rows_on_sqlite(tmp_path: Path) -> None:
    on_store(f"sqlite:///{tmp_path / 'ledger.db'}", check_insert_fresh_rows)
