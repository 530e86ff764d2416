"""A catch-up in SQL, page by page, writes the very rows and running totals the Python catch-up writes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from infra.catch_up_sql import PageInSQL
from infra.store import Stores, open_stores
from services.ledger import LedgerApplication
from tests.unit.test_rebuild_sql import (
    record_a_gap_in_positions,
    record_an_id_twice,
    record_an_update_twice,
    record_every_kind_of_event,
    tables,
)


def _in_sql(stores: Stores, page_max: int) -> int:
    """Every event applied in SQL pages of `page_max`; how many pages that took."""
    pages = PageInSQL(stores.application, stores.read_model)
    count = 0
    while applied := pages.apply(page_max):
        assert 0 < applied <= page_max
        count += 1
    return count


@pytest.fixture
def stores(tmp_path: Path) -> Any:
    opened = open_stores(f"sqlite:///{tmp_path / 'ledger.db'}")
    try:
        yield opened
    finally:
        opened.close()


@pytest.mark.parametrize("page_max", [1, 7, 100, 1_000_000])
def test_pages_in_sql_write_the_rows_and_totals_of_the_python_catch_up(stores: Stores, page_max: int) -> None:
    record_every_kind_of_event(stores)
    stores.catch_up_reports()
    expected = tables(stores.read_model)
    assert {row["kind"] for row in expected["ft_movements"]} == {"payout", "payee_refund", "donor_refund"}
    assert [row["project_id"] for row in expected["ft_projects"] if row["closed_at"] is not None] == ["P"]
    totals = expected["ft_project_totals"]
    assert any(row["donor_count"] > 1 for row in totals)
    assert any(row["payout"] and row["payee_refund"] and row["donor_refund"] for row in totals)

    stores.read_model.reset()
    assert tables(stores.read_model)["ft_project_totals"] == []
    pages = _in_sql(stores, page_max)
    events = expected["ft_tracking"][0]["events"]
    assert pages == -(-events // page_max)
    assert tables(stores.read_model) == expected


def test_a_catch_up_begun_the_python_way_ends_the_same_in_sql(stores: Stores) -> None:
    record_every_kind_of_event(stores)
    stores.catch_up_reports()
    expected = tables(stores.read_model)

    stores.read_model.reset()
    stores.catch_up_reports(until=expected["ft_tracking"][0]["events"] // 2, page_max=13)
    _in_sql(stores, 11)
    assert tables(stores.read_model) == expected


@pytest.mark.parametrize("record", [record_a_gap_in_positions, record_an_id_twice, record_an_update_twice])
def test_events_recorded_around_the_rules_give_the_rows_of_the_python_catch_up(
    stores: Stores, record: Callable[[Stores], object]
) -> None:
    """A gap in positions, a donation recorded twice (the totals count both, as the Python way's do), a project
    closed twice."""
    record(stores)
    stores.catch_up_reports()
    expected = tables(stores.read_model)
    stores.read_model.reset()
    _in_sql(stores, 9)
    assert tables(stores.read_model) == expected


def test_a_page_with_events_it_cannot_read_is_declined_and_changes_nothing(stores: Stores) -> None:
    record_every_kind_of_event(stores)
    stores.catch_up_reports(until=10)
    before = tables(stores.read_model)
    compressed = LedgerApplication(env={"COMPRESSOR_TOPIC": "eventsourcing.compressor:ZlibCompressor"})
    assert PageInSQL(compressed, stores.read_model).apply(100) is None
    assert tables(stores.read_model) == before


def test_the_stores_catch_up_goes_the_python_way_where_sql_declines(
    stores: Stores, monkeypatch: pytest.MonkeyPatch
) -> None:
    record_every_kind_of_event(stores)
    stores.catch_up_reports()
    expected = tables(stores.read_model)
    stores.read_model.reset()
    monkeypatch.setattr(PageInSQL, "apply", lambda self, page_max: None)
    applied = [stores.catch_up_reports_in_sql(page_max=50) for _ in range(3)]
    assert applied == [50, 50, 50]
    while stores.catch_up_reports_in_sql(page_max=50):
        pass
    assert tables(stores.read_model) == expected
