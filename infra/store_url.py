"""Store URLs, and the read model opened as it is: what a helper process needs, without the ledger.

infra.store opens the whole ledger (the library's application, the log, the snapshots) and
imports all of it, 0.5 s at start-up here; a process that only reads the report tables (the
checksum's helper) imports this module and the read model alone.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from infra.database import PostgresDatabase, SQLiteDatabase
from infra.limits import postgres_connect_timeout_seconds_max
from infra.read_model import ReadModel

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


def store_url(explicit: str | None) -> str:
    return explicit or os.environ.get("FUNDTRAIL_STORE") or DEFAULT_STORE


def sqlite_path(url: str) -> str:
    path = url.removeprefix("sqlite:///")
    if not path or path == ":memory:":
        raise StoreUnavailable(f"store URL {url!r} names no file")
    if not Path(path).parent.is_dir():
        raise StoreUnavailable(f"store {url!r}: folder {str(Path(path).parent)!r} does not exist")
    return path


def postgres_database(url: str) -> tuple[PostgresDatabase, str]:
    """A connection to the database and schema (?schema=NAME, default public) that `url` names."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    schema = query.pop("schema", "public")
    if not schema.replace("_", "").isalnum():
        raise StoreUnavailable(f"store {redact(url)!r}: schema {schema!r} must be letters, digits and underscores")
    conninfo = urlunsplit(parts._replace(scheme="postgresql", query=urlencode(query)))
    try:
        database = PostgresDatabase(conninfo, schema, connect_timeout=postgres_connect_timeout_seconds_max)
    except Exception as error:  # noqa: BLE001 - psycopg raises several types; all mean "cannot reach it"
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise StoreUnavailable(f"cannot reach PostgreSQL at {redact(url)}: {first_line}") from None
    return database, schema


def open_read_only(url: str) -> ReadModel:
    """The read-model tables at `url` as they are: nothing is created, so a wrong URL finds no books."""
    if url.startswith("sqlite:///"):
        path = sqlite_path(url)
        if not Path(path).exists():
            raise StoreUnavailable(f"no SQLite store at {redact(url)!r}")
        return ReadModel(SQLiteDatabase(path, read_only=True))
    database, _ = postgres_database(url)
    return ReadModel(database)
