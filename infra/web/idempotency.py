"""Idempotency-Key: a repeated request gets the first answer again, whatever happened since."""

from __future__ import annotations

import json
from typing import Any

from infra.database import Database

SCHEMA = """CREATE TABLE IF NOT EXISTS ft_idempotency (
    idempotency_key TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, status INTEGER NOT NULL, body TEXT NOT NULL)"""


class IdempotencyStore:
    def __init__(self, database: Database) -> None:
        self.database = database
        with database.transaction() as writer:
            writer.execute(SCHEMA)

    def replay(self, key: str, fingerprint: str) -> tuple[int, Any] | None:
        """The stored answer for `key`; a key reused for another request is refused as id_conflict."""
        rows = self.database.query(
            "SELECT fingerprint, status, body FROM ft_idempotency WHERE idempotency_key = :key", {"key": key}
        )
        if not rows:
            return None
        if rows[0]["fingerprint"] != fingerprint:
            return 409, {"code": "id_conflict", "message": "this Idempotency-Key was used for another request"}
        return int(rows[0]["status"]), json.loads(rows[0]["body"])

    def remember(self, key: str, fingerprint: str, status: int, body: Any) -> None:
        with self.database.transaction() as writer:
            writer.execute(
                "INSERT INTO ft_idempotency (idempotency_key, fingerprint, status, body) "
                "VALUES (:key, :fingerprint, :status, :body) ON CONFLICT DO NOTHING",
                {"key": key, "fingerprint": fingerprint, "status": status, "body": json.dumps(body)},
            )
