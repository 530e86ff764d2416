"""The transparency log's tables: one row per ledger sequence with its leaf hash, and the signed checkpoints.

Unlike the report tables these are never rebuilt: they are the record of what the ledger
held when each event was first logged, against which `verify` compares the store.
"""

from __future__ import annotations

import time
from typing import Any, Final

from infra.database import Database

SCHEMA: Final = [
    # On SQLite the sequence is the table's rowid ("INTEGER PRIMARY KEY"; see create_tables): a
    # key of its own would be one more B-tree for every leaf (docs/PERFORMANCE.md, change 112).
    """CREATE TABLE IF NOT EXISTS ft_ledger_log (
        sequence BIGINT PRIMARY KEY, position BIGINT NOT NULL UNIQUE, leaf_hash TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS ft_checkpoints (
        tree_size BIGINT PRIMARY KEY, note TEXT NOT NULL, signed_at BIGINT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS ft_log_tracking (
        projection TEXT PRIMARY KEY, position BIGINT NOT NULL, events BIGINT NOT NULL)""",
]

_LEAF_COLUMNS: Final = ("sequence", "position", "leaf_hash")


class LedgerLogStore:
    """The log of leaf hashes (written by Stores.catch_up_log) and the checkpoints signed over it."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def create_tables(self) -> None:
        with self.database.transaction() as writer:
            for statement in SCHEMA:
                if self.database.dialect == "sqlite":
                    statement = statement.replace("sequence BIGINT PRIMARY KEY", "sequence INTEGER PRIMARY KEY")
                writer.execute(statement)

    def tracked(self) -> tuple[int, int]:
        rows = self.database.query("SELECT position, events FROM ft_log_tracking WHERE projection = 'log'")
        return (int(rows[0]["position"]), int(rows[0]["events"])) if rows else (0, 0)

    def write_leaves(self, leaves: list[tuple[int, int, str]], position: int, events: int) -> None:
        """Append leaves, (sequence, position, leaf hash in hex), and move the log's tracking position.

        All or nothing, and never backwards.
        """
        with self.database.transaction("log") as writer:
            if self.database.dialect == "postgresql":
                writer.execute("LOCK TABLE ft_log_tracking IN SHARE ROW EXCLUSIVE MODE")
            current = writer.query("SELECT position FROM ft_log_tracking WHERE projection = 'log'")
            logged = int(current[0]["position"]) if current else 0
            if logged >= position:
                return
            # Another catch-up may have logged the start of this page since it was read: only the rest is new.
            writer.insert_rows(
                "ft_ledger_log", _LEAF_COLUMNS, [leaf for leaf in leaves if leaf[1] > logged], skip_existing=False
            )
            writer.execute(
                "INSERT INTO ft_log_tracking (projection, position, events) VALUES ('log', :position, :events) "
                "ON CONFLICT (projection) DO UPDATE SET position = excluded.position, events = excluded.events",
                {"position": position, "events": events},
            )

    def leaves(self) -> list[dict[str, Any]]:
        """Every logged leaf in sequence order: sequence, the event's store position, leaf hash (hex)."""
        return self.database.query("SELECT sequence, position, leaf_hash FROM ft_ledger_log ORDER BY sequence")

    def leaf_hashes(self) -> list[str]:
        """The logged leaf hashes (hex) in sequence order."""
        return [row[0] for row in self.database.tuples("SELECT leaf_hash FROM ft_ledger_log ORDER BY sequence")]

    def leaf_count(self) -> int:
        return int(self.database.query("SELECT COUNT(*) AS leaves FROM ft_ledger_log")[0]["leaves"])

    def add_checkpoint(self, tree_size: int, note: str) -> None:
        with self.database.transaction("log") as writer:
            writer.execute(
                "INSERT INTO ft_checkpoints (tree_size, note, signed_at) VALUES (:tree_size, :note, :signed_at) "
                "ON CONFLICT (tree_size) DO NOTHING",
                {"tree_size": tree_size, "note": note, "signed_at": time.time_ns() // 1000},
            )

    def checkpoints(self) -> list[dict[str, Any]]:
        return self.database.query("SELECT tree_size, note FROM ft_checkpoints ORDER BY tree_size")
