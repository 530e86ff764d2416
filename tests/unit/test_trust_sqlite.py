"""The trust contract on the embedded SQLite store."""

from __future__ import annotations

import sqlite3
from typing import Any

from tests.trust_contract import Tamperer, TrustContract


class SQLiteTamperer(Tamperer):
    table = "stored_events"
    id_column = "rowid"

    def __init__(self, path: str) -> None:
        self.path = path

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.path) as connection:
            return connection.execute(sql.replace("%s", "?"), params).fetchall()


class TestTrustOnSQLite(TrustContract):
    def store(self) -> str:
        return f"sqlite:///{self.tmp_path / 'ledger.db'}"

    def tamperer(self) -> Tamperer:
        return SQLiteTamperer(str(self.tmp_path / "ledger.db"))

    def rewrite_log_entry(self, sequence: int) -> None:
        self.tamperer().execute(
            "UPDATE ft_ledger_log SET leaf_hash = %s WHERE sequence = %s",
            (self.logged_hash_of_current_state(sequence), sequence),
        )
