"""Two catch-ups of the transparency log that read overlapping pages: each leaf is logged once, in order."""

from __future__ import annotations

from pathlib import Path

from infra.ledger_log_store import LedgerLogStore
from infra.store import Stores
from projections.facts import Fact
from projections.ledger_log import log_facts
from services.read_side import catch_up
from tests.ledger_fixtures import LedgerUnderTest, on_store


class _StaleReader:
    """The log as a second catch-up sees it when it read the tracking position before the first one wrote."""

    def __init__(self, log: LedgerLogStore) -> None:
        self.log = log

    def tracked(self) -> tuple[int, int]:
        return 0, 0

    def write(self, facts: list[Fact], position: int, events: int) -> None:
        self.log.write(facts, position, events)

    def reset(self) -> None:
        self.log.reset()


def check_overlapping_log_catch_ups(stores: Stores) -> None:
    """Shared by the SQLite test here and the PostgreSQL one in tests/integration."""
    books = LedgerUnderTest(application=stores.application)
    books.setup_project("P")
    for number in range(12):
        assert books.donate(f"DN{number}", "1.00").status == "applied"
    events = books.event_count()
    # The first catch-up logs a few pages; the second read position 0 before that and logs from the start.
    catch_up(
        stores.application,
        stores.log,
        until=events // 2,
        page_max=4,
        facts_of=log_facts,
        select=stores.select_notifications,
    )
    logged_before = len(stores.log.leaves())
    assert 0 < logged_before < events
    catch_up(
        stores.application, _StaleReader(stores.log), page_max=7, facts_of=log_facts, select=stores.select_notifications
    )

    leaves = stores.log.leaves()
    assert [leaf["sequence"] for leaf in leaves] == list(range(1, events + 1))
    positions = [notification.id for notification in stores.select_notifications(1, events + 1)]
    assert [leaf["position"] for leaf in leaves] == positions
    assert stores.log.tracked() == (positions[-1], events)


def test_overlapping_log_catch_ups_on_sqlite(tmp_path: Path) -> None:
    on_store(f"sqlite:///{tmp_path / 'ledger.db'}", check_overlapping_log_catch_ups)
