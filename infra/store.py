"""The one place where the pieces are wired: a store URL becomes an event store and a read model."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from infra.database import Database, SQLiteDatabase
from infra.limits import sqlite_lock_timeout_seconds_max
from infra.read_model import ReadModel
from services.ledger import Ledger, LedgerApplication
from services.read_side import catch_up

DEFAULT_STORE = "sqlite:///fundtrail.db"


class StoreUnavailable(Exception):
    """The store URL is malformed or the store cannot be opened; the message names it safely."""


def redact(url: str) -> str:
    """The URL with any password replaced, fit for an error message or a log line."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))


@dataclass
class Stores:
    """An open ledger: the event-sourced application, the service over it and its read model."""

    url: str
    application: LedgerApplication
    ledger: Ledger
    read_model: ReadModel
    database: Database

    def catch_up(self, until: int | None = None) -> int:
        return catch_up(self.application, self.read_model, until)

    def close(self) -> None:
        self.database.close()
        self.application.close()


def store_url(explicit: str | None) -> str:
    return explicit or os.environ.get("FUNDTRAIL_STORE") or DEFAULT_STORE


def open_stores(url: str) -> Stores:
    """Open (creating on first use) the event store and read model that `url` names."""
    if url.startswith("sqlite:///"):
        return _open_sqlite(url)
    raise StoreUnavailable(f"store URL {redact(url)!r} is not sqlite:///PATH")


def _open_sqlite(url: str) -> Stores:
    path = url.removeprefix("sqlite:///")
    if not path or path == ":memory:":
        raise StoreUnavailable(f"store URL {url!r} names no file")
    if not Path(path).parent.is_dir():
        raise StoreUnavailable(f"store {url!r}: folder {str(Path(path).parent)!r} does not exist")
    application = LedgerApplication(
        env={
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": path,
            "SQLITE_LOCK_TIMEOUT": str(sqlite_lock_timeout_seconds_max),
        }
    )
    database = SQLiteDatabase(path)
    read_model = ReadModel(database)
    read_model.create_tables()
    return Stores(url, application, Ledger(application), read_model, database)
