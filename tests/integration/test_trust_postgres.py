"""The trust contract on PostgreSQL."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from tests.integration.conftest import postgres_base
from tests.trust_contract import Tamperer, TrustContract


class PostgresTamperer(Tamperer):
    id_column = "notification_id"

    def __init__(self, schema: str) -> None:
        self.schema = schema

    @property
    def table(self) -> str:
        return f'"{self.schema}".fundtrail_events'

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with psycopg.connect(postgres_base(), autocommit=True) as connection, connection.cursor() as cursor:
            cursor.execute(sql.replace("ft_ledger_log", f'"{self.schema}".ft_ledger_log'), params)
            return list(cursor.fetchall()) if cursor.description else []


class TestTrustOnPostgres(TrustContract):
    @pytest.fixture(autouse=True)
    def postgres(self, postgres_url: str) -> None:
        self.url = postgres_url

    def store(self) -> str:
        return self.url

    def tamperer(self) -> Tamperer:
        return PostgresTamperer(self.url.rsplit("schema=", 1)[1])

    def rewrite_log_entry(self, sequence: int) -> None:
        self.tamperer().execute(
            "UPDATE ft_ledger_log SET leaf_hash = %s WHERE sequence = %s",
            (self.logged_hash_of_current_state(sequence), sequence),
        )
