"""API tokens: printed once when created, stored only as their SHA-256, each bound to a role and a party."""

from __future__ import annotations

import hashlib
import secrets
import time

from infra.database import Database
from services.access import ROLE_SUBJECT, ROLES, Principal

SCHEMA = """CREATE TABLE IF NOT EXISTS ft_tokens (
    token_hash TEXT PRIMARY KEY, role TEXT NOT NULL, subject TEXT, name TEXT NOT NULL, created_at BIGINT NOT NULL)"""

# 32 random bytes: far beyond guessing, so a fast hash (not a password hash) is the right store.
TOKEN_BYTES = 32


class TokenError(ValueError):
    """A token request that does not fit its role."""


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenStore:
    def __init__(self, database: Database) -> None:
        self.database = database
        with database.transaction() as writer:
            writer.execute(SCHEMA)

    def create(self, role: str, subject: str | None, name: str) -> str:
        """A new token for `role` speaking for `subject`; the token itself is returned once and never stored."""
        if role not in ROLES:
            raise TokenError(f"role {role!r} is not one of {', '.join(ROLES)}")
        needed = ROLE_SUBJECT[role]
        if (needed is None) != (subject is None):
            raise TokenError(f"a {role} token needs --{needed}" if needed else f"a {role} token speaks for no party")
        token = "ft_" + secrets.token_urlsafe(TOKEN_BYTES)
        with self.database.transaction() as writer:
            writer.execute(
                "INSERT INTO ft_tokens (token_hash, role, subject, name, created_at) "
                "VALUES (:token_hash, :role, :subject, :name, :created_at)",
                {
                    "token_hash": _digest(token),
                    "role": role,
                    "subject": subject,
                    "name": name,
                    "created_at": time.time_ns() // 1000,
                },
            )
        return token

    def principal(self, token: str) -> Principal | None:
        rows = self.database.query(
            "SELECT role, subject, name FROM ft_tokens WHERE token_hash = :token_hash", {"token_hash": _digest(token)}
        )
        return Principal(rows[0]["role"], rows[0]["subject"], rows[0]["name"]) if rows else None
