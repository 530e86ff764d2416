"""A real PostgreSQL for the integration tests: a fresh schema per test, dropped afterwards.

FUNDTRAIL_TEST_POSTGRES names the server (default: the local one). When it cannot be
reached the tests are skipped on a developer's machine and fail under CI=true: CI never
counts a test it did not run.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator

import psycopg
import pytest

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"


def postgres_base() -> str:
    return os.environ.get("FUNDTRAIL_TEST_POSTGRES", DEFAULT_POSTGRES)


def drop_schema(schema: str) -> None:
    """On a connection of its own: a test may have restarted the server since the session began."""
    with psycopg.connect(postgres_base(), autocommit=True, connect_timeout=5) as connection:
        connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The server's base URL, once it answered; fails under CI=true when it does not."""
    base = postgres_base()
    try:
        psycopg.connect(base, autocommit=True, connect_timeout=5).close()
    except psycopg.OperationalError as error:
        message = f"PostgreSQL is unreachable at {base}: {str(error).strip().splitlines()[0]}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return base


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A store URL on a schema of its own; the schema is created by the store on first use."""
    schema = f"ft_test_{uuid.uuid4().hex[:12]}"
    separator = "&" if "?" in postgres_server else "?"
    yield f"{postgres_server}{separator}schema={schema}"
    drop_schema(schema)


@pytest.fixture
def postgres_urls(postgres_url: str) -> Iterator[Callable[[str], str]]:
    """Names more stores beside postgres_url's: each name a schema of its own, dropped at the end."""
    base, schema = postgres_url.rsplit("=", 1)
    named: list[str] = []

    def url_of(name: str) -> str:
        named.append(f"{schema}_{name}")
        return f"{base}={named[-1]}"

    yield url_of
    for each in named:
        drop_schema(each)


# The Kafka-protocol broker fixture lives beside its Broker class; pytest finds it through this import.
from tests.integration.kafka_broker import kafka_broker  # noqa: E402, F401
