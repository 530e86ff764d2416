"""The report tables' statistics are refreshed as they grow, not after every catch-up of a following process."""

from __future__ import annotations

from pathlib import Path

import pytest

import infra.store
from infra.store import Stores
from tests.ledger_fixtures import LedgerUnderTest, on_store


def test_statistics_are_refreshed_each_time_the_tables_have_doubled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(infra.store, "analyze_after_events_min", 10)

    def check(stores: Stores) -> None:
        refreshed: list[int] = []
        monkeypatch.setattr(stores.read_model, "analyze", lambda: refreshed.append(stores.read_model.tracked()[1]))
        books = LedgerUnderTest(application=stores.application)
        books.setup_project("P")  # 7 events: fewer than the minimum
        assert stores.catch_up_reports() == 7
        assert refreshed == []
        donated = 0

        def donate(count: int) -> None:
            nonlocal donated
            for number in range(donated, donated + count):
                assert books.donate(f"DN{number}", "1.00").status == "applied"
            donated += count

        donate(3)  # 10 unrefreshed in all: the minimum
        assert stores.catch_up_reports() == 3
        assert refreshed == [10]
        # Then once as many events as the tables held at the last refresh have come, however
        # many catch-ups bring them.
        for _ in range(3):
            donate(3)
            stores.catch_up_reports()
        assert refreshed == [10]
        donate(1)
        stores.catch_up_reports()
        assert refreshed == [10, 20]
        donate(19)
        stores.catch_up_reports()
        assert refreshed == [10, 20]
        donate(1)
        stores.catch_up_reports()
        assert refreshed == [10, 20, 40]
        # A catch-up that applies nothing refreshes nothing.
        assert stores.catch_up_reports() == 0
        assert refreshed == [10, 20, 40]

    on_store(f"sqlite:///{tmp_path / 'ledger.db'}", check)
