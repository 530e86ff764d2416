"""Two catch-ups that read overlapping pages: each leaf is logged once, in order; each event is counted once."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from infra.bench.generator import commands
from infra.database import SQLiteDatabase
from infra.ledger_log_store import LedgerLogStore
from infra.read_model import ReadModel
from infra.store import Stores
from projections.facts import Fact
from services.read_side import FactSink, catch_up, rebuild
from tests.ledger_fixtures import LedgerUnderTest, on_store


class _StaleReader:
    """A sink as a second catch-up sees it when it read the tracking position before the first one wrote."""

    def __init__(self, sink: FactSink) -> None:
        self.sink = sink

    def tracked(self) -> tuple[int, int]:
        return 0, 0

    def write(self, facts: list[Fact], position: int, events: int) -> None:
        self.sink.write(facts, position, events)

    def reset(self) -> None:
        self.sink.reset()


class _StaleLog(LedgerLogStore):
    """The log as Stores.catch_up_log sees it when it read the tracking position before another catch-up wrote."""

    def tracked(self) -> tuple[int, int]:
        return 0, 0


def check_overlapping_log_catch_ups(stores: Stores) -> None:
    """Shared by the SQLite test here and the PostgreSQL one in tests/integration.

    The first catch-up logs what is recorded so far; the second read the log's position (0)
    before that and logs from the start, in pages that straddle what the first logged.
    """
    books = LedgerUnderTest(application=stores.application)
    books.setup_project("P")
    for number in range(6):
        assert books.donate(f"DN{number}", "1.00").status == "applied"
    stores.catch_up_log(page_max=4)
    logged_before = stores.log.leaves()
    for number in range(6, 12):
        assert books.donate(f"DN{number}", "1.00").status == "applied"
    events = books.event_count()
    assert 0 < len(logged_before) < events
    assert len(logged_before) % 7 != 0  # a page of the stale catch-up is part logged, part new
    replace(stores, log=_StaleLog(stores.database)).catch_up_log(page_max=7)

    leaves = stores.log.leaves()
    assert [leaf["sequence"] for leaf in leaves] == list(range(1, events + 1))
    assert leaves[: len(logged_before)] == logged_before
    positions = [notification.id for notification in stores.select_notifications(1, events + 1)]
    assert [leaf["position"] for leaf in leaves] == positions
    assert stores.log.tracked() == (positions[-1], events)


def test_overlapping_log_catch_ups_on_sqlite(tmp_path: Path) -> None:
    on_store(f"sqlite:///{tmp_path / 'ledger.db'}", check_overlapping_log_catch_ups)


def check_overlapping_report_catch_ups(stores: Stores, gap: int = 0) -> None:
    """Shared by the SQLite test here and the PostgreSQL one in tests/integration.

    Pages of 4 and of 7 events overlap; before the fix the overlap's donations and
    movements were added to the running totals twice. With `gap` (PostgreSQL), that many
    ledger positions go unused after the first 100 events, as when a transaction that lost
    a conflict used them: each event's position is then past its count, and the events
    already applied must be told by position, not by count.
    """
    generated = list(commands(0.0008, seed=12))
    stores.ledger.execute_batch(generated[:100])
    if gap:
        stores.database.query(
            "SELECT setval(pg_get_serial_sequence('fundtrail_events', 'notification_id'), "
            "(SELECT MAX(notification_id) FROM fundtrail_events) + :gap)",
            {"gap": gap},
        )
    stores.ledger.execute_batch(generated[100:])
    select = stores.select_notifications
    positions = [notification.id for notification in select(1, 10_000)]
    assert positions[-1] == len(positions) + gap
    # 7 * 50 + 3 events: the stale catch-up's page of events 351-357 is three-sevenths applied.
    catch_up(stores.application, stores.read_model, until=7 * 50 + 3, page_max=4, select=select)
    assert stores.read_model.tracked()[1] == 353 < len(positions) - 7
    catch_up(stores.application, _StaleReader(stores.read_model), page_max=7, select=select)

    def tables(read_model: ReadModel) -> dict[str, list[dict[str, Any]]]:
        return {
            table: read_model.database.query(f"SELECT * FROM {table} ORDER BY {order}")
            for table, order in (
                ("ft_project_totals", "project_id"),
                ("ft_project_donors", "project_id, donor_id"),
                ("ft_donations", "donation_id"),
                ("ft_movements", "sequence, position"),
            )
        }

    replayed = ReadModel(SQLiteDatabase(":memory:"))
    replayed.create_tables()
    rebuild(stores.application, replayed)
    overlapped = tables(stores.read_model)
    assert any(row["payout"] > 0 for row in overlapped["ft_project_totals"])
    assert overlapped == tables(replayed)
    assert stores.read_model.tracked() == replayed.tracked()


def test_overlapping_report_catch_ups_on_sqlite(tmp_path: Path) -> None:
    on_store(f"sqlite:///{tmp_path / 'ledger.db'}", check_overlapping_report_catch_ups)
