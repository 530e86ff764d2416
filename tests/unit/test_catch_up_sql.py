"""A catch-up in SQL, page by page, writes the very rows and running totals the Python catch-up writes.

The checks take an open store; tests/integration/test_postgres.py runs them on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from infra.catch_up_sql import PageInSQL
from infra.store import Stores
from services.ledger import LedgerApplication
from tests.ledger_fixtures import on_store
from tests.unit.test_rebuild_sql import (
    record_a_gap_in_positions,
    record_an_id_twice,
    record_an_update_twice,
    record_every_kind_of_event,
    tables,
)

Tables = dict[str, list[dict[str, Any]]]


def _in_sql(stores: Stores, page_max: int) -> int:
    """Every event applied in SQL pages of `page_max`; how many pages that took."""
    pages = PageInSQL(stores.application, stores.read_model)
    count = 0
    while applied := pages.apply(page_max):
        assert 0 < applied <= page_max
        count += 1
    return count


def _expected_then_reset(stores: Stores, record: Callable[[Stores], object] = record_every_kind_of_event) -> Tables:
    """Record the events, catch the report tables up the Python way, and empty them again: the tables it gave."""
    record(stores)
    stores.catch_up_reports()
    expected = tables(stores.read_model)
    stores.read_model.reset()
    return expected


def check_pages_give_the_python_rows(stores: Stores, page_max: int) -> None:
    expected = _expected_then_reset(stores)
    assert {row["kind"] for row in expected["ft_movements"]} == {"payout", "payee_refund", "donor_refund"}
    assert [row["project_id"] for row in expected["ft_projects"] if row["closed_at"] is not None] == ["P"]
    totals = expected["ft_project_totals"]
    assert any(row["donor_count"] > 1 for row in totals)
    assert any(row["payout"] and row["payee_refund"] and row["donor_refund"] for row in totals)
    assert tables(stores.read_model)["ft_project_totals"] == []
    pages = _in_sql(stores, page_max)
    events = expected["ft_tracking"][0]["events"]
    assert pages == -(-events // page_max)
    assert tables(stores.read_model) == expected


def check_a_python_start_ends_the_same_in_sql(stores: Stores) -> None:
    expected = _expected_then_reset(stores)
    stores.catch_up_reports(until=expected["ft_tracking"][0]["events"] // 2, page_max=13)
    _in_sql(stores, 11)
    assert tables(stores.read_model) == expected


def check_events_recorded_around_the_rules(stores: Stores, record: Callable[[Stores], object]) -> None:
    expected = _expected_then_reset(stores, record)
    _in_sql(stores, 9)
    assert tables(stores.read_model) == expected


def check_a_page_it_cannot_read_changes_nothing(stores: Stores) -> None:
    record_every_kind_of_event(stores)
    stores.catch_up_reports(until=10)
    before = tables(stores.read_model)
    compressed = LedgerApplication(env={"COMPRESSOR_TOPIC": "eventsourcing.compressor:ZlibCompressor"})
    assert PageInSQL(compressed, stores.read_model).apply(100) is None
    assert tables(stores.read_model) == before


RECORDED_AROUND_THE_RULES = [record_a_gap_in_positions, record_an_id_twice, record_an_update_twice]


def _on_sqlite(tmp_path: Path, check: Callable[[Stores], None]) -> None:
    on_store(f"sqlite:///{tmp_path / 'ledger.db'}", check)


@pytest.mark.parametrize("page_max", [1, 7, 100, 1_000_000])
def test_pages_in_sql_write_the_rows_and_totals_of_the_python_catch_up(tmp_path: Path, page_max: int) -> None:
    _on_sqlite(tmp_path, partial(check_pages_give_the_python_rows, page_max=page_max))


def test_a_catch_up_begun_the_python_way_ends_the_same_in_sql(tmp_path: Path) -> None:
    _on_sqlite(tmp_path, check_a_python_start_ends_the_same_in_sql)


@pytest.mark.parametrize("record", RECORDED_AROUND_THE_RULES)
def test_events_recorded_around_the_rules_give_the_rows_of_the_python_catch_up(
    tmp_path: Path, record: Callable[[Stores], object]
) -> None:
    """A gap in positions, a donation recorded twice (the totals count both, as the Python way's do), a project
    closed twice."""
    _on_sqlite(tmp_path, partial(check_events_recorded_around_the_rules, record=record))


def test_a_page_with_events_it_cannot_read_is_declined_and_changes_nothing(tmp_path: Path) -> None:
    _on_sqlite(tmp_path, check_a_page_it_cannot_read_changes_nothing)


def test_the_stores_catch_up_goes_the_python_way_where_sql_declines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def check(stores: Stores) -> None:
        expected = _expected_then_reset(stores)
        monkeypatch.setattr(PageInSQL, "apply", lambda self, page_max: None)
        assert [stores.catch_up_reports_in_sql(page_max=50) for _ in range(3)] == [50, 50, 50]
        while stores.catch_up_reports_in_sql(page_max=50):
            pass
        assert tables(stores.read_model) == expected

    _on_sqlite(tmp_path, check)


def test_a_page_that_fails_changes_nothing_and_the_next_one_starts_clean(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The page's temporary rows roll back with it: the next page does not count them again."""

    def check(stores: Stores) -> None:
        expected = _expected_then_reset(stores)
        emptied = tables(stores.read_model)
        pages = PageInSQL(stores.application, stores.read_model)
        add_to_totals = PageInSQL._add_to_totals

        def failing(writer: object) -> None:
            add_to_totals(writer)  # type: ignore[arg-type]
            raise OSError("the disk went away")

        with monkeypatch.context() as patched:
            patched.setattr(PageInSQL, "_add_to_totals", staticmethod(failing))
            with pytest.raises(OSError, match="disk"):
                pages.apply(1_000_000)
        assert tables(stores.read_model) == emptied
        assert pages.apply(1_000_000) == expected["ft_tracking"][0]["events"]
        assert tables(stores.read_model) == expected

    _on_sqlite(tmp_path, check)
