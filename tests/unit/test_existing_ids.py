"""The batch existence query: which aggregate ids have events, however many events each has."""

from __future__ import annotations

from pathlib import Path
from uuid import uuid4

from domain.identity import aggregate_id
from infra.store import Stores, existing_ids, open_stores
from tests.ledger_fixtures import LedgerUnderTest


def check_existing_ids(stores: Stores) -> None:
    """Shared by the SQLite test here and the PostgreSQL one in tests/integration."""
    books = LedgerUnderTest(application=stores.application)
    books.setup_project("P")
    assert {books.donate(f"DN{number}", "1.00").status for number in range(30)} == {"applied"}
    project, donor, claim = aggregate_id("project", "P"), aggregate_id("donor", "D1"), aggregate_id("donation", "DN7")
    missing = {uuid4(), aggregate_id("project", "nowhere")}
    # The project has 31 events, the donor and the claim one each: each is found once.
    assert existing_ids(stores.database)({project, donor, claim} | missing) == {project, donor, claim}
    assert existing_ids(stores.database)(missing) == set()


def test_existing_ids_on_sqlite(tmp_path: Path) -> None:
    stores = open_stores(f"sqlite:///{tmp_path / 'ledger.db'}")
    try:
        check_existing_ids(stores)
    finally:
        stores.close()
