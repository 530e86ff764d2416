"""The batch existence query: which aggregate ids have events, however many events each has."""

from __future__ import annotations

from pathlib import Path
from uuid import uuid4

from domain.identity import aggregate_id
from infra.store import Stores, existing_ids, open_stores
from tests.ledger_fixtures import at


def check_existing_ids(stores: Stores) -> None:
    """Shared by the SQLite test here and the PostgreSQL one in tests/integration."""
    commands = [
        {"type": "register_foundation", "foundation_id": "F", "name": "基金会", "public_fundraising": True},
        {"type": "register_partner", "partner_id": "S", "name": "社工"},
        {"type": "register_donor", "donor_id": "D", "anonymous": True},
        {
            "type": "open_project",
            "project_id": "P",
            "foundation_id": "F",
            "partner_id": "S",
            "name": "项目",
            "currency": "CNY",
            "opened_at": at(1),
        },
    ]
    donations = [
        {
            "type": "record_donation",
            "donation_id": f"DN{number}",
            "donor_id": "D",
            "project_id": "P",
            "amount": "1.00",
            "currency": "CNY",
            "channel": "bank",
            "received_at": at(2),
        }
        for number in range(30)
    ]
    outcomes = stores.ledger.execute_batch(commands + donations)
    assert {outcome.status for outcome in outcomes} == {"applied"}
    project, donor, claim = aggregate_id("project", "P"), aggregate_id("donor", "D"), aggregate_id("donation", "DN7")
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
