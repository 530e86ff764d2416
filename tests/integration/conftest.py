"""A real PostgreSQL for the integration tests: a fresh schema per test, dropped afterwards.

FUNDTRAIL_TEST_POSTGRES names the server (default: the local one). When it cannot be
reached the tests are skipped on a developer's machine and fail under CI=true: CI never
counts a test it did not run.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"


def postgres_base() -> str:
    return os.environ.get("FUNDTRAIL_TEST_POSTGRES", DEFAULT_POSTGRES)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[psycopg.Connection]:
    base = postgres_base()
    try:
        connection = psycopg.connect(base, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as error:
        message = f"PostgreSQL is unreachable at {base}: {str(error).strip().splitlines()[0]}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    yield connection
    connection.close()


@pytest.fixture
def postgres_url(postgres_server: psycopg.Connection) -> Iterator[str]:
    """A store URL on a schema of its own; the schema is created by the store on first use."""
    schema = f"ft_test_{uuid.uuid4().hex[:12]}"
    separator = "&" if "?" in postgres_base() else "?"
    yield f"{postgres_base()}{separator}schema={schema}"
    postgres_server.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


# The Kafka-protocol broker fixture lives beside its Broker class; pytest finds it through this import.
from tests.integration.kafka_broker import kafka_broker  # noqa: E402, F401
